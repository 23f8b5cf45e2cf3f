"""MinHash signatures per second on one core: Winnow vs rensa (Rust) vs datasketch.

Same documents (windows of 600 consecutive words of ../shared/data/text), same
normalisation (Winnow's: lowercase, no punctuation or diacritics) and the same
5-word shingles, 112 permutations. Each reference gets what it needs to hash
those shingles: rensa and datasketch take shingle strings/bytes, which are
built in Python from the normalised words (that is how they are used); the
"core only" row times rensa on shingle strings built in advance, for scale.
Methods run round-robin `--repeats` times and the best CPU time of each counts,
so a loaded machine penalises all of them alike. Target: Winnow >= 2x rensa.

    .venv/bin/python benchmarks/minhash_vs_rensa.py [--docs 2000] [--words 600] [--repeats 3]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "text"
NUM_PERM = 112
NGRAM = 5
TARGET = 2.0
BATCH = 256


def documents(n: int, length: int, seed: int) -> list[str]:
    words: list[str] = []
    for path in sorted(DATA.glob("*.txt")):
        words += [w for w in path.read_text(encoding="utf-8").split() if w not in ("<unk>", "@-@", "@,@", "@.@")]
    rng = random.Random(seed)
    starts = [rng.randrange(len(words) - length) for _ in range(n)]
    return [" ".join(words[s : s + length]) for s in starts]


def shingles(words: list[str]) -> list[str]:
    n = min(NGRAM, len(words))
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--words", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"shared data not found at {DATA.resolve()}", file=sys.stderr)
        return 2
    import rensa
    from datasketch import MinHash

    from winnow.curation.minhash import MinHashConfig, MinHasher, normalize_words

    docs = documents(args.docs, args.words, seed=1)
    hasher = MinHasher(MinHashConfig(num_perm=NUM_PERM, ngram=NGRAM))
    hasher.signatures(docs[:BATCH])  # warm caches (normalisation table, hash powers) outside the timing
    prepared = [shingles(normalize_words(t)) for t in docs]

    def winnow() -> None:
        for i in range(0, len(docs), BATCH):
            hasher.signatures(docs[i : i + BATCH])

    def rensa_from_text() -> None:
        for text in docs:
            m = rensa.RMinHash(num_perm=NUM_PERM, seed=1)
            m.update(shingles(normalize_words(text)))
            m.digest()

    def rensa_core() -> None:
        for sh in prepared:
            m = rensa.RMinHash(num_perm=NUM_PERM, seed=1)
            m.update(sh)
            m.digest()

    def datasketch_batch() -> None:
        for text in docs:
            MinHash(num_perm=NUM_PERM).update_batch([s.encode() for s in shingles(normalize_words(text))])

    methods = {
        "winnow (from text)": winnow,
        "rensa RMinHash (from text)": rensa_from_text,
        "datasketch update_batch (from text)": datasketch_batch,
        "rensa core only (shingles given)": rensa_core,
    }
    best = {name: float("inf") for name in methods}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            started = time.process_time()
            fn()
            best[name] = min(best[name], time.process_time() - started)
    rates = {name: len(docs) / t for name, t in best.items()}
    print(f"signatures/s on one core: {len(docs)} documents of {args.words} words, {NUM_PERM} permutations, "
          f"{NGRAM}-word shingles, best of {args.repeats}")
    for name, rate in rates.items():
        print(f"  {name:38s} {rate:9.0f}/s")
    ratio = rates["winnow (from text)"] / rates["rensa RMinHash (from text)"]
    print(f"  winnow / rensa (from text): {ratio:.2f}x (target >= {TARGET}x): {'PASS' if ratio >= TARGET else 'FAIL'}")
    print(f"  winnow / datasketch update_batch: {rates['winnow (from text)'] / rates['datasketch update_batch (from text)']:.2f}x")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
