"""`winnow select` against re-running `winnow curate` for new thresholds.

One invocation: curate the inputs once in `mode: annotate` with the fineweb
recipe, then get a looser split two ways, timed side by side:

  select     `winnow select` on the stored signals (no extraction, no scoring)
  re-curate  `winnow curate` again with the looser recipe (what users do without select)

and check that both give the same kept documents.

    .venv/bin/python benchmarks/select_vs_curate.py                 # ../shared/data/warc-extra (1,378 real pages)
    .venv/bin/python benchmarks/select_vs_curate.py --sample-pages 600   # generated sample archive instead

Prints seconds for each side and the ratio.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_EXTRA = (REPO / ".." / "shared" / "data" / "warc-extra").resolve()
LOOSER = {
    "gopher_quality": {"min_words": 20, "min_stop_words": 1},
    "fineweb": {"min_line_punct_ratio": 0.05, "max_dup_line_char_ratio": 0.1},
    "language": {"min_score": 0.5},
}


def recipe(path: Path, name: str, mode: str, overrides: dict) -> str:
    data = yaml.safe_load((resources.files("winnow.recipes") / "fineweb.yaml").read_text())
    data["name"], data["mode"] = name, mode
    for step in data["steps"]:
        (step_name, params), = step.items()
        params.update(overrides.get(step_name, {}))
    path.write_text(yaml.safe_dump(data))
    return str(path)


def winnow(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([str(REPO / ".venv" / "bin" / "winnow"), *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def kept_ids(directory: Path) -> set[str]:
    return {i for f in (directory / "documents").glob("*.parquet") for i in pq.read_table(f, columns=["id"]).column("id").to_pylist()}


def explain_difference(selected: Path, recurated: Path) -> None:
    """Where the documents kept by only one side were rejected by the other (extraction timeouts
    depend on machine load, so two curate runs of the same pages can differ there)."""
    def rejected(directory: Path) -> dict[str, tuple[str, str]]:
        return {
            row["id"]: (row["stage"], row["reason"])
            for f in (directory / "rejected").glob("*.parquet")
            for row in pq.read_table(f, columns=["id", "stage", "reason"]).to_pylist()
        }

    only_selected = kept_ids(selected) - kept_ids(recurated)
    only_recurated = kept_ids(recurated) - kept_ids(selected)
    by_recurate, by_select = rejected(recurated), rejected(selected)
    from collections import Counter

    print("kept by select only; re-curate rejected them as:", dict(Counter(by_recurate.get(i) for i in only_selected)))
    print("kept by re-curate only; select rejected them as:", dict(Counter(by_select.get(i) for i in only_recurated)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample-pages", type=int, default=0, help="use a generated sample archive of N pages")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="keep the outputs in this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = args.keep or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        if args.sample_pages or not SHARED_EXTRA.is_dir():
            inputs = [str(tmp / "sample.warc.gz")]
            winnow("sample-warc", "--output", inputs[0], "--pages", str(args.sample_pages or 600))
        else:
            inputs = sorted(str(p) for p in SHARED_EXTRA.glob("*.warc.gz"))
        flags = [a for i in inputs for a in ("--input", i)] + [f"--direct_num_workers={args.workers}"]
        annotate = recipe(tmp / "annotate.yaml", "fineweb-annotate", "annotate", {})
        looser = recipe(tmp / "looser.yaml", "fineweb-looser", "filter", LOOSER)
        t_annotate = winnow("curate", *flags, "--output", str(tmp / "annotated"), "--recipe", annotate)
        t_select = winnow("select", str(tmp / "annotated"), "--recipe", looser, "--output", str(tmp / "selected"))
        t_curate = winnow("curate", *flags, "--output", str(tmp / "recurated"), "--recipe", looser)
        same = kept_ids(tmp / "selected") == kept_ids(tmp / "recurated")
        if not same:
            explain_difference(tmp / "selected", tmp / "recurated")
        print(f"inputs: {len(inputs)} file(s); annotate-mode curate {t_annotate:.1f} s")
        print(f"select    {t_select:6.2f} s  ({len(kept_ids(tmp / 'selected'))} kept)")
        print(f"re-curate {t_curate:6.2f} s  ({len(kept_ids(tmp / 'recurated'))} kept)")
        print(f"select is {t_curate / t_select:.1f}x faster; same kept documents: {same}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
