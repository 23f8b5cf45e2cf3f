"""Atomic local file writes: a reader, or a crash, sees the old file or the new one, never half.

Every writer puts its content in a temporary file in the destination's folder,
flushes and fsyncs it, renames it over the destination (`os.replace`, atomic
on POSIX and Windows within one filesystem), then fsyncs the folder so the
rename itself survives a power cut. On any error the temporary file is
removed and the destination is untouched.

Temporary names are `.<name>.tmp-<pid>-<random>`: hidden, unique per writer
(threads included), and matched by the `.*.tmp-*` pattern that cleaners of
interrupted runs look for. They are created with mode 0o666 less the umask,
like `open(path, "w")`, so the result has the permissions a plain write gives.

Standard library only (no Beam, no torch), for use from every package. Beam
filesystems (gs://, s3://) have no rename-over; see `pipelines/outputs.py`.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

TMP_MARKER = ".tmp-"


def temporary_name(path: str | os.PathLike) -> Path:
    """A fresh hidden name next to `path` for staging its new content."""
    path = Path(path)
    return path.with_name(f".{path.name}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make a rename inside `directory` durable; a no-op where folders cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows; the rename is still atomic, only its durability is up to the OS
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write `path`'s new content to (for writers that take a
    path, such as pyarrow or tokenizers); it replaces `path` when the block succeeds."""
    target = Path(path)
    tmp = temporary_name(target)
    # Created here (exclusively, umask honoured) so the name is ours; the writer may reopen it.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync:
        fsync_directory(target.parent)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
                fsync: bool = True) -> Iterator[IO[Any]]:
    """Yield a file opened for writing (`"wb"` or `"w"`) whose content replaces `path` on success."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole file: mode must be 'w' or 'wb', not {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path, fsync=False) as tmp:
        with open(tmp, mode, encoding=encoding, newline="" if mode == "w" else None) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
    if fsync:
        fsync_directory(Path(path).parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = True) -> None:
    """Replace `path` with `data`."""
    with atomic_open(path, "wb", fsync=fsync) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8", fsync: bool = True) -> None:
    """Replace `path` with `text` (newlines written as given)."""
    atomic_write_bytes(path, text.encode(encoding), fsync=fsync)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2, sort_keys: bool = False,
                      default: Callable[[Any], Any] | None = None, allow_nan: bool = True,
                      fsync: bool = True) -> None:
    """Replace `path` with `obj` as JSON plus a final newline.

    The text is built before the file is touched, so an object that cannot be
    serialised raises without leaving anything behind.
    """
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, default=default, allow_nan=allow_nan) + "\n"
    atomic_write_text(path, text, fsync=fsync)


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike, fsync: bool = True) -> None:
    """Replace `dst` with a copy of `src`'s bytes."""
    with atomic_path(dst, fsync=fsync) as tmp:
        shutil.copyfile(src, tmp)
