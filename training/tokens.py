"""`winnow tokenize`: encode curated Parquet into token shards plus a manifest.

Each input file is encoded on its own (a process pool over files, the
tokenizer's own threads inside each worker) into fixed-size shards named after
it, so disjoint file sets can be encoded on different machines and their
directories combined with `merge_manifests`. The directory layout and
manifest keys are described in docs/tokens.md.

Crash safety: shards are written atomically by `write_shard`, and
manifest.json is written last, atomically, so a directory without a manifest
is an interrupted run and is never mistaken for a complete one.
"""
from __future__ import annotations

import itertools
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import xxhash

from winnow.core.version import __version__
from winnow.training.parquet_text import (
    DEFAULT_BATCH_ROWS,
    SPLIT_RULE,
    check_parquet_inputs,
    in_validation,
    is_blank,
    iter_text_batches,
    require_id,
)
from winnow.schemas.inputs import resolve_parquet_inputs
from winnow.core.atomic import atomic_copy, atomic_write_json
from winnow.training import shard_format
from winnow.training.shard_format import MANIFEST_FILE, MANIFEST_FORMAT, MANIFEST_VERSION, ManifestError
from winnow.training.shard_format import dtype_for_vocab, read_header, sha256_file, write_shard
from winnow.training.config import EOT_TOKEN
from winnow.core.errors import ConfigurationError, ErrorFamily, InputError

TOKENIZER_FILE = "tokenizer.json"
SPLITS = ("train", "val")
DEFAULT_SHARD_TOKENS = 2**24
DEFAULT_VAL_FRACTION = 0.01
_SHARD_GLOBS = ("train-*.bin", "val-*.bin", ".*.tmp-*", MANIFEST_FILE, TOKENIZER_FILE)
_UNSAFE_STEM_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
# Up to this many workers run as threads of this process rather than as
# processes: encoding releases the GIL and runs on the tokenizer's own thread
# pool, the GIL-bound rest of a file (Arrow to Python lists, ids to numpy) is
# under a tenth of its time, so a few threads keep every core busy, while each
# spawned process pays about a second of imports, which outweighed the
# parallelism on a 14 MB corpus with 2 workers (0.93x the bare tokenizer).
# With more workers the GIL-bound shares add up, so they get processes (the
# same threshold as the local DirectRunner's threads-or-processes choice).
THREAD_WORKERS_MAX = 4


class TokenDirError(ErrorFamily):
    """A token directory is missing, incomplete, inconsistent, or would be overwritten."""


class TokenDirConfigError(TokenDirError, ConfigurationError):
    """The output or the merge asked for is wrong (exists without --overwrite, overlapping inputs); exit 2."""


class TokenDirInputError(TokenDirError, InputError):
    """A tokenizer, manifest or shard on disk cannot be used; exit 3."""


# --- Small helpers --------------------------------------------------------------


def source_stems(paths: Sequence[str]) -> dict[str, str]:
    """A file-name-safe stem per input; inputs sharing a stem get a hash of their path appended."""
    stems = {p: _UNSAFE_STEM_CHARS.sub("_", Path(p).name.removesuffix(".parquet")) or "input" for p in paths}
    counts: dict[str, int] = {}
    for stem in stems.values():
        counts[stem] = counts.get(stem, 0) + 1
    return {p: (s if counts[s] == 1 else f"{s}-{xxhash.xxh3_64_hexdigest(p.encode())[:8]}") for p, s in stems.items()}


def shard_name(split: str, stem: str, index: int) -> str:
    return f"{split}-{stem}-{index:05d}.bin"


def prepare_output_dir(output_dir: Path, overwrite: bool) -> None:
    """Create `output_dir`; refuse a non-empty one unless `overwrite`, then clear only our files."""
    if output_dir.exists() and not output_dir.is_dir():
        raise TokenDirConfigError(f"{output_dir}: exists and is not a directory")
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if not overwrite:
            state = "a token directory" if (output_dir / MANIFEST_FILE).exists() else "not empty (an interrupted run?)"
            raise TokenDirConfigError(f"{output_dir}: output directory is {state}; pass --overwrite to replace it")
        # Delete only what a tokenize run writes: a mistyped path must not cost the user other files.
        for pattern in _SHARD_GLOBS:
            for stale in output_dir.glob(pattern):
                stale.unlink()
    output_dir.mkdir(parents=True, exist_ok=True)


# --- Per-file encoding (runs in worker processes) -------------------------------


