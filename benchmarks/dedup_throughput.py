"""Dedup throughput.

1. Signatures per second on one core, from raw text, num_perm=112, same documents:
   Winnow's vectorised MinHasher vs datasketch's `MinHash.update` loop and
   `MinHash.update_batch` (default sha1-based hash). Target: >= 3x update_batch.
2. Whole `run_dedup` on the DirectRunner (multi-processing, all cores) at several corpus
   sizes, each in its own subprocess: wall time, time per document and peak memory
   (the process tree's summed RSS sampled from /proc, and the largest single process'
   ru_maxrss). Time per document at the largest size must be at most 10% above the
   smallest size's (i.e. no worse than 10% super-linear growth).

    .venv/bin/python benchmarks/dedup_throughput.py [--sizes 25000,50000,100000] [--skip-pipeline]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
NUM_PERM = 112
SPEEDUP_TARGET = 3.0
GROWTH_LIMIT = 1.10
SAMPLE_INTERVAL_S = 0.2


def corpus_words() -> list[str]:
    words: list[str] = []
    for path in sorted((DATA / "text").glob("*.txt")):
        words += [w for w in path.read_text(encoding="utf-8").split() if w not in ("<unk>", "@-@", "@,@", "@.@")]
    return words


def real_documents(n: int, seed: int, words: list[str]) -> list[str]:
    """`n` windows of 100-400 consecutive words of the real corpora."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        length = rng.randrange(100, 401)
        start = rng.randrange(len(words) - length)
        docs.append(" ".join(words[start : start + length]))
    return docs


