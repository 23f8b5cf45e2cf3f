"""The token shard file format: a 64-byte header followed by raw tokens.

Layout (little-endian):

    offset  size  field
    0       8     magic b"WINNOWTK"
    8       4     format version (uint32, currently 1)
    12      4     bytes per token (uint32: 2 for uint16, 4 for uint32)
    16      8     token count (uint64)
    24      8     document count (uint64)
    32      32    reserved, zero
    64      ...   token_count tokens of the stated width

Documents are separated by the end-of-text token, appended after each one.
The header lets a reader reject a truncated or foreign file before it trains
on garbage, and the flat token array memory-maps without copying.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from winnow.core.atomic import atomic_open
from winnow.core.errors import InputError

MAGIC = b"WINNOWTK"
FORMAT_VERSION = 1
HEADER_BYTES = 64
_HEADER = struct.Struct("<8sIIQQ32x")
assert _HEADER.size == HEADER_BYTES
_DTYPES: dict[int, np.dtype] = {2: np.dtype("<u2"), 4: np.dtype("<u4")}


class ShardFormatError(InputError):
    """A file is not a valid Winnow token shard; the message names the file."""


@dataclass(frozen=True)
class ShardHeader:
    version: int
    token_bytes: int
    token_count: int
    document_count: int

    @property
    def dtype(self) -> np.dtype:
        return _DTYPES[self.token_bytes]


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """uint16 while every id fits, uint32 beyond 65,536 ids."""
    return _DTYPES[2] if vocab_size <= 2**16 else _DTYPES[4]


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 2**22) -> str:
    """Hex SHA-256 of a file, read in chunks (shards and tokenizers are checked by it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def write_shard(path: str | os.PathLike, tokens: np.ndarray, document_count: int) -> ShardHeader:
    """Write `tokens` atomically: a crash leaves no file that looks complete."""
    tokens = np.ascontiguousarray(tokens)
    if tokens.dtype.itemsize not in _DTYPES or tokens.dtype.kind != "u":
        raise ValueError(f"tokens must be uint16 or uint32, got {tokens.dtype}")
    tokens = tokens.astype(_DTYPES[tokens.dtype.itemsize], copy=False)
    header = ShardHeader(FORMAT_VERSION, tokens.dtype.itemsize, int(tokens.size), int(document_count))
    with atomic_open(path, "wb") as f:
        f.write(_HEADER.pack(MAGIC, header.version, header.token_bytes, header.token_count, header.document_count))
        f.write(tokens.tobytes())
    return header


def read_header(path: str | os.PathLike) -> ShardHeader:
    """Parse and validate the header and the file size against it."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(HEADER_BYTES)
    except OSError as exc:
        raise ShardFormatError(f"{path}: cannot read token shard: {exc}") from exc
    if len(raw) < HEADER_BYTES:
        raise ShardFormatError(f"{path}: {size} bytes is shorter than the {HEADER_BYTES}-byte shard header")
    magic, version, token_bytes, token_count, document_count = _HEADER.unpack(raw)
    if magic != MAGIC:
        raise ShardFormatError(f"{path}: not a Winnow token shard (magic {magic!r}, expected {MAGIC!r})")
    if version != FORMAT_VERSION:
        raise ShardFormatError(f"{path}: shard format version {version} is not supported (expected {FORMAT_VERSION})")
    if token_bytes not in _DTYPES:
        raise ShardFormatError(f"{path}: unsupported token width {token_bytes} bytes")
    expected = HEADER_BYTES + token_count * token_bytes
    if size != expected:
        raise ShardFormatError(
            f"{path}: file is {size} bytes but its header promises {token_count} tokens ({expected} bytes): truncated or corrupt"
        )
    return ShardHeader(version, token_bytes, token_count, document_count)


def open_shard(path: str | os.PathLike) -> np.ndarray:
    """Memory-map a validated shard's tokens (read-only)."""
    header = read_header(path)
    if header.token_count == 0:
        return np.zeros(0, dtype=header.dtype)  # np.memmap refuses empty maps
    return np.memmap(path, dtype=header.dtype, mode="r", offset=HEADER_BYTES, shape=(header.token_count,))


# --- The token directory's manifest.json ---------------------------------------
# One reader for every consumer (training data, tokenize/merge, evaluate, the
# run report): one error type and one set of checked keys. docs/tokens.md
# describes the keys; `winnow.training.tokens.build_manifest` writes them.

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "winnow-token-shards"
MANIFEST_VERSION = 1
MANIFEST_SPLITS = ("train", "val")
MANIFEST_KEYS = ("tokenizer", "dtype", "split", "splits", "sources")
MANIFEST_TOKENIZER_KEYS = ("file", "sha256", "vocab_size")
MANIFEST_SPLIT_COUNTS = ("tokens", "documents", "utf8_bytes")


class ManifestError(InputError):
    """A token directory's manifest.json is missing, unreadable or malformed; the message names it."""


def _manifest_split(path: Path, name: str, entry: object) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("shards"), list):
        raise ManifestError(f"{path}: split {name!r} is missing or has no 'shards' list")
    for key in MANIFEST_SPLIT_COUNTS:
        value = entry.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ManifestError(f"{path}: splits.{name}.{key} must be a non-negative integer, found {value!r}")
    for i, shard in enumerate(entry["shards"]):
        if not isinstance(shard, dict) or not isinstance(shard.get("file"), str):
            raise ManifestError(f"{path}: splits.{name}.shards[{i}] must be an object with a 'file' name")


def read_manifest(directory: str | os.PathLike, require_splits: Sequence[str] = ()) -> dict:
    """Read and validate `<directory>/manifest.json`; ManifestError names the file on any problem.

    Checks the format and version, that every key in MANIFEST_KEYS is present,
    the tokenizer's file/sha256/vocab_size, and that every split present lists
    its shards by file name with integer counts. `winnow tokenize` writes both
    MANIFEST_SPLITS; a caller that needs some (merging needs both) names them in
    `require_splits`, while an evaluation directory may hold only "val".
    Returns the manifest as written.
    """
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise ManifestError(
            f"{path}: missing: no manifest.json, so {directory} is not a token directory "
            "(`winnow tokenize` writes it last; an interrupted run leaves none)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{path}: not a Winnow token manifest (format must be {MANIFEST_FORMAT!r})")
    if manifest.get("version") != MANIFEST_VERSION:
        raise ManifestError(f"{path}: manifest version {manifest.get('version')!r} is not supported (expected {MANIFEST_VERSION})")
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise ManifestError(f"{path}: manifest has no {', '.join(repr(k) for k in missing)} key(s)")
    tokenizer = manifest["tokenizer"]
    if not isinstance(tokenizer, dict) or not set(MANIFEST_TOKENIZER_KEYS) <= tokenizer.keys():
        raise ManifestError(f"{path}: 'tokenizer' must have keys {', '.join(MANIFEST_TOKENIZER_KEYS)}")
    for key, kind in (("split", dict), ("splits", dict), ("sources", list)):
        if not isinstance(manifest[key], kind):
            raise ManifestError(f"{path}: {key!r} must be {'an object' if kind is dict else 'a list'}")
    if not manifest["splits"]:
        raise ManifestError(f"{path}: 'splits' is empty")
    for name in dict.fromkeys([*require_splits, *manifest["splits"]]):
        _manifest_split(path, str(name), manifest["splits"].get(name))
    return manifest
