"""MinHash LSH quality: flagged pairs vs ground truth, and detection rate vs theory.

(a) textreuse (ats books, legal texts): precision/recall of pairs that share an LSH band,
    against the known reuse pairs, with each pair's true 5-shingle Jaccard.
(b) synthetic pairs from real text (../shared/data/text/*.txt) edited at controlled rates
    so true Jaccard spans 0.3-1.0: detection rate per 0.05 bin next to 1-(1-J^r)^b.
    Exits 1 when a bin with >= MIN_PAIRS_TO_JUDGE pairs differs from theory by more than
    TOLERANCE (verification off; no connected components: pairs are judged directly).

    .venv/bin/python benchmarks/dedup_quality.py [--seed 0] [--pairs-per-bin 1000]
"""
from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from pathlib import Path

import numpy as np

from winnow.curation.minhash import (
    MinHashConfig,
    MinHasher,
    band_keys,
    shingle_set,
    true_jaccard,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TOLERANCE = 0.05
MIN_PAIRS_TO_JUDGE = 200
BIN_WIDTH = 0.05
J_LOW, J_HIGH = 0.30, 1.00

ATS_PAIRS = {
    frozenset({"remember00palm", "remembermeorholy00palm"}),
    frozenset({"practicalthought00nev", "thoughtsonpopery00nevi"}),
    frozenset({"calltounconv00baxt", "lifeofrevrichard00baxt"}),
}
LEGAL_PAIRS = {frozenset({"ca1851-match", "ny1850-match"})}


def flagged(signatures: dict[str, np.ndarray], config: MinHashConfig) -> set[frozenset]:
    """Pairs of names sharing at least one LSH band."""
    buckets: dict[tuple, list[str]] = {}
    for name, sig in signatures.items():
        for key in band_keys(sig, config.bands, config.rows):
            buckets.setdefault(key, []).append(name)
    return {frozenset(p) for members in buckets.values() for p in itertools.combinations(sorted(members), 2)}


def textreuse_report(config: MinHashConfig, label: str) -> None:
    hasher = MinHasher(config)
    for corpus, truth in (("ats", ATS_PAIRS), ("legal", LEGAL_PAIRS)):
        files = sorted((DATA / "dedup" / "textreuse" / corpus).glob("*.txt"))
        texts = {f.stem: f.read_text(encoding="utf-8", errors="replace") for f in files}
        sigs = {name: hasher.signature(text) for name, text in texts.items()}
        found = flagged(sigs, config)
        tp = len(found & truth)
        precision = tp / len(found) if found else 1.0
        recall = tp / len(truth)
        print(f"  {corpus:5s} [{label}] flagged {len(found)} pair(s), true positives {tp}/{len(truth)}: "
              f"precision {precision:.2f} recall {recall:.2f}")
        shingles = {name: shingle_set(text, config.ngram) for name, text in texts.items()}
        for pair in sorted(truth | found, key=sorted):
            a, b = sorted(pair)
            j = true_jaccard(shingles[a], shingles[b])
            est = float(np.mean(sigs[a] == sigs[b]))
            status = ("TP" if pair in truth else "FP") if pair in found else "FN"
            print(f"    {status} {a} ~ {b}: true J {j:.3f}, estimated {est:.3f}, "
                  f"P(detect) {config.detection_probability(j):.3f}")


def load_paragraphs(min_words: int) -> list[list[str]]:
    """Runs of consecutive non-empty lines of the text corpora, at least `min_words` words each."""
    docs: list[list[str]] = []
    for path in sorted((DATA / "text").glob("*.txt")):
        current: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            words = [w for w in line.split() if w not in ("<unk>", "=", "@-@", "@,@", "@.@")]
            current.extend(words)
            if len(current) >= min_words:
                docs.append(current)
                current = []
    return docs


def synthetic_pairs(seed: int, per_bin: int, max_pairs: int) -> tuple[list[float], list[tuple[str, str]]]:
    """Pairs (original, edited) whose true Jaccard fills every 0.05 bin of [0.3, 1.0]."""
    rng = random.Random(seed)
    paragraphs = load_paragraphs(min_words=150)
    vocabulary = sorted({w for p in paragraphs for w in p})
    n_bins = round((J_HIGH - J_LOW) / BIN_WIDTH)
    counts = [0] * n_bins
    jaccards, pairs = [], []
    attempts = 0
    while min(counts) < per_bin and attempts < max_pairs:
        attempts += 1
        base = rng.choice(paragraphs)
        start = rng.randrange(max(1, len(base) - 300))
        words = base[start : start + rng.randrange(150, 301)]
        target = rng.uniform(J_LOW, J_HIGH)
        # With substitution rate q a 5-shingle survives w.p. (1-q)^5, so J ~ s/(2-s), s = (1-q)^5.
        rate = 1.0 - (2 * target / (1 + target)) ** (1 / 5)
        edited = list(words)
        for pos in rng.sample(range(len(words)), round(rate * len(words))):
            edited[pos] = rng.choice(vocabulary)
        a, b = " ".join(words), " ".join(edited)
        j = true_jaccard(shingle_set(a, 5), shingle_set(b, 5))
        k = min(int((j - J_LOW) / BIN_WIDTH), n_bins - 1)
        if j < J_LOW or counts[k] >= per_bin:
            continue
        counts[k] += 1
        jaccards.append(j)
        pairs.append((a, b))
    return jaccards, pairs


def synthetic_report(config: MinHashConfig, seed: int, per_bin: int) -> bool:
    started = time.perf_counter()
    jaccards, pairs = synthetic_pairs(seed, per_bin, max_pairs=60 * per_bin)
    hasher = MinHasher(config)
    detected = []
    for a, b in pairs:
        ka = set(band_keys(hasher.signature(a), config.bands, config.rows))
        kb = set(band_keys(hasher.signature(b), config.bands, config.rows))
        detected.append(bool(ka & kb))
    jaccards_arr, detected_arr = np.array(jaccards), np.array(detected)
    theory = np.array([config.detection_probability(j) for j in jaccards])
    print(f"\n(b) synthetic pairs from ../shared/data/text: {len(pairs)} pairs, seed {seed}, "
          f"{config.bands} bands x {config.rows} rows, {time.perf_counter() - started:.1f} s")
    print(f"  {'true J bin':>12s} {'pairs':>6s} {'detected':>9s} {'theory':>7s} {'diff':>6s}")
    ok = True
    n_bins = round((J_HIGH - J_LOW) / BIN_WIDTH)
    for k in range(n_bins):
        lo = J_LOW + k * BIN_WIDTH
        mask = (jaccards_arr >= lo) & ((jaccards_arr < lo + BIN_WIDTH) if k < n_bins - 1 else (jaccards_arr <= J_HIGH))
        n = int(mask.sum())
        if n == 0:
            print(f"  [{lo:.2f},{lo + BIN_WIDTH:.2f}) {n:6d}")
            continue
        rate, expected = detected_arr[mask].mean(), theory[mask].mean()
        judged = n >= MIN_PAIRS_TO_JUDGE
        bad = judged and abs(rate - expected) > TOLERANCE
        ok &= not bad
        flag = "FAIL" if bad else ("ok" if judged else "(too few)")
        print(f"  [{lo:.2f},{lo + BIN_WIDTH:.2f}) {n:6d} {rate:9.3f} {expected:7.3f} {rate - expected:+6.3f} {flag}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs-per-bin", type=int, default=1000,
                        help="pairs per 0.05 Jaccard bin (>= 200 to judge; more pairs, less sampling noise)")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"shared data not found at {DATA.resolve()}", file=sys.stderr)
        return 2
    config = MinHashConfig()  # FineWeb: 5-grams, 112 = 14 x 8, verification off
    print("(a) textreuse: pairs sharing an LSH band vs the known reuse pairs")
    textreuse_report(config, "14x8, FineWeb")
    low = MinHashConfig(threshold=0.25)
    textreuse_report(low, f"{low.bands}x{low.rows}, threshold 0.25")
    ok = synthetic_report(config, args.seed, args.pairs_per_bin)
    print(f"\nagreement with 1-(1-J^{config.rows})^{config.bands} within {TOLERANCE} in every bin "
          f"with >= {MIN_PAIRS_TO_JUDGE} pairs: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