def signature_benchmark(n_docs: int) -> dict:
    from datasketch import MinHash

    from winnow.curation.minhash import MinHashConfig, MinHasher, normalize_words

    docs = real_documents(n_docs, seed=1, words=corpus_words())

    def shingles(text: str) -> list[bytes]:
        words = normalize_words(text)
        n = min(5, len(words))
        return [" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)]

    hasher = MinHasher(MinHashConfig(num_perm=NUM_PERM))
    hasher.signature(docs[0])  # builds the normalisation table outside the timing

    def winnow() -> None:
        for text in docs:
            hasher.signature(text)

    def datasketch_update() -> None:
        for text in docs:
            m = MinHash(num_perm=NUM_PERM)
            for s in shingles(text):
                m.update(s)

    def datasketch_batch() -> None:
        for text in docs:
            MinHash(num_perm=NUM_PERM).update_batch(shingles(text))

    results = {}
    for name, fn in (("winnow", winnow), ("datasketch update", datasketch_update),
                     ("datasketch update_batch", datasketch_batch)):
        started = time.process_time()
        fn()
        results[name] = n_docs / (time.process_time() - started)
    return results


def _tree_rss_bytes(root: int) -> int:
    """Summed RSS of `root` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [root]
    page = os.sysconf("SC_PAGE_SIZE")
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * page
        except OSError:
            continue
    return total


def sentence_documents(n: int, rng: random.Random, words: list[str]) -> list[str]:
    """`n` documents of 5-15 random real sentences: unrelated documents share few 5-grams
    (consecutive windows of a 2M-word corpus would overlap, and chain, at 100k documents)."""
    sentences, current = [], []
    for w in words:
        current.append(w)
        if w == "." and len(current) > 5:
            sentences.append(" ".join(current))
            current = []
    return [" ".join(rng.choices(sentences, k=rng.randrange(5, 16))) for _ in range(n)]


def write_corpus(directory: Path, n: int, seed: int) -> None:
    """`n` documents from real sentences, ~5% exact and ~10% near copies (2% of words
    replaced), in 8 Parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from winnow import schemas
    from winnow.curation.ids import document_id

    rng = random.Random(seed)
    words = corpus_words()
    texts = sentence_documents(n, rng, words)
    for i in range(n):
        roll = rng.random()
        if roll < 0.05 and i:
            texts[i] = texts[rng.randrange(i)]
        elif roll < 0.15 and i:
            copy = texts[rng.randrange(i)].split()
            for pos in rng.sample(range(len(copy)), max(1, len(copy) // 50)):
                copy[pos] = rng.choice(words)
            texts[i] = " ".join(copy)
    rows = [
        {"id": document_id(f"<urn:uuid:bench-{seed}-{i}>"), "url": f"https://example.org/{i}", "domain": "example.org",
         "warc_record_id": f"<urn:uuid:bench-{seed}-{i}>", "warc_date": "2024-01-01T00:00:00Z", "source": "bench",
         "text": t, "language": "en", "language_score": 0.9}
        for i, t in enumerate(texts)
    ]
    (directory / "documents").mkdir(parents=True)
    schema = schemas.document_schema()
    for k in range(8):
        pq.write_table(pa.Table.from_pylist(rows[k::8], schema=schema), directory / "documents" / f"part-{k}.parquet",
                       compression="zstd")


def child(input_dir: str, output_dir: str) -> None:
    from winnow.curation.minhash import MinHashConfig
    from winnow.pipelines.dedup import run_dedup

    stats = run_dedup(input_dir, output_dir, MinHashConfig(), [])
    print("STATS " + json.dumps(stats))


def pipeline_benchmark(size: int, workdir: Path) -> dict:
    data_dir, out_dir = workdir / f"in-{size}", workdir / f"out-{size}"
    write_corpus(data_dir, size, seed=size)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(data_dir), str(out_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_bytes(proc.pid))
        time.sleep(SAMPLE_INTERVAL_S)
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"run_dedup at {size} documents failed:\n{err[-3000:]}")
    stats = json.loads(next(line for line in out.splitlines() if line.startswith("STATS "))[6:])
    return {
        "documents": size, "wall_s": wall, "ms_per_doc": 1000 * wall / size,
        "peak_tree_rss_mb": peak / 2**20,
        # ru_maxrss (KiB on Linux) covers waited-for descendants: the largest single process so far.
        "max_process_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "kept": stats["kept"], "exact": stats["exact_duplicates"], "near": stats["near_duplicates"],
        "rounds": stats["cc_rounds_used"], "pipeline_wall_s": stats["wall_time_s"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="25000,50000,100000", help="comma-separated corpus sizes")
    parser.add_argument("--signature-docs", type=int, default=2000)
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    if not DATA.is_dir():
        print(f"shared data not found at {DATA.resolve()}", file=sys.stderr)
        return 2
    ok = True
    rates = signature_benchmark(args.signature_docs)
    print(f"signatures/s on one core ({args.signature_docs} real documents of 100-400 words, num_perm={NUM_PERM}):")
    for name, rate in rates.items():
        print(f"  {name:25s} {rate:9.0f}/s  ({rate / rates['datasketch update_batch']:.1f}x update_batch)")
    speedup = rates["winnow"] / rates["datasketch update_batch"]
    ok &= speedup >= SPEEDUP_TARGET
    print(f"  speed-up vs update_batch {speedup:.1f}x (target >= {SPEEDUP_TARGET}x): "
          f"{'PASS' if speedup >= SPEEDUP_TARGET else 'FAIL'}")
    if args.skip_pipeline:
        return 0 if ok else 1
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"\nrun_dedup on the DirectRunner (multi_processing, {os.cpu_count()} cores), one subprocess per size:")
    print(f"  {'docs':>8s} {'wall s':>8s} {'ms/doc':>7s} {'marginal':>8s} {'tree RSS MB':>12s} {'max proc MB':>12s} "
          f"{'kept':>7s} {'exact':>6s} {'near':>6s} {'rounds':>6s}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="winnow-dedup-bench-") as tmp:
        for size in sizes:
            r = pipeline_benchmark(size, Path(tmp))
            # Marginal ms/doc against the previous size: the slope, free of the fixed start-up cost.
            marginal = (
                f"{1000 * (r['wall_s'] - rows[-1]['wall_s']) / (size - rows[-1]['documents']):8.3f}"
                if rows and size != rows[-1]["documents"] else f"{'-':>8s}"
            )
            rows.append(r)
            print(f"  {r['documents']:8d} {r['wall_s']:8.1f} {r['ms_per_doc']:7.3f} {marginal} {r['peak_tree_rss_mb']:12.0f} "
                  f"{r['max_process_rss_mb']:12.0f} {r['kept']:7d} {r['exact']:6d} {r['near']:6d} {r['rounds']:6d}",
                  flush=True)
    if len(rows) > 1:
        growth = rows[-1]["ms_per_doc"] / rows[0]["ms_per_doc"]
        ok &= growth <= GROWTH_LIMIT
        print(f"  time/doc growth {rows[0]['documents']} -> {rows[-1]['documents']}: {growth:.2f}x "
              f"(limit {GROWTH_LIMIT:.2f}x): {'PASS' if growth <= GROWTH_LIMIT else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
