"""`winnow dedup` end to end vs DataTrove's four-stage MinHash, on the same corpus and cores.

Corpus: documents of 18-30 real sentences (about 600 words) from ../shared/data/text, of
which 20% are planted near copies of an earlier document (a uniform 1-8% of words
replaced); the planted groups are the ground truth. Each run is a subprocess whose
process tree's summed RSS is sampled from /proc (peak reported).

* Winnow: `winnow dedup --direct_num_workers=N` (default mode on the DirectRunner: spill).
* DataTrove 0.10.1: MinhashDedupSignature -> Buckets -> Cluster -> Filter with
  LocalPipelineExecutor(workers=N), 5-grams, 14 buckets x 8 hashes, 64-bit xxhash,
  run with the separate venv .bench/dt-venv (`--setup` builds it).

Quality, for both from the removed ids: a group of k planted documents should lose k-1;
recall = sum over groups of min(removed in group, k-1) / sum (k-1), precision = the same
sum / all removed. Targets: Winnow >= 4x DataTrove's documents/s; Winnow's peak memory at
the largest size within 1.2x of the smallest.

    .venv/bin/python benchmarks/dedup_throughput.py --setup
    .venv/bin/python benchmarks/dedup_throughput.py [--sizes 25000,100000] [--datatrove-sizes 25000] [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
DT_VENV = ROOT / ".bench" / "dt-venv"
DT_PACKAGES = ["datatrove[io]==0.10.1", "xxhash<3.5", "regex", "nltk", "tokenizers", "spacy"]
SPEEDUP_TARGET = 4.0
MEMORY_LIMIT = 1.2
NEAR_FRACTION = 0.20
SAMPLE_INTERVAL_S = 0.2


def corpus_words() -> list[str]:
    words: list[str] = []
    for path in sorted((DATA / "text").glob("*.txt")):
        words += [w for w in path.read_text(encoding="utf-8").split() if w not in ("<unk>", "@-@", "@,@", "@.@")]
    return words


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


def sentence_documents(n: int, rng: random.Random, words: list[str], low: int = 18, high: int = 31) -> list[str]:
    """`n` documents of `low` to `high - 1` random real sentences: unrelated documents share few 5-grams
    (consecutive windows of a 2M-word corpus would overlap, and chain, at 100k documents)."""
    sentences, current = [], []
    for w in words:
        current.append(w)
        if w == "." and len(current) > 5:
            sentences.append(" ".join(current))
            current = []
    return [" ".join(rng.choices(sentences, k=rng.randrange(low, high))) for _ in range(n)]


def write_corpus(directory: Path, n: int, seed: int) -> dict[str, list[str]]:
    """`n` documents in 8 Parquet files under directory/documents; returns the planted groups
    (original id -> its near copies' ids)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from winnow import schemas
    from winnow.curation.ids import document_id

    rng = random.Random(seed)
    words = corpus_words()
    texts = sentence_documents(n, rng, words)
    ids = [document_id(f"<urn:uuid:bench-{seed}-{i}>") for i in range(n)]
    root_of = list(range(n))
    groups: dict[str, list[str]] = {}
    for i in range(1, n):
        if rng.random() < NEAR_FRACTION:
            source = rng.randrange(i)
            copy = texts[source].split()
            for pos in rng.sample(range(len(copy)), max(1, round(len(copy) * rng.uniform(0.01, 0.08)))):
                copy[pos] = rng.choice(words)
            texts[i] = " ".join(copy)
            root_of[i] = root_of[source]
            groups.setdefault(ids[root_of[i]], []).append(ids[i])
    rows = [
        {"id": ids[i], "url": f"https://example.org/{i}", "domain": "example.org",
         "warc_record_id": f"<urn:uuid:bench-{seed}-{i}>", "warc_date": "2024-01-01T00:00:00Z", "source": "bench",
         "text": t, "language": "en", "language_score": 0.9}
        for i, t in enumerate(texts)
    ]
    (directory / "documents").mkdir(parents=True)
    schema = schemas.document_schema()
    for k in range(8):
        pq.write_table(pa.Table.from_pylist(rows[k::8], schema=schema), directory / "documents" / f"part-{k}.parquet",
                       compression="zstd")
    return groups


def quality(removed: set[str], groups: dict[str, list[str]]) -> tuple[float, float]:
    """(recall, precision) of the removed ids against the planted groups."""
    right = sum(min(len(removed & {root, *copies}), len(copies)) for root, copies in groups.items())
    should = sum(len(copies) for copies in groups.values())
    return right / max(should, 1), right / max(len(removed), 1)


def measured(command: list[str]) -> tuple[float, float, str]:
    """(wall s, peak process-tree RSS MB, stdout) of a subprocess."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_bytes(proc.pid))
        time.sleep(SAMPLE_INTERVAL_S)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{err[-3000:]}")
    return time.perf_counter() - started, peak / 2**20, out


def run_winnow(data: Path, out: Path, workers: int) -> dict:
    import pyarrow.parquet as pq

    winnow = ROOT / ".venv" / "bin" / "winnow"
    wall, peak, _ = measured([str(winnow), "dedup", "--input", str(data), "--output", str(out),
                              f"--direct_num_workers={workers}"])
    removed = {r for f in (out / "duplicates").glob("*.parquet") for r in pq.read_table(f, columns=["id"]).column(0).to_pylist()}
    stats = json.loads((out / "stats.json").read_text())
    return {"wall_s": wall, "peak_mb": peak, "removed": removed, "mode": stats.get("mode")}


# DataTrove's four stages, run by the DataTrove venv's python (written next to its work dir).
DT_SCRIPT = r"""import json, sys, time
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig


def main():
    inp, work, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tasks = int(sys.argv[4]) if len(sys.argv) > 4 else workers
    config = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(precision=64))
    reader = lambda: ParquetReader(inp, glob_pattern="*.parquet", text_key="text", id_key="id")
    started = time.time()
    s1 = LocalPipelineExecutor(pipeline=[reader(), MinhashDedupSignature(output_folder=f"{work}/sigs", config=config)],
                               tasks=tasks, workers=workers, logging_dir=f"{work}/logs/s1")
    s2 = LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets", config=config)],
                               tasks=config.num_buckets, workers=workers, logging_dir=f"{work}/logs/s2", depends=s1)
    s3 = LocalPipelineExecutor(pipeline=[MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove", config=config)],
                               tasks=1, logging_dir=f"{work}/logs/s3", depends=s2)
    s4 = LocalPipelineExecutor(pipeline=[reader(), MinhashDedupFilter(input_folder=f"{work}/remove",
                                         exclusion_writer=JsonlWriter(f"{work}/removed", compression=None)),
                                         JsonlWriter(f"{work}/kept", compression=None)],
                               tasks=tasks, workers=workers, logging_dir=f"{work}/logs/s4", depends=s3)
    s4.run()
    removed = []
    import glob
    for f in glob.glob(f"{work}/removed/*.jsonl"):
        removed += [json.loads(l)["id"] for l in open(f)]
    print("DTRESULT " + json.dumps({"wall_s": time.time() - started, "removed": removed}))


if __name__ == '__main__':
    main()
"""


def run_datatrove(data: Path, work: Path, workers: int) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    script = work / "dt_minhash.py"
    script.write_text(DT_SCRIPT)
    wall, peak, out = measured([str(DT_VENV / "bin" / "python"), str(script), str(data / "documents"), str(work / "dt"),
                                str(workers)])
    result = json.loads(next(line for line in out.splitlines() if line.startswith("DTRESULT "))[9:])
    return {"wall_s": wall, "peak_mb": peak, "removed": set(result["removed"])}


def setup() -> int:
    if not (DT_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(DT_VENV)], check=True)
    subprocess.run([str(DT_VENV / "bin" / "pip"), "install", "-q", *DT_PACKAGES], check=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="25000,100000", help="corpus sizes for Winnow (memory is compared across them)")
    parser.add_argument("--datatrove-sizes", default="25000", help="sizes at which DataTrove also runs ('' for none)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--setup", action="store_true", help="build the DataTrove venv and exit")
    args = parser.parse_args(argv)
    if args.setup:
        return setup()
    if not DATA.is_dir():
        print(f"shared data not found at {DATA.resolve()}", file=sys.stderr)
        return 2
    sizes = [int(x) for x in args.sizes.split(",") if x]
    dt_sizes = {int(x) for x in args.datatrove_sizes.split(",") if x}
    ok, memory = True, []
    print(f"{'docs':>8s} {'system':>10s} {'wall s':>8s} {'docs/s':>8s} {'peak MB':>8s} {'recall':>7s} {'precision':>9s}")
    with tempfile.TemporaryDirectory(prefix="winnow-dedup-bench-") as tmp:
        for size in sorted(set(sizes) | dt_sizes):
            data = Path(tmp) / f"in-{size}"
            groups = write_corpus(data, size, seed=size)
            results = {"winnow": run_winnow(data, Path(tmp) / f"out-{size}", args.workers)}
            if size in dt_sizes:
                results["datatrove"] = run_datatrove(data, Path(tmp) / f"dt-{size}", args.workers)
            for name, r in results.items():
                recall, precision = quality(r["removed"], groups)
                print(f"{size:8d} {name:>10s} {r['wall_s']:8.1f} {size / r['wall_s']:8.0f} {r['peak_mb']:8.0f} "
                      f"{recall:7.3f} {precision:9.3f}", flush=True)
            if "datatrove" in results:
                ratio = results["datatrove"]["wall_s"] / results["winnow"]["wall_s"]
                ok &= ratio >= SPEEDUP_TARGET
                print(f"  winnow / datatrove at {size}: {ratio:.2f}x (target >= {SPEEDUP_TARGET}x): "
                      f"{'PASS' if ratio >= SPEEDUP_TARGET else 'FAIL'}", flush=True)
            if size in sizes:
                memory.append((size, results["winnow"]["peak_mb"]))
            shutil.rmtree(Path(tmp) / f"out-{size}", ignore_errors=True)
            shutil.rmtree(Path(tmp) / f"dt-{size}", ignore_errors=True)
            shutil.rmtree(data, ignore_errors=True)
    if len(memory) > 1:
        growth = memory[-1][1] / memory[0][1]
        ok &= growth <= MEMORY_LIMIT
        print(f"  winnow peak memory {memory[0][0]} -> {memory[-1][0]} documents: {growth:.2f}x "
              f"(limit {MEMORY_LIMIT}x): {'PASS' if growth <= MEMORY_LIMIT else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
