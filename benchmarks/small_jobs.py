"""Small jobs: wall and CPU seconds of `winnow curate` of one small WARC and `winnow dedup` of its output.

Issue 22's target: on a quiet machine each command finishes in at most 5 s wall,
start-up included. Every run is a fresh `winnow` process (imports, graph, run,
finalising: what a user waits for); CPU is user + sys of that process and the
processes it reaped (resource.RUSAGE_CHILDREN), so worker processes count too.
Rounds alternate the commands so a change of machine load hits all of them.

`--tree NAME=DIR` (repeatable) runs the commands of another checkout too (e.g. the
commit before a change, from `git archive REV | tar -x -C DIR`), alternating with
this one in every round, and compares every output table of each tree with the
first tree's (rows sorted by id): a speed-up that changes a result is caught.
With `--compare-to DIR` the outputs are compared with a `--keep` folder of an
earlier run instead.

    .venv/bin/python benchmarks/small_jobs.py [--rounds 5] [--warc PATH] [--keep DIR]
    git archive REV | tar -x -C /tmp/before
    .venv/bin/python benchmarks/small_jobs.py --tree before=/tmp/before --tree after=.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WARC = ROOT / ".." / "shared" / "data" / "warc" / "dolma-sample-0000.warc.gz"
WINNOW = [sys.executable, "-m", "winnow.cli"]
TARGET_WALL_S = 5.0
# Columns that legitimately differ between runs (timings); everything else must match.
VOLATILE_COLUMNS = frozenset({"wall_time_s"})


def commands(warc: Path, work: Path) -> dict[str, list[str]]:
    """name -> argv; each dedup reads the output of the curate run before it (under `work`)."""
    return {
        "curate (extract)": WINNOW + ["curate", "--input", str(warc), "--output", str(work / "curate-extract")],
        "dedup of it": WINNOW + ["dedup", "--input", str(work / "curate-extract"), "--output", str(work / "dedup-extract")],
        "curate --recipe fineweb": WINNOW + [
            "curate", "--recipe", "fineweb", "--input", str(warc), "--output", str(work / "curate-fineweb"),
        ],
        "dedup of it (fineweb)": WINNOW + [
            "dedup", "--input", str(work / "curate-fineweb"), "--output", str(work / "dedup-fineweb"),
        ],
    }


def timed(argv: list[str], output: str, tree: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one fresh command run from checkout `tree`; its output directory is removed first."""
    shutil.rmtree(output, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}  # that checkout's winnow, not the installed one
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def table(directory: Path):
    """Every Parquet table under `directory` (documents, rejected, errors, duplicates), sorted by id."""
    import pyarrow.parquet as pq

    tables = {}
    for sub in sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        files = sorted(sub.glob("*.parquet"))
        if not files:
            continue
        rows = [row for f in files for row in pq.read_table(f).to_pylist()]
        key = "id" if rows and "id" in rows[0] else None
        rows = [{k: v for k, v in r.items() if k not in VOLATILE_COLUMNS} for r in rows]
        tables[sub.name] = sorted(rows, key=lambda r: repr(r[key]) if key else repr(sorted(r.items())))
    return tables


def compare(work: Path, reference: Path) -> list[str]:
    """Names of the output tables that differ from the reference run."""
    differences = []
    for run in sorted(p for p in work.iterdir() if p.is_dir()):
        theirs = reference / run.name
        if not theirs.is_dir():
            differences.append(f"{run.name}: no reference run")
            continue
        mine, ref = table(run), table(theirs)
        for name in sorted(set(mine) | set(ref)):
            if mine.get(name) != ref.get(name):
                differences.append(f"{run.name}/{name}: {len(mine.get(name, []))} vs {len(ref.get(name, []))} rows, not identical")
    return differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warc", type=Path, default=DEFAULT_WARC)
    parser.add_argument("--keep", type=Path, help="write the outputs here (kept) instead of a temporary folder")
    parser.add_argument("--compare-to", type=Path, help="a --keep folder of an earlier run: outputs must be identical")
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                        help="a checkout to time too (default: this one); outputs compared with the first tree's")
    args = parser.parse_args()
    trees = {name: Path(path).resolve() for name, path in (t.split("=", 1) for t in args.tree)} or {"current": ROOT}
    if not args.warc.exists():
        raise SystemExit(f"{args.warc} is absent (../shared/data not mounted?)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="winnow-small-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    runs = {tree: commands(args.warc.resolve(), work / tree) for tree in trees}
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for name in runs[next(iter(trees))]:
            for tree, path in trees.items():  # alternate the trees command by command: load hits both alike
                argv = runs[tree][name]
                results.setdefault((tree, name), []).append(timed(argv, argv[argv.index("--output") + 1], path))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"\n| tree | command | median wall s | median CPU s | runs (wall) | ≤ {TARGET_WALL_S:.0f} s |")
    print("|---|---|---|---|---|---|")
    for (tree, name), timings in results.items():
        walls, cpus = [w for w, _ in timings], [c for _, c in timings]
        wall = statistics.median(walls)
        print(f"| {tree} | {name} | {wall:.2f} | {statistics.median(cpus):.2f} | "
              f"{', '.join(f'{w:.1f}' for w in walls)} | {'yes' if wall <= TARGET_WALL_S else 'no'} |")
    status = 0
    first, *others = trees
    for tree in others:
        differences = compare(work / tree, work / first)
        print(f"\noutputs of {tree} vs {first}:", "identical (tables sorted by id)" if not differences else "DIFFER")
        for line in differences:
            print("  ", line)
        status = status or (1 if differences else 0)
    if args.compare_to:
        differences = compare(work / first, args.compare_to)
        print("\noutputs vs", args.compare_to, ":", "identical (tables sorted by id)" if not differences else "DIFFER")
        for line in differences:
            print("  ", line)
        status = status or (1 if differences else 0)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
