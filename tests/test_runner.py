"""`winnow run` end to end at a reduced size: skipping, invalidation, resume, report."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from winnow.runner import STAGES, RunError, load_context, run_stages

REPO = Path(__file__).resolve().parents[1]
BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def small_recipe(tmp_path: Path, **changes) -> Path:
    recipe = yaml.safe_load((REPO / "recipes" / "demo.yaml").read_text())
    recipe["name"] = "small"
    recipe["input"] = {"sample": {"pages": 24, "seed": 1}}
    recipe["tokenizer"] = {"vocab_size": 600}
    recipe["tokenize"] = {"val_fraction": 0.1}
    recipe["train"] = {
        "max_steps": 12, "batch_size": 4, "seq_len": 64, "lr": 0.003, "warmup_steps": 2,
        "eval_every": 6, "eval_tokens": 2048, "checkpoint_every": 6,
    }
    recipe["evaluate"] = {"tasks": ["sentences:val", "builtin:copy"], "task_examples": 10, "prompts": ["The river"], "max_new_tokens": 8}
    for key, value in changes.items():
        recipe[key] = value
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    recipe = small_recipe(tmp)
    ctx = load_context(str(recipe), tmp / "run", BEAM, progress=False)
    info = run_stages(ctx)
    return tmp, recipe, ctx, info


@pytest.mark.slow
def test_every_stage_runs_and_the_report_is_written(finished_run):
    _, _, ctx, info = finished_run
    assert [s for s in STAGES if info["stages"][s]["status"] in ("ran", "disabled")] == list(STAGES)
    run_dir = ctx.run_dir
    assert (run_dir / "report.html").stat().st_size > 10_000
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary
    results = json.loads((run_dir / "evaluate" / "results.json").read_text())
    assert results["val"]["bits_per_byte"] > 0 and "sentences_val" in results["tasks"]
    for stage in STAGES:
        manifest = json.loads((run_dir / "stages" / f"{stage}.json").read_text())
        assert manifest["status"] == "complete" and manifest["fingerprint"] and "wall_s" in manifest
    curate = json.loads((run_dir / "curate" / "stats.json").read_text())
    assert curate["accounting"]["ok"]


@pytest.mark.slow
def test_rerun_skips_and_a_changed_setting_reruns_downstream(finished_run):
    tmp, recipe, ctx, _ = finished_run
    again = run_stages(load_context(str(recipe), ctx.run_dir, BEAM, progress=False))
    assert {s for s in STAGES if again["stages"][s]["status"] == "skipped"} == set(STAGES) - {"report"}

    changed = small_recipe(tmp, tokenizer={"vocab_size": 640})
    third = run_stages(load_context(str(changed), ctx.run_dir, BEAM, progress=False))
    statuses = {s: third["stages"][s]["status"] for s in STAGES}
    assert statuses == {
        "input": "skipped", "curate": "skipped", "dedup": "skipped", "mix": "skipped",
        "tokenizer": "ran", "tokenize": "ran", "train": "ran", "evaluate": "ran", "report": "ran",
    }
    vocab = json.loads((ctx.run_dir / "tokenizer" / "report.json").read_text())["vocab_size"]
    assert vocab <= 640


@pytest.mark.slow
def test_from_and_until(finished_run):
    _, recipe, ctx, _ = finished_run
    info = run_stages(load_context(str(recipe), ctx.run_dir, BEAM, progress=False), from_stage="evaluate", until_stage="evaluate")
    assert info["stages"]["evaluate"]["status"] == "ran"
    assert "report" not in info["stages"]
    with pytest.raises(RunError, match="unknown stage"):
        run_stages(load_context(str(recipe), ctx.run_dir, BEAM, progress=False), from_stage="nope")


def test_from_needs_completed_earlier_stages(tmp_path):
    recipe = small_recipe(tmp_path)
    with pytest.raises(RunError, match="has not completed"):
        run_stages(load_context(str(recipe), tmp_path / "fresh", BEAM, progress=False), from_stage="train")


def test_unknown_section_key_is_named(tmp_path):
    recipe = small_recipe(tmp_path, tokenize={"val_fraction": 0.1, "shards": 3})
    ctx = load_context(str(recipe), tmp_path / "r", BEAM, progress=False)
    with pytest.raises(RunError, match="shards"):
        run_stages(ctx, until_stage="tokenize")


@pytest.mark.slow
def test_killed_training_resumes_from_its_checkpoint(tmp_path):
    train = {
        "max_steps": 400, "batch_size": 4, "seq_len": 64, "lr": 0.003, "warmup_steps": 2,
        "eval_every": 0, "checkpoint_every": 5,
    }
    recipe = small_recipe(tmp_path, train=train, evaluate={"prompts": ["The"], "max_new_tokens": 4})
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "winnow.cli", "run", str(recipe), "--output", str(run_dir), *BEAM]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    latest = run_dir / "train" / "checkpoints" / "latest.json"
    deadline = time.time() + 420
    while time.time() < deadline and proc.poll() is None:
        if latest.is_file() and json.loads(latest.read_text())["step"] >= 10:
            break
        time.sleep(0.5)
    assert proc.poll() is None, f"run ended before it could be interrupted: {proc.stderr.read().decode()[-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(latest.read_text())["step"]
    assert killed_at < 400

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[train] resuming" in done.stderr
    assert "[curate] up to date" in done.stderr
    steps = [json.loads(line)["step"] for line in (run_dir / "train" / "metrics.jsonl").read_text().splitlines() if '"train"' in line]
    assert steps == list(range(1, 401)), "every step logged exactly once across the kill and the resume"


def test_recipe_without_training_budget_is_a_clear_error(tmp_path):
    recipe = small_recipe(tmp_path)
    data = yaml.safe_load(recipe.read_text())
    data.pop("train")
    recipe.write_text(yaml.safe_dump(data))
    ctx = load_context(str(recipe), tmp_path / "r", BEAM, progress=False)
    with pytest.raises(RunError, match="no training budget"):
        run_stages(ctx, until_stage="train")