@dataclass(frozen=True)
class _FileTask:
    path: str
    stem: str
    output_dir: str
    tokenizer_path: str
    eot_id: int
    dtype: str
    shard_tokens: int
    val_fraction: float
    batch_rows: int


class _ShardWriter:
    """Cuts one split's token stream into shards of exactly `shard_tokens` (the last may be shorter).

    A document may straddle two shards; a shard's document count and
    utf8_bytes are those of the documents whose end-of-text token it holds.
    """

    def __init__(self, task: _FileTask, split: str) -> None:
        self.task, self.split = task, split
        self.dtype = np.dtype(task.dtype)
        self.chunks: list[np.ndarray] = []
        self.ends: list[np.ndarray] = []  # stream offsets just past each pending document's EOT
        self.sizes: list[np.ndarray] = []  # UTF-8 bytes of each pending document
        self.buffered = 0
        self.base = 0  # stream offset of the first buffered token
        self.shards: list[dict] = []

    def add(self, tokens: np.ndarray, lengths: np.ndarray, sizes: np.ndarray) -> None:
        self.ends.append(self.base + self.buffered + np.cumsum(lengths, dtype=np.int64))
        self.sizes.append(sizes.astype(np.int64, copy=False))
        self.chunks.append(tokens)
        self.buffered += tokens.size
        while self.buffered >= self.task.shard_tokens:
            self._flush(self.task.shard_tokens)

    def finish(self) -> list[dict]:
        if self.buffered:
            self._flush(self.buffered)
        return self.shards

    def _flush(self, count: int) -> None:
        flat = self.chunks[0] if len(self.chunks) == 1 else np.concatenate(self.chunks)
        ends = np.concatenate(self.ends)
        sizes = np.concatenate(self.sizes)
        done = int(np.searchsorted(ends, self.base + count, side="right"))
        name = shard_name(self.split, self.task.stem, len(self.shards))
        path = Path(self.task.output_dir) / name
        write_shard(path, flat[:count], document_count=done)
        self.shards.append(
            {
                "file": name,
                "tokens": count,
                "documents": done,
                "utf8_bytes": int(sizes[:done].sum()),
                "sha256": sha256_file(path),
                "source": self.task.path,
            }
        )
        rest = flat[count:]
        self.chunks = [rest] if rest.size else []
        self.ends, self.sizes = [ends[done:]], [sizes[done:]]
        self.base += count
        self.buffered -= count


_TOKENIZERS: dict[str, object] = {}
_TOKENIZERS_LOCK = threading.Lock()  # thread workers share one tokenizer per path


def _load_tokenizer(path: str):
    from tokenizers import Tokenizer

    with _TOKENIZERS_LOCK:
        if path not in _TOKENIZERS:
            tokenizer = Tokenizer.from_file(path)
            # A web page that contains the literal text "<|endoftext|>" must not
            # become a document boundary: special tokens in text encode as text.
            tokenizer.encode_special_tokens = True
            _TOKENIZERS[path] = tokenizer
        return _TOKENIZERS[path]


