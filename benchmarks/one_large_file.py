"""One large WARC against the same pages in four files: wall time and peak memory of `winnow curate`.

A local run spreads a single input file over its workers. Before byte-range
reading (curation/archive_ranges.py) it did so by shuffling the file's records,
and Beam's local runner holds a shuffle's whole input in memory: memory grew with
the file. This script shows what a user with one large file gets, next to the
same records dealt into four files (which never needed the shuffle).

The input is the warc-extra pages written `--copies` times (each copy a new
record id and URL, see curate_throughput.split_sample), once as one file and
once dealt round-robin into four. Each run is a fresh `winnow curate` process;
its peak memory is the largest resident set of any process of its tree
(RUSAGE_CHILDREN of a fresh parent). `--tree NAME=DIR` times another checkout
too (e.g. the commit before a change), alternating with this one, and compares
its output tables with the first tree's, layout by layout.

    .venv/bin/python benchmarks/one_large_file.py [--copies 4] [--recipe fineweb-fast] [--rounds 1]
    git archive REV | tar -x -C /tmp/before
    .venv/bin/python benchmarks/one_large_file.py --tree before=/tmp/before --tree after=.

`--format parquet` does the same with text documents in Parquet instead: the
warc-extra truth texts (1,319 documents) `--copies` times, in row groups of
250 rows, as one file and as four.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from curate_throughput import split_sample  # noqa: E402
from small_jobs import compare  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WARC_EXTRA = ROOT / ".." / "shared" / "data" / "warc-extra"
PARQUET_GROUP_ROWS = 250
# Runs the command as its child and prints wall s and the largest RSS of its process tree. (No CPU
# seconds: the extraction children are the fork server's, and their CPU never reaches this rusage.)
_MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(done.returncode, wall, usage.ru_maxrss * 1024)
sys.stderr.write(done.stderr[-3000:])
"""


def measure(argv: list[str], tree: Path) -> tuple[float, int]:
    """(wall s, peak RSS bytes) of one fresh command run from checkout `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", _MEASURE, *argv], cwd=tree, env=env, capture_output=True, text=True)
    returncode, wall, peak = done.stdout.split()
    if int(returncode) != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({returncode}):\n{done.stderr[-3000:]}")
    return float(wall), int(peak)


def write_parquet_documents(parts: int, folder: Path, copies: int) -> None:
    """The warc-extra truth texts, `copies` times (each copy its own ids), dealt round-robin into `parts` Parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    documents = []
    for copy in range(copies):
        for truth in sorted(WARC_EXTRA.glob("*.truth.jsonl")):
            for line in truth.read_text(encoding="utf-8").split("\n"):  # not splitlines: U+2028 sits inside texts
                if line.strip():
                    row = json.loads(line)
                    documents.append({"id": f"{copy}-{truth.name.split('.')[0]}-{row['id']}", "url": row["url"], "text": row["text"]})
    for part in range(parts):
        table = pa.Table.from_pylist(documents[part::parts])
        pq.write_table(table, folder / f"part-{part}.parquet", row_group_size=PARQUET_GROUP_ROWS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="times the warc-extra pages are written (default 4)")
    parser.add_argument("--recipe", default="fineweb-fast")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--format", choices=("warc", "parquet"), default="warc",
                        help="warc: the warc-extra pages (default); parquet: their truth texts as Parquet documents")
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                        help="a checkout to run too (default: this one); outputs compared with the first tree's")
    args = parser.parse_args()
    sources = sorted(WARC_EXTRA.glob("*.warc.gz"))
    if not sources:
        raise SystemExit(f"no WARC files under {WARC_EXTRA} (../shared/data not mounted?)")
    trees = {name: Path(path).resolve() for name, path in (t.split("=", 1) for t in args.tree)} or {"current": ROOT}
    work = Path(tempfile.mkdtemp(prefix="winnow-one-large-"))
    try:
        layouts = {}
        for name, parts in (("one file", 1), ("four files", 4)):
            folder = work / "in" / name.replace(" ", "-")
            folder.mkdir(parents=True)
            if args.format == "warc":
                split_sample(sources, parts, folder, copies=args.copies)
            else:
                write_parquet_documents(parts, folder, args.copies)
            layouts[name] = folder
        sizes = {name: sum(f.stat().st_size for f in folder.iterdir()) for name, folder in layouts.items()}
        # The one file named by itself too: a folder names no format, and used to decide differently.
        inputs = {"one file, by its folder": layouts["one file"], "one file, by its name": next(layouts["one file"].iterdir()),
                  "four files, by their folder": layouts["four files"]}
        print(f"input: {len(sources)} warc-extra files x {args.copies} copies as {args.format}, {sizes['one file'] / 2**20:.1f} MiB; "
              f"recipe {args.recipe}; {args.workers} workers; {os.cpu_count()} cores")
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        results: dict[tuple[str, str], list[tuple[float, int]]] = {}
        records = {}
        for _ in range(args.rounds):
            for layout, given in inputs.items():
                for tree, path in trees.items():  # alternate: a change of load hits both trees alike
                    output = work / "out" / tree / layout.replace(" ", "-").replace(",", "")
                    shutil.rmtree(output, ignore_errors=True)
                    argv = [sys.executable, "-m", "winnow.cli", "curate", "--recipe", args.recipe, "--input", str(given),
                            "--output", str(output), f"--direct_num_workers={args.workers}"]
                    results.setdefault((tree, layout), []).append(measure(argv, path))
                    records[layout] = json.loads((output / "stats.json").read_text())["records_in"]
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
        print("| tree | input | records | median wall s | records/s | peak RSS (largest process) |")
        print("|---|---|---|---|---|---|")
        for (tree, layout), runs in results.items():
            wall = statistics.median(r[0] for r in runs)
            print(f"| {tree} | {layout} | {records[layout]:,} | {wall:.1f} | {records[layout] / wall:.0f} | "
                  f"{max(r[1] for r in runs) / 2**20:,.0f} MiB |")
        status = 0
        first, *others = trees
        for tree in others:
            differences = compare(work / "out" / tree, work / "out" / first)
            print(f"\noutputs of {tree} vs {first}:", "identical (tables sorted by id)" if not differences else "DIFFER")
            for line in differences:
                print("  ", line)
            status = status or (1 if differences else 0)
        return status
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
