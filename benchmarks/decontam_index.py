"""Size and build time of the decontamination n-gram index for ~10 MB of evaluation text.

The evaluation suite is synthetic (no network): passages of 20-300 words drawn
from a Zipf-distributed vocabulary of 60,000 made-up words, written as a
multiple-choice JSONL file, a text file and a Parquet file, like a suite of
task sets. Reports index entries, bytes (in memory and pickled, i.e. what a
worker receives as a side input), build time, and the per-document lookup
rate on 500-word documents, half of them with a planted passage.

    .venv/bin/python benchmarks/decontam_index.py [--mb 10] [--ngram 13]
"""
from __future__ import annotations

import argparse
import json
import pickle
import random
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from winnow.curation.decontaminate import DECONTAMINATE_STEP, DecontaminateConfig, prepare
from winnow.curation.types import Document


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(size)]


def _passages(rng: np.random.Generator, vocab: list[str], total_bytes: int) -> list[str]:
    out, size = [], 0
    while size < total_bytes:
        n = int(rng.integers(20, 300))
        ids = np.minimum(rng.zipf(1.2, n) - 1, len(vocab) - 1)
        text = " ".join(vocab[i] for i in ids) + "."
        out.append(text)
        size += len(text) + 1
    return out


def write_suite(directory: Path, megabytes: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Three evaluation files totalling ~`megabytes` MB; returns (paths, passages)."""
    vocab = _vocabulary(random.Random(seed), 60_000)
    passages = _passages(np.random.default_rng(seed), vocab, int(megabytes * 1_000_000))
    third = len(passages) // 3
    mc = directory / "mc_task.jsonl"
    with open(mc, "w", encoding="utf-8") as f:
        for p in passages[:third]:
            words = p.split()
            cut = max(1, len(words) - 5)
            f.write(json.dumps({"ctx": " ".join(words[:cut]), "endings": [" ".join(words[cut:]), "no", "maybe"], "label": 0}) + "\n")
    (directory / "heldout.txt").write_text("\n\n".join(passages[third : 2 * third]), encoding="utf-8")
    pq.write_table(pa.table({"text": passages[2 * third :]}), directory / "qa.parquet")
    return [str(directory / n) for n in ("mc_task.jsonl", "heldout.txt", "qa.parquet")], passages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="MB of evaluation text (default 10)")
    parser.add_argument("--ngram", type=int, default=13)
    parser.add_argument("--docs", type=int, default=2000, help="documents for the lookup rate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths, passages = write_suite(Path(tmp), args.mb)
        eval_bytes = sum(Path(p).stat().st_size for p in paths)
        config = DecontaminateConfig(eval=tuple(paths), ngram=args.ngram)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        index = prepare(config, lambda p: open(p, "rb"))
        build_s = time.perf_counter() - start
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        pickled = len(pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
        step = DECONTAMINATE_STEP.build(config, index)
        rng = random.Random(1)
        filler = " ".join(rng.choice(passages[0].split()) for _ in range(500))
        docs = []
        for i in range(args.docs):
            words = filler.split()
            rng.shuffle(words)
            text = " ".join(words)
            if i % 2:
                text += " " + rng.choice(passages)
            docs.append(Document(text))
        start = time.perf_counter()
        rejected = sum(not step(d).kept for d in docs)
        lookup_s = time.perf_counter() - start
    text_mb = sum(len(p.encode()) + 1 for p in passages) / 1e6
    print(f"evaluation text: {text_mb:.1f} MB ({eval_bytes / 1e6:.1f} MB as files) in {len(passages)} passages, {args.ngram}-grams, sets {index.set_names}")
    print(f"index: {len(index.hashes):,} entries, {index.nbytes / 1e6:.1f} MB in memory, {pickled / 1e6:.1f} MB pickled")
    print(f"build: {build_s:.2f} s; peak RSS grew {(rss1 - rss0) / 1024:.0f} MB while building")
    print(f"short texts (< n words, not indexed): {sum(index.short_texts)} of {sum(index.texts)}")
    print(f"lookup: {args.docs / lookup_s:,.0f} docs/s on ~500-word documents ({rejected} of {args.docs} rejected, {args.docs // 2} planted)")


if __name__ == "__main__":
    main()
