"""Throughput of `winnow tokenize` against the bare tokenizer, on the same text and cores.

Builds curated-style Parquet from ../shared/data/text/*.txt (documents of about
2 KB, the corpus repeated --repeat times with distinct ids), trains a tokenizer
on it, then times in one process:

  limit:  Tokenizer.encode_batch over the texts already in memory
          (and encode_batch_fast, which skips offsets, for reference);
  full:   tokenize_corpus: read Parquet, split, encode, write shards, manifest.

Each is run --rounds times, interleaved, and its fastest round is reported, as
wall-clock MB/s and as MB per CPU-second (CPU time of this process's threads
and of the pool's worker processes), which is the steadier number when other
jobs share the cores.

Usage: .venv/bin/python benchmarks/tokenize_throughput.py [--repeat 4] [--files 4] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.curation.ids import document_id
from winnow.schemas import document_schema
from winnow.training.parquet_text import DEFAULT_BATCH_ROWS
from winnow.training.tokenizer import TokenizerConfig, train_tokenizer
from winnow.training.tokens import available_cpus, tokenize_corpus

REPO = Path(__file__).resolve().parents[1]
TEXT_DIR = REPO / ".." / "shared" / "data" / "text"
DOC_CHARS = 2000
TARGET_RATIO = 1.0  # issue #16: at least the bare encode_batch, with 2 workers
LIMIT = "limit: encode_batch (in memory)"


def split_documents(text: str, size: int = DOC_CHARS) -> list[str]:
    """Cut at the first newline after `size` characters so documents end on line breaks."""
    docs, start = [], 0
    while start < len(text):
        cut = text.find("\n", start + size)
        end = len(text) if cut < 0 else cut + 1
        docs.append(text[start:end])
        start = end
    return docs


def build_corpus(root: Path, repeat: int, files: int) -> list[str]:
    texts = []
    for source in sorted(TEXT_DIR.glob("*.txt")):
        texts.extend(split_documents(source.read_text(encoding="utf-8")))
    texts = texts * repeat
    ids = [document_id(f"bench-{i}") for i in range(len(texts))]
    schema = document_schema()
    per_file = -(-len(texts) // files)
    (root / "documents").mkdir(parents=True)
    for f in range(files):
        part = slice(f * per_file, (f + 1) * per_file)
        columns = {field.name: [None] * len(texts[part]) for field in schema}
        columns["id"], columns["text"] = ids[part], texts[part]
        table = pa.Table.from_pydict(columns, schema=schema)
        pq.write_table(table, root / "documents" / f"part-{f:05d}.parquet", compression="zstd")
    return texts


def cpu_seconds() -> float:
    # This process's threads plus waited-for children (the pool's workers).
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float
    tokens: int


def time_encode(tokenizer, texts: list[str], method: str) -> Timing:
    encode = getattr(tokenizer, method)
    wall, cpu = time.perf_counter(), cpu_seconds()
    tokens = 0
    for i in range(0, len(texts), DEFAULT_BATCH_ROWS):
        tokens += sum(len(e) for e in encode(texts[i : i + DEFAULT_BATCH_ROWS], add_special_tokens=False))
    # + one EOT per document, as in the shards
    return Timing(time.perf_counter() - wall, cpu_seconds() - cpu, tokens + len(texts))


def report(name: str, nbytes: int, timing: Timing) -> tuple[float, float]:
    wall_rate, cpu_rate = nbytes / timing.wall, nbytes / timing.cpu
    print(
        f"{name:<34} {timing.wall:7.2f} s  {wall_rate / 1e6:6.2f} MB/s  {timing.tokens / timing.wall / 1e6:6.3f} M tokens/s"
        f"  | {timing.cpu:6.2f} CPU-s  {cpu_rate / 1e6:5.2f} MB/CPU-s"
    )
    return wall_rate, cpu_rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=4, help="copies of the text corpus (default 4, ~14 MB)")
    parser.add_argument("--files", type=int, default=4, help="Parquet files to spread documents over (default 4)")
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=3, help="measurement rounds; the best of each is reported (default 3)")
    args = parser.parse_args()
    if not TEXT_DIR.is_dir():
        print(f"skipped: shared test data not found at {TEXT_DIR.resolve()}", file=sys.stderr)
        return 0

    from tokenizers import Tokenizer

    with tempfile.TemporaryDirectory(prefix="winnow-tokbench-") as tmp:
        root = Path(tmp)
        texts = build_corpus(root / "corpus", args.repeat, args.files)
        nbytes = sum(len(t.encode("utf-8")) for t in texts)
        tok_path = root / "tokenizer.json"
        config = TokenizerConfig(vocab_size=args.vocab_size, sample_bytes=8 * 2**20)
        trained = train_tokenizer(str(root / "corpus"), config, tok_path)
        print(
            f"corpus: {len(texts):,} documents, {nbytes / 1e6:.1f} MB in {args.files} Parquet files; "
            f"cores: {available_cpus()}; tokenizer: vocab {trained.vocab_size} trained in {trained.seconds:.1f} s, "
            f"{trained.bytes_per_token:.2f} bytes/token held out"
        )

        tokenizer = Tokenizer.from_file(str(tok_path))
        tokenizer.encode_special_tokens = True  # as tokenize_corpus encodes
        time_encode(tokenizer, texts[:2000], "encode_batch")  # warm the thread pool
        cpus = available_cpus()
        # Other jobs share this machine: interleave the measurements and keep each one's best round.
        best: dict[str, Timing] = {}

        def keep(name: str, timing: Timing) -> None:
            if name not in best or timing.wall < best[name].wall:
                best[name] = timing

        for round_ in range(args.rounds):
            keep(LIMIT, time_encode(tokenizer, texts, "encode_batch"))
            keep("      encode_batch_fast", time_encode(tokenizer, texts, "encode_batch_fast"))
            for workers in sorted({cpus, 1}, reverse=True):
                out = root / f"tokens-{round_}-{workers}"
                wall, cpu = time.perf_counter(), cpu_seconds()
                manifest = tokenize_corpus(str(root / "corpus"), tok_path, out, workers=workers)
                tokens = sum(manifest["splits"][s]["tokens"] for s in ("train", "val"))
                keep(f"full: tokenize_corpus workers={workers}", Timing(time.perf_counter() - wall, cpu_seconds() - cpu, tokens))
                shutil.rmtree(out)

        rates = {name: report(name, nbytes, timing) for name, timing in best.items()}
        for index, what in ((0, "wall clock"), (1, "per CPU-second")):
            ratios = ", ".join(
                f"{name.split()[-1]}: {rate[index] / rates[LIMIT][index]:.2f}" for name, rate in rates.items() if name.startswith("full")
            )
            print(f"ratio full/limit, {what} (best of {args.rounds} rounds, {cpus} cores): {ratios} (target >= {TARGET_RATIO})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
