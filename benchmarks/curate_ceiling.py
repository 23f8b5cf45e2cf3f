"""How far can a recipe get against the bare FastWARC + trafilatura loop, engine or not?

One invocation runs three sides on the same files with the same workers, for
each input size asked (copies of the 1,378 warc-extra pages):

- `trafilatura`: the bare FastWARC + trafilatura loop (FineWeb's settings), the
  denominator of issue #22's fineweb-fast target (>= 3x);
- `bare steps`: the bare loop with the recipe's own engine and every step after
  extraction (Winnow's step functions, no Beam, no accounting, no output). No
  engine running these step implementations can beat it: it is the ceiling;
- `winnow`: `winnow curate --recipe RECIPE`, the whole command.

For each size it prints the three walls and the ratios winnow/trafilatura (the
target), bare steps/trafilatura (the ceiling) and winnow/bare steps (the engine's
overhead, the fineweb target's >= 0.95x). With two sizes or more it fits each
side's wall as fixed seconds plus milliseconds per page, and prints the ratios
at the margin: what a much larger input of the same pages would approach.

    .venv/bin/python benchmarks/curate_ceiling.py --recipe fineweb-fast --copies-extra 1 4

Copies flatter both Winnow sides alike (their text is already in the filters'
token cache); the trafilatura loop gains nothing from them.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from curate_throughput import SHARED_WARC_EXTRA, run_bare, run_winnow, split_sample  # noqa: E402

SIDES = ("trafilatura", "bare steps", "winnow")


def recipe_engine(recipe: str) -> str:
    """The extraction engine `recipe`'s extract step uses."""
    from winnow.curation.recipe import load_recipe

    extract = [step for step in load_recipe(recipe).steps if step.name == "extract"]
    if not extract:
        raise SystemExit(f"recipe {recipe!r} has no extract step: nothing to compare with trafilatura")
    return extract[0].config.engine


def run_side(side: str, files: list[Path], workers: int, recipe: str, engine: str, out: Path) -> dict:
    if side == "trafilatura":
        return run_bare(files, workers, None, "trafilatura")
    if side == "bare steps":
        return run_bare(files, workers, recipe, engine)
    return run_winnow(files, workers, out, recipe)


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares (fixed seconds, seconds per page) through (pages, wall) points."""
    pages = [p for p, _ in points]
    walls = [w for _, w in points]
    mean_p, mean_w = statistics.fmean(pages), statistics.fmean(walls)
    spread = sum((p - mean_p) ** 2 for p in pages)
    slope = sum((p - mean_p) * (w - mean_w) for p, w in points) / spread
    return mean_w - slope * mean_p, slope


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="fineweb-fast", help="the Winnow recipe (its extract step picks the engine)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies-extra", type=int, nargs="+", default=[1],
                        help="input sizes, as copies of the warc-extra pages (two or more: fixed and per-page costs)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side per size, alternating; medians compared")
    args = parser.parse_args()
    if not SHARED_WARC_EXTRA.is_dir():
        parser.error(f"{SHARED_WARC_EXTRA} not found: this benchmark needs the warc-extra pages")
    if any(c < 1 for c in args.copies_extra) or args.repeats < 1:
        parser.error("--copies-extra and --repeats take numbers from 1 up")
    engine = recipe_engine(args.recipe)
    print(f"recipe {args.recipe} (engine {engine}); workers {args.workers}; cpu {os.cpu_count()} cores; "
          f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results: dict[int, dict[str, list[dict]]] = {}
    work = Path(tempfile.mkdtemp(prefix="winnow-ceiling-"))
    try:
        for copies in sorted(set(args.copies_extra)):
            folder = work / f"copies-{copies}"
            folder.mkdir()
            files = split_sample(sorted(SHARED_WARC_EXTRA.glob("*.warc.gz")), args.workers * 2, folder, copies)
            runs: dict[str, list[dict]] = {side: [] for side in SIDES}
            for _ in range(args.repeats):
                for side in SIDES:
                    result = run_side(side, files, args.workers, args.recipe, engine, folder / "out")
                    runs[side].append(result)
                    print(f"  {copies} copies, {side:<11}: {result['records']:>6} records in {result['wall_s']:6.1f} s, "
                          f"{result['cpu_s']:6.1f} CPU-s", flush=True)
            records = {run["records"] for side in SIDES for run in runs[side]}
            if len(records) != 1:
                raise SystemExit(f"the sides read different record counts: {sorted(records)}")
            if not all(run["accounting_ok"] for run in runs["winnow"]):
                raise SystemExit("winnow curate's accounting did not hold: its times are not comparable")
            results[copies] = runs
            shutil.rmtree(folder, ignore_errors=True)
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        summary = report(results, args.repeats)
        print(json.dumps({"recipe": args.recipe, "engine": engine, "workers": args.workers, **summary}))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict[int, dict[str, list[dict]]], repeats: int) -> dict:
    label = f"median of {repeats}" if repeats > 1 else "one run"
    rows, points = [], {side: [] for side in SIDES}
    print(f"\n| pages | trafilatura | bare steps | winnow | winnow / trafilatura | ceiling: bare steps / trafilatura "
          f"| winnow / bare steps | ({label})")
    print("|---|---|---|---|---|---|---|")
    for copies, runs in sorted(results.items()):
        pages = runs["winnow"][0]["records"]
        wall = {side: statistics.median(run["wall_s"] for run in runs[side]) for side in SIDES}
        for side in SIDES:
            points[side].append((pages, wall[side]))
        row = {"pages": pages, **{f"{side}_s": wall[side] for side in SIDES},
               "target_ratio": wall["trafilatura"] / wall["winnow"], "ceiling_ratio": wall["trafilatura"] / wall["bare steps"],
               "overhead_ratio": wall["bare steps"] / wall["winnow"]}
        rows.append(row)
        print(f"| {pages:,} | {wall['trafilatura']:.1f} s | {wall['bare steps']:.1f} s | {wall['winnow']:.1f} s "
              f"| {row['target_ratio']:.2f}x | {row['ceiling_ratio']:.2f}x | {row['overhead_ratio']:.2f}x |")
    summary: dict = {"sizes": rows}
    if len(rows) >= 2:
        fits = {side: fit(points[side]) for side in SIDES}
        print("\nwall = fixed + pages x per page (least squares over the sizes):")
        for side in SIDES:
            fixed, per_page = fits[side]
            print(f"  {side:<11}: {fixed:5.1f} s fixed + {1000 * per_page:.2f} ms per page")
        per_page = {side: fits[side][1] for side in SIDES}
        margin = {"target_ratio": per_page["trafilatura"] / per_page["winnow"],
                  "ceiling_ratio": per_page["trafilatura"] / per_page["bare steps"],
                  "overhead_ratio": per_page["bare steps"] / per_page["winnow"]}
        print(f"at the margin: winnow / trafilatura {margin['target_ratio']:.2f}x; ceiling {margin['ceiling_ratio']:.2f}x; "
              f"winnow / bare steps {margin['overhead_ratio']:.2f}x")
        summary["fit"] = {side: {"fixed_s": fits[side][0], "per_page_ms": 1000 * fits[side][1]} for side in SIDES}
        summary["margin"] = margin
    return summary


if __name__ == "__main__":
    sys.exit(main())