def _encode(tokenizer, texts: list[str], eot_id: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Flat tokens with EOT after each text, and each text's token count including its EOT."""
    # encode_batch_fast skips offset tracking, which we never use.
    ids = [e.ids for e in tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
    for one in ids:
        one.append(eot_id)
    lengths = np.fromiter((len(one) for one in ids), dtype=np.int64, count=len(ids))
    tokens = np.fromiter(itertools.chain.from_iterable(ids), dtype=dtype, count=int(lengths.sum()))
    return tokens, lengths


def _tokenize_file(task: _FileTask) -> dict:
    tokenizer = _load_tokenizer(task.tokenizer_path)
    dtype = np.dtype(task.dtype)
    writers = {split: _ShardWriter(task, split) for split in SPLITS}
    rows = skipped = 0
    for batch in iter_text_batches([task.path], batch_rows=task.batch_rows):
        ids, texts = batch.pylist("id"), batch.pylist("text")
        sizes = pc.binary_length(batch.column("text")).fill_null(0).to_numpy(zero_copy_only=False)
        rows += len(texts)
        chosen: dict[str, list[int]] = {split: [] for split in SPLITS}
        for row, (doc_id, text) in enumerate(zip(ids, texts)):
            if is_blank(text):
                skipped += 1
                continue
            split = "val" if in_validation(require_id(doc_id, task.path), task.val_fraction) else "train"
            chosen[split].append(row)
        for split, picked in chosen.items():
            if picked:
                tokens, lengths = _encode(tokenizer, [texts[i] for i in picked], task.eot_id, dtype)
                writers[split].add(tokens, lengths, sizes[picked])
    return {
        "source": {"path": task.path, "rows": rows, "documents_skipped_empty": skipped},
        "shards": {split: writer.finish() for split, writer in writers.items()},
    }


def _init_worker(threads: int) -> None:
    # Must run before the worker's first encode: the tokenizer's thread pool
    # reads these once, and workers x threads should not exceed the cores.
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _run_in_threads(tasks: list[_FileTask], workers: int) -> list[dict]:
    with ThreadPoolExecutor(workers, thread_name_prefix="winnow-tokenize") as pool:
        return _results_in_order(pool, tasks)


def _results_in_order(pool: Executor, tasks: list[_FileTask]) -> list[dict]:
    """Every task's result, in task order; the first failure cancels the tasks not yet started."""
    futures = [pool.submit(_tokenize_file, t) for t in tasks]
    try:
        return [f.result() for f in futures]
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise


def _run_tasks(tasks: list[_FileTask], workers: int) -> list[dict]:
    if workers <= 1 or len(tasks) <= 1:
        # In-process: the tokenizer's own threads use every core.
        return [_tokenize_file(t) for t in tasks]
    if workers <= THREAD_WORKERS_MAX:
        return _run_in_threads(tasks, workers)
    import multiprocessing

    threads = max(1, available_cpus() // workers)
    # spawn, not fork: forking after pyarrow or tokenizers started threads can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(threads,)) as pool:
        return _results_in_order(pool, tasks)


# --- Manifest -------------------------------------------------------------------


def _split_totals(shards: list[dict]) -> dict:
    shards = sorted(shards, key=lambda s: s["file"])
    return {
        "tokens": sum(s["tokens"] for s in shards),
        "documents": sum(s["documents"] for s in shards),
        "utf8_bytes": sum(s["utf8_bytes"] for s in shards),
        "shards": shards,
    }


def build_manifest(tokenizer_info: dict, dtype: str, val_fraction: float, shards: dict[str, list[dict]], sources: list[dict]) -> dict:
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "tokenizer": tokenizer_info,
        "dtype": dtype,
        "split": {"rule": SPLIT_RULE, "val_fraction": val_fraction},
        "splits": {split: _split_totals(shards.get(split, [])) for split in SPLITS},
        "sources": sorted(sources, key=lambda s: s["path"]),
        "created_by": f"winnow {__version__}",
    }


def _tokenizer_info(tokenizer_path: Path, eot_token: str) -> dict:
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
    except Exception as exc:  # tokenizers raises a bare Exception for unreadable JSON
        # A --tokenizer path that names nothing is a wrong argument; a file that is not a tokenizer is bad input.
        kind = TokenDirInputError if tokenizer_path.exists() else TokenDirConfigError
        raise kind(f"{tokenizer_path}: not a loadable tokenizer.json: {exc}") from exc
    eot_id = tokenizer.token_to_id(eot_token)
    if eot_id is None:
        raise TokenDirInputError(f"{tokenizer_path}: has no {eot_token!r} token to separate documents")
    return {
        "file": TOKENIZER_FILE,
        "sha256": sha256_file(tokenizer_path),
        "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
        "eot_token": eot_token,
        "eot_id": eot_id,
    }


def load_manifest(token_dir: str | os.PathLike) -> dict:
    """`<token_dir>/manifest.json` as checked by `shard_format.read_manifest` (the one reader), as TokenDirError."""
    try:
        return shard_format.read_manifest(token_dir, require_splits=SPLITS)
    except ManifestError as exc:
        raise TokenDirInputError(str(exc)) from exc


def summarize(manifest: dict) -> dict:
    """Totals over both splits, for command summaries."""
    splits = manifest["splits"]
    tokens = sum(splits[s]["tokens"] for s in SPLITS)
    utf8 = sum(splits[s]["utf8_bytes"] for s in SPLITS)
    return {
        "tokens": tokens,
        "documents": sum(splits[s]["documents"] for s in SPLITS),
        "utf8_bytes": utf8,
        "documents_skipped_empty": sum(s["documents_skipped_empty"] for s in manifest["sources"]),
        "bytes_per_token": utf8 / tokens if tokens else None,
        "shards": sum(len(splits[s]["shards"]) for s in SPLITS),
    }


# --- Entry points ---------------------------------------------------------------


def tokenize_corpus(
    inputs: str | Sequence[str],
    tokenizer_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    workers: int | None = None,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    overwrite: bool = False,
    eot_token: str = EOT_TOKEN,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> dict:
    """Encode the Parquet `inputs` into `output_dir` and return the manifest written there.

    `workers` processes encode one input file each at a time (default: one
    per core, at most one per file). Raises ParquetInputError for bad inputs
    and TokenDirError for a bad tokenizer or an existing output directory.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    if shard_tokens < 1:
        raise ValueError(f"shard_tokens must be at least 1, got {shard_tokens}")
    paths = resolve_parquet_inputs(inputs)
    rows = check_parquet_inputs(paths)
    tokenizer_path = Path(tokenizer_path)
    info = _tokenizer_info(tokenizer_path, eot_token)
    dtype = dtype_for_vocab(info["vocab_size"])

    output = Path(output_dir)
    prepare_output_dir(output, overwrite)
    copied = output / TOKENIZER_FILE
    atomic_copy(tokenizer_path, copied)

    stems = source_stems(paths)
    tasks = [
        _FileTask(p, stems[p], str(output), str(copied), info["eot_id"], dtype.name, shard_tokens, val_fraction, batch_rows)
        # Largest first, so the pool is not left waiting on one big file at the end.
        for p in sorted(paths, key=lambda p: -rows[p])
    ]
    workers = min(len(tasks), available_cpus() if workers is None else max(1, workers))
    results = _run_tasks(tasks, workers)

    shards = {split: [s for r in results for s in r["shards"][split]] for split in SPLITS}
    manifest = build_manifest(info, dtype.name, val_fraction, shards, [r["source"] for r in results])
    atomic_write_json(output / MANIFEST_FILE, manifest)
    return manifest


def _same(manifests: list[tuple[Path, dict]], describe: str, get) -> None:
    (first_dir, first), *rest = manifests
    for other_dir, other in rest:
        if get(other) != get(first):
            raise TokenDirConfigError(f"{other_dir}: {describe} differs from {first_dir} ({get(other)!r} vs {get(first)!r})")


def merge_manifests(dirs: Sequence[str | os.PathLike], output_dir: str | os.PathLike, overwrite: bool = False) -> dict:
    """Combine token directories encoded from disjoint inputs into one.

    Shards are hard-linked into `output_dir` (copied across filesystems); the
    inputs must share tokenizer, dtype and split rule and must not both hold
    the same source file. A shard name used by two inputs is renamed with a
    hash of its source path.
    """
    if not dirs:
        raise TokenDirConfigError("merge needs at least one token directory")
    manifests = [(Path(d), load_manifest(d)) for d in dirs]
    _same(manifests, "tokenizer", lambda m: m["tokenizer"])
    _same(manifests, "dtype", lambda m: m["dtype"])
    _same(manifests, "split rule", lambda m: m["split"])

    seen_sources: dict[str, Path] = {}
    for token_dir, manifest in manifests:
        for source in manifest["sources"]:
            if source["path"] in seen_sources:
                raise TokenDirConfigError(
                    f"{token_dir}: source {source['path']} was already encoded in {seen_sources[source['path']]}; "
                    "merging would count it twice"
                )
            seen_sources[source["path"]] = token_dir

    output = Path(output_dir)
    if output.resolve() in {d.resolve() for d, _ in manifests}:
        raise TokenDirConfigError(f"{output}: merge output must be a new directory, not one of its inputs")
    prepare_output_dir(output, overwrite)
    first_dir, first = manifests[0]
    atomic_copy(first_dir / first["tokenizer"]["file"], output / TOKENIZER_FILE)

    used: set[str] = set()
    shards: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for token_dir, manifest in manifests:
        for split in SPLITS:
            for shard in manifest["splits"][split]["shards"]:
                src = token_dir / shard["file"]
                header = read_header(src)
                if header.token_count != shard["tokens"]:
                    raise TokenDirInputError(f"{src}: holds {header.token_count} tokens, its manifest says {shard['tokens']}")
                name = shard["file"]
                if name in used:
                    tag = xxhash.xxh3_64_hexdigest(str(shard.get("source", token_dir)).encode())[:8]
                    name = f"{name.removesuffix('.bin')}-{tag}.bin"
                    if name in used:
                        raise TokenDirInputError(f"{src}: shard name {shard['file']} collides with another input's")
                used.add(name)
                _link_or_copy(src, output / name)
                shards[split].append({**shard, "file": name})
    sources = [s for _, m in manifests for s in m["sources"]]
    manifest = build_manifest(first["tokenizer"], first["dtype"], first["split"]["val_fraction"], shards, sources)
    atomic_write_json(output / MANIFEST_FILE, manifest)
    return manifest


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not supported
        atomic_copy(src, dst)

