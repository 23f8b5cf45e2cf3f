"""`winnow train` of the `tiny` model alone and with one CPU-bound process per core.

Issue 25 asks that training degrade gracefully when other jobs share the
machine: with one busy-looping process per core, a run may be at most 2.5x
slower than alone, on the thread defaults users get (no --threads, no
environment variables set here). This script, in one invocation:

1. builds a small token set itself (seeded pseudo-English documents written
   as Parquet, `winnow tokenizer train`, `winnow tokenize`);
2. runs `winnow train --model tiny --max-steps N` alone, then with one
   `python -c "while True: pass"` per core, alternating for --rounds rounds so
   that a burst of load from other jobs hits both sides;
3. prints, per run, the median and 90th-percentile step time (from the run's
   metrics.jsonl), the process's wall time and its CPU seconds (user + system,
   from wait4), and the loaded/alone ratios.

CPU seconds per step says how much work the process did; under contention
it grows when threads spin while waiting for cores. It also moves much less
with other jobs' load than wall-clock time does.

    .venv/bin/python benchmarks/train_under_load.py --steps 30 --rounds 2

`--env KEY=VALUE` sets a variable for the training runs only, e.g.
`--env GOMP_SPINCOUNT=300000` restores libgomp's default spinning (about 3 ms
per wait) that Winnow's OMP_WAIT_POLICY=PASSIVE default turns off
(training/threads.py), to compare against the behaviour before issue 25.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

TARGET_RATIO = 2.5
WORDS = (
    "river sea town harbour mountain forest winter summer bridge road market school library garden field "
    "north south east west old new small large quiet busy cold warm early late long short green grey "
    "the a of and to in on by with from for at as is was were has had will would can could"
).split()


def write_documents(path: Path, documents: int, seed: int) -> None:
    """Seeded pseudo-English documents in a Parquet file with `id` and `text` columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    texts = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(150, 400))).capitalize() + "."
        for _ in range(documents)
    ]
    pq.write_table(pa.table({"id": [f"doc-{i:05d}" for i in range(documents)], "text": texts}), path)


def winnow(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "winnow.cli", *args], check=True, stdout=subprocess.DEVNULL)


def build_tokens(work: Path, documents: int) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    write_documents(work / "docs.parquet", documents, seed=0)
    winnow("tokenizer", "train", "--input", str(work / "docs.parquet"), "--vocab-size", "512",
           "--output", str(work / "tokenizer.json"))
    winnow("tokenize", "--input", str(work / "docs.parquet"), "--tokenizer", str(work / "tokenizer.json"),
           "--output", str(work / "tokens"), "--overwrite")
    return work / "tokens"


@contextlib.contextmanager
def cpu_hogs(count: int) -> Iterator[None]:
    """`count` busy-looping processes for the duration of the block, each killed by its pid."""
    hogs: list[subprocess.Popen] = []
    try:
        for _ in range(count):
            hogs.append(subprocess.Popen([sys.executable, "-c", "while True:\n    pass\n"]))
        time.sleep(1.0)  # let them reach the scheduler's steady state
        yield
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def train_once(tokens: Path, run_dir: Path, args: argparse.Namespace) -> dict:
    """One `winnow train` process: step times from its metrics, wall and CPU seconds from wait4."""
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = [
        sys.executable, "-m", "winnow.cli", "train", "--input", str(tokens), "--model", "tiny",
        "--output", str(run_dir), "--max-steps", str(args.steps), "--warmup-steps", "3", "--batch-size", str(args.batch_size),
        "--seq-len", str(args.seq_len), "--eval-every", "0", "--checkpoint-every", str(args.steps),
    ]
    started = time.perf_counter()
    env = dict(os.environ, **dict(item.split("=", 1) for item in args.env))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"winnow train failed ({proc.returncode}):\n{stderr.decode()[-3000:]}")
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rates = [r["tokens_per_s"] for r in rows if r.get("split", "train") == "train" and "tokens_per_s" in r]
    tokens_per_step = args.batch_size * args.seq_len
    # The first steps warm up allocators and oneDNN kernels; they are not the steady state.
    steps = sorted(tokens_per_step / rate for rate in rates[args.warmup:])
    return {
        "median_step_s": statistics.median(steps),
        "p90_step_s": steps[int(0.9 * (len(steps) - 1))],
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "steps": len(rates),
    }


def summarize(label: str, runs: list[dict]) -> dict:
    out = {key: statistics.median(r[key] for r in runs) for key in ("median_step_s", "p90_step_s", "wall_s", "cpu_s")}
    out["cpu_s_per_step"] = out["cpu_s"] / runs[0]["steps"]
    print(f"{label:>6}: median step {out['median_step_s'] * 1000:7.1f} ms  p90 {out['p90_step_s'] * 1000:7.1f} ms  "
          f"wall {out['wall_s']:6.1f} s  CPU {out['cpu_s']:6.1f} s ({out['cpu_s_per_step'] * 1000:.0f} ms/step)")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the step-time statistics")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--documents", type=int, default=400, help="documents in the generated corpus")
    parser.add_argument("--rounds", type=int, default=1, help="alone/loaded pairs, in alternating order")
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 1, help="busy processes in the loaded runs")
    parser.add_argument("--work", type=Path, help="working directory (default: a temporary one, removed)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment variable for the training runs (repeatable)")
    args = parser.parse_args()
    if args.steps <= args.warmup:
        parser.error("--steps must be larger than --warmup")
    if any("=" not in item for item in args.env):
        parser.error("--env takes KEY=VALUE")

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        tokens = build_tokens(work, args.documents)
        print(f"cores {os.cpu_count()}, hogs {args.hogs}, load before {os.getloadavg()[0]:.2f}; "
              f"tiny, {args.steps} steps of {args.batch_size}x{args.seq_len} tokens; env {args.env or 'unchanged'}")
        results: dict[str, list[dict]] = {"alone": [], "loaded": []}
        for k in range(args.rounds):
            for side in (("alone", "loaded") if k % 2 == 0 else ("loaded", "alone")):
                hogs = cpu_hogs(args.hogs) if side == "loaded" else contextlib.nullcontext()
                with hogs:
                    results[side].append(train_once(tokens, work / f"run-{side}-{k}", args))
                print(f"  round {k + 1} {side}: median step {results[side][-1]['median_step_s'] * 1000:.1f} ms, "
                      f"wall {results[side][-1]['wall_s']:.1f} s, CPU {results[side][-1]['cpu_s']:.1f} s", flush=True)
        alone, loaded = summarize("alone", results["alone"]), summarize("loaded", results["loaded"])
    ratio = loaded["median_step_s"] / alone["median_step_s"]
    summary = {
        "alone": alone, "loaded": loaded, "step_ratio": ratio, "wall_ratio": loaded["wall_s"] / alone["wall_s"],
        "cpu_per_step_ratio": loaded["cpu_s_per_step"] / alone["cpu_s_per_step"], "target": TARGET_RATIO,
        "load_after": os.getloadavg()[0], "env": args.env,
    }
    print(f"loaded/alone: step time {ratio:.2f}x (target <= {TARGET_RATIO}x), wall {summary['wall_ratio']:.2f}x, "
          f"CPU per step {summary['cpu_per_step_ratio']:.2f}x; load after {summary['load_after']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
