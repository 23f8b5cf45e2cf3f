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

from winnow.cli import main
from winnow.curation.config import RecipeError
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
    with pytest.raises(RecipeError, match="section tokenize: unknown key.*'shards'.*did you mean 'shard_tokens'"):
        load_context(str(recipe), tmp_path / "r", BEAM, progress=False)
    assert not (tmp_path / "r").exists()  # nothing ran, not even the input stage


@pytest.mark.slow
def test_killed_training_resumes_from_its_checkpoint(tmp_path):
    # Killed at its first checkpoint (step 5): the 55 steps, final checkpoint and evaluation
    # still to come give the 20 ms polling loop a wide margin on any machine, and a
    # busy machine only widens it. No step of this test is timed against the clock.
    max_steps = 60
    train = {
        "max_steps": max_steps, "batch_size": 4, "seq_len": 64, "lr": 0.003, "warmup_steps": 2,
        "eval_every": 0, "checkpoint_every": 5,
    }
    recipe = small_recipe(tmp_path, train=train, evaluate={"prompts": ["The"], "max_new_tokens": 4})
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "winnow.cli", "run", str(recipe), "--output", str(run_dir), *BEAM]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # stderr goes to a file: a pipe nobody reads while we poll could fill up and stall the run.
    with open(tmp_path / "first.stderr", "wb") as stderr:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    latest = run_dir / "train" / "checkpoints" / "latest.json"
    while proc.poll() is None and not latest.is_file():
        time.sleep(0.02)
    assert proc.poll() is None, f"run ended before it could be interrupted: {(tmp_path / 'first.stderr').read_text()[-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(latest.read_text())["step"]
    assert 5 <= killed_at < max_steps

    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[train] resuming" in done.stderr
    assert "[curate] up to date" in done.stderr
    steps = [json.loads(line)["step"] for line in (run_dir / "train" / "metrics.jsonl").read_text().splitlines() if '"train"' in line]
    assert steps == list(range(1, max_steps + 1)), "every step logged exactly once across the kill and the resume"


def test_recipe_without_training_budget_is_a_clear_error(tmp_path):
    recipe = small_recipe(tmp_path)
    data = yaml.safe_load(recipe.read_text())
    data.pop("train")
    recipe.write_text(yaml.safe_dump(data))
    ctx = load_context(str(recipe), tmp_path / "r", BEAM, progress=False)
    with pytest.raises(RunError, match="no training budget"):
        run_stages(ctx, until_stage="train")


# --- the whole recipe is checked before any stage runs --------------------------------------

TYPO_IN_EVERY_SECTION = [
    # (section, value, the key named, the key suggested)
    ("input", {"path": ["crawl/*.warc.gz"]}, "path", "paths"),
    ("input", {"sample": {"page": 10}}, "page", "pages"),
    ("steps", [{"extract": {"favour_precision": True}}], "favour_precision", "favor_precision"),
    ("steps", [{"languag": {}}], "languag", "language"),
    ("dedup", {"bandz": 14}, "bandz", "bands"),
    ("mix", {"weights": {"web": 1.0}, "sed": 3}, "sed", "seed"),
    ("tokenizer", {"vocab_sise": 600}, "vocab_sise", "vocab_size"),
    ("tokenize", {"val_fractoin": 0.1}, "val_fractoin", "val_fraction"),
    ("model", {"n_layer": 2, "n_head": 2, "d_model": 64, "n_layers": 2}, "n_layers", "n_layer"),
    ("train", {"max_step": 3}, "max_step", "max_steps"),
    ("evaluate", {"prompt": ["The"]}, "prompt", "prompts"),
    ("beam_options", ["--direct_num_worker=2"], "--direct_num_worker", "--direct_num_workers"),
    ("dedupe", {}, "dedupe", "dedup"),
]


@pytest.mark.parametrize("section, value, key, suggested", TYPO_IN_EVERY_SECTION, ids=[f"{t[0]}-{t[2]}" for t in TYPO_IN_EVERY_SECTION])
def test_a_typo_in_any_section_is_an_error_before_any_stage(tmp_path, capsys, section, value, key, suggested):
    recipe = small_recipe(tmp_path, **{section: value})
    run_dir = tmp_path / "run"
    assert main(["run", str(recipe), "--output", str(run_dir), *BEAM]) == 2
    err = capsys.readouterr().err
    assert key in err and f"did you mean {suggested}" in err.replace("'", ""), err
    assert not run_dir.exists(), "a stage ran"


