"""Where a command's Parquet input is: one resolver for every command that reads Parquet.

`winnow dedup`, `tokenize`, `tokenizer train`, `evaluate --text` and `inspect`
accept the same input forms, local or remote (gs://, s3://, hdfs:// ... through
`pyarrow.fs`, so neither Beam nor torch is needed to resolve them):

* a Winnow output directory: its `documents/*.parquet`;
* a directory of Parquet files: its `*.parquet`;
* a glob (`*`, `?`, `[...]` and `**` for any depth): the files it matches;
* a single file.

An input that resolves to nothing raises ParquetInputError naming the spec and
what was looked for; it is never a silent empty corpus.
"""
from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.fs as pafs

from winnow.schemas import DOCUMENTS
from winnow.core.errors import ConfigurationError, ErrorFamily, InputError

PARQUET_SUFFIX = ".parquet"
_GLOB_CHARS = frozenset("*?[")


class ParquetInputError(ErrorFamily):
    """An input path matches nothing, or a Parquet file is unreadable or has the wrong columns."""


class ParquetPathError(ParquetInputError, ConfigurationError):
    """An input path, glob or URI names no Parquet file, or cannot be listed; exit 2."""


class ParquetDataError(ParquetInputError, InputError):
    """A Parquet file is unreadable, corrupt or lacks the needed columns or values; exit 3."""


def is_remote(spec: str) -> bool:
    """True for URIs with a scheme other than file:// (gs://, s3://, hdfs:// ...)."""
    return "://" in spec and not spec.startswith("file://")


def has_glob(spec: str) -> bool:
    return any(c in spec for c in _GLOB_CHARS)


def _hidden(name: str) -> bool:
    # Writers keep temporary and marker files under names starting with "." or "_".
    return name.startswith((".", "_"))


# --------------------------------------------------------------------------- local


def _local_glob(spec: str) -> list[str]:
    matches = [p for p in glob.glob(spec, recursive=True) if os.path.isfile(p)]
    if not matches:
        raise ParquetPathError(f"{spec}: glob matches no files")
    return matches


def _local_dir(spec: str) -> list[str]:
    for pattern in (os.path.join(spec, DOCUMENTS, "*" + PARQUET_SUFFIX), os.path.join(spec, "*" + PARQUET_SUFFIX)):
        found = sorted(p for p in glob.glob(pattern) if os.path.isfile(p) and not _hidden(os.path.basename(p)))
        if found:
            return found
    raise ParquetPathError(
        f"{spec}: directory has no {DOCUMENTS}/*{PARQUET_SUFFIX} and no *{PARQUET_SUFFIX} files"
    )


def _expand_local(spec: str) -> list[str]:
    if spec.startswith("file://"):
        spec = spec[len("file://"):]
    if has_glob(spec):
        paths = _local_glob(spec)
    elif os.path.isdir(spec):
        paths = _local_dir(spec)
    elif os.path.isfile(spec):
        paths = [spec]
    else:
        raise ParquetPathError(f"{spec}: no such file or directory")
    return [os.path.abspath(p) for p in paths]


# --------------------------------------------------------------------------- remote


def _filesystem(spec: str) -> tuple[pafs.FileSystem, str, str]:
    """(filesystem, path inside it, "scheme://" prefix) for a remote URI."""
    try:
        fs, path = pafs.FileSystem.from_uri(spec)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise ParquetPathError(f"{spec}: cannot open this filesystem ({type(exc).__name__}: {exc})") from exc
    return fs, path, spec.split("://", 1)[0] + "://"


def _glob_parts_match(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """Path components against pattern components; `**` matches any number of components."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_glob_parts_match(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _glob_parts_match(pattern[1:], parts[1:])


def _remote_glob(spec: str, fs: pafs.FileSystem, path: str, prefix: str) -> list[str]:
    parts = path.split("/")
    fixed = next(i for i, part in enumerate(parts) if has_glob(part))
    base = "/".join(parts[:fixed])
    rest = parts[fixed:]
    try:
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    except (pa.ArrowException, OSError) as exc:
        raise ParquetPathError(f"{spec}: cannot list {prefix}{base} ({type(exc).__name__}: {exc})") from exc
    matches = [
        prefix + info.path for info in infos
        if info.type == pafs.FileType.File and _glob_parts_match(rest, info.path[len(base):].strip("/").split("/"))
    ]
    if not matches:
        raise ParquetPathError(f"{spec}: glob matches no files")
    return matches


def _remote_listing(fs: pafs.FileSystem, directory: str) -> list[str]:
    infos = fs.get_file_info(pafs.FileSelector(directory, recursive=False, allow_not_found=True))
    return sorted(
        info.path for info in infos
        if info.type == pafs.FileType.File and info.base_name.endswith(PARQUET_SUFFIX) and not _hidden(info.base_name)
    )


def _expand_remote(spec: str) -> list[str]:
    fs, path, prefix = _filesystem(spec)
    if has_glob(path):
        return _remote_glob(spec, fs, path, prefix)
    path = path.rstrip("/")
    try:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            return [prefix + path]
        if info.type == pafs.FileType.Directory:
            for directory in (f"{path}/{DOCUMENTS}", path):
                found = _remote_listing(fs, directory)
                if found:
                    return [prefix + p for p in found]
            raise ParquetPathError(
                f"{spec}: directory has no {DOCUMENTS}/*{PARQUET_SUFFIX} and no *{PARQUET_SUFFIX} files"
            )
    except (pa.ArrowException, OSError) as exc:
        raise ParquetPathError(f"{spec}: cannot read ({type(exc).__name__}: {exc})") from exc
    raise ParquetPathError(f"{spec}: no such file or directory")


# --------------------------------------------------------------------------- public


def resolve_parquet_inputs(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Sorted, de-duplicated Parquet paths for a directory, glob or file (or several).

    Local results are absolute paths; remote ones keep their `scheme://` prefix.
    Raises ParquetInputError naming the spec that matched nothing.
    """
    specs = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    if not specs:
        raise ParquetPathError("no input given: expected a directory, glob or Parquet file")
    paths: set[str] = set()
    for one in specs:
        text = os.fspath(one)
        if not text:
            raise ParquetPathError("empty input path: expected a directory, glob or Parquet file")
        paths.update(_expand_remote(text) if is_remote(text) else _expand_local(text))
    return sorted(paths)


def open_input_file(path: str) -> pa.NativeFile:
    """A readable random-access handle for a resolved path, local or remote."""
    if not is_remote(path):
        return pa.OSFile(path[len("file://"):] if path.startswith("file://") else path, "rb")
    fs, inner, _ = _filesystem(path)
    return fs.open_input_file(inner)