@pytest.mark.parametrize(
    "section, value, message",
    [
        ("train", {"max_steps": "many"}, "section train: key 'max_steps' expects int | None, got 'many'"),
        ("tokenizer", {"vocab_size": 600.5}, "section tokenizer: key 'vocab_size' expects int"),
        ("input", {"paths": 3}, "section input: key 'paths' expects"),
        ("evaluate", {"tasks": "sentences:val"}, "section evaluate: key 'tasks' expects tuple[str, ...]"),
        ("model", {"n_layer": 2, "n_head": 3, "d_model": 64}, "section model"),
        ("model", "tinyy", "section model: 'tinyy' is neither a preset"),
        ("dedup", {"threshold": "high"}, "section dedup: key 'threshold' expects"),
        ("beam_options", "--direct_num_workers=2", "section beam_options: expected a list of strings"),
        ("train", {"max_steps": 10, "warmup_steps": 50}, "warmup_steps 50 is longer than the run (10 steps)"),
        ("evaluate", {"tasks": ["missing-task.jsonl"]}, "section evaluate, tasks: missing-task.jsonl does not exist"),
        ("steps", [{"classifier": {"model": "no-such-model.bin"}}], "step classifier, model: no-such-model.bin does not exist"),
        ("train", {"max_steps": 3, "model": "small"}, "section train: key 'model' belongs in the recipe's model: section"),
        ("model", {"n_layer": 2, "n_head": 2, "d_model": 64, "vocab_size": 99}, "section model: key 'vocab_size' comes from the tokenizer"),
    ],
)
def test_wrong_types_and_cross_field_rules_fail_before_any_stage(tmp_path, capsys, monkeypatch, section, value, message):
    monkeypatch.chdir(tmp_path)
    recipe = small_recipe(tmp_path, **{section: value})
    assert main(["run", str(recipe), "--output", "run", *BEAM]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_model_mapping_reaches_the_trainer_as_it_stands(tmp_path):
    from winnow.runner import train_config
    from winnow.training.config import model_config_for

    keys = {"n_layer": 2, "n_head": 2, "d_model": 64, "max_seq_len": 64}
    ctx = load_context(str(small_recipe(tmp_path, model=keys)), tmp_path / "r", BEAM, progress=False)
    config = train_config(ctx)
    assert config.model == keys and config.max_steps == 12
    assert model_config_for(config.model, 600).d_model == 64
    assert not (tmp_path / "r" / "model.yaml").exists()  # no file between the recipe and the trainer
    preset = load_context(str(small_recipe(tmp_path, model="tiny")), tmp_path / "r2", BEAM, progress=False)
    assert train_config(preset).model == "tiny"


def test_every_problem_is_listed_at_once(tmp_path):
    recipe = small_recipe(tmp_path, train={"max_step": 3}, tokenize={"shards": 2}, input={"path": "x"})
    with pytest.raises(RecipeError) as error:
        load_context(str(recipe), tmp_path / "r", BEAM)
    text = str(error.value)
    assert "section train" in text and "section tokenize" in text and "section input" in text


def test_a_training_budget_is_needed_only_when_training_runs(tmp_path, capsys):
    recipe = small_recipe(tmp_path, train={"batch_size": 4})
    assert main(["run", str(recipe), "--output", str(tmp_path / "r"), "--until", "train", *BEAM]) == 2
    err = capsys.readouterr().err
    assert "section train: no training budget" in err and not (tmp_path / "r" / "stages").exists()
    ctx = load_context(str(recipe), tmp_path / "r2", BEAM, progress=False)
    assert run_stages(ctx, until_stage="input")["stages"]["input"]["status"] == "ran"


def test_default_warmup_longer_than_the_run_is_a_warning(tmp_path, capsys):
    from winnow.runner import check_plan

    recipe = small_recipe(tmp_path, train={"max_steps": 30, "batch_size": 4})
    ctx = load_context(str(recipe), tmp_path / "r", BEAM)
    (warning,) = check_plan(ctx, STAGES)
    assert "section train: the default warmup_steps 100 is longer than the run (30 steps)" in warning
    assert check_plan(ctx, STAGES[:-4]) == []  # training does not run: nothing to say


def test_input_paths_replace_the_sample(tmp_path):
    archive = tmp_path / "a.warc.gz"
    archive.write_bytes(b"")
    recipe = small_recipe(tmp_path, input={"paths": str(archive)})
    info = run_stages(load_context(str(recipe), tmp_path / "r", BEAM, progress=False), until_stage="input")
    assert info["stages"]["input"]["counts"] == {"files": 1}
    with pytest.raises(RecipeError, match="give 'paths' or 'sample', not both"):
        load_context(str(small_recipe(tmp_path, input={"paths": [str(archive)], "sample": {"pages": 3}})), tmp_path / "r3")
