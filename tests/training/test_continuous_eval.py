"""Continuous evaluation during training: task accuracies and text bits per
byte at eval_every, in metrics.jsonl, and the best checkpoint by a chosen metric."""
from __future__ import annotations

import json

import pytest

from tests.training.tiny_tokens import SENTENCES, make_token_dir
from winnow.cli import main as winnow_main
from winnow.training.checkpoint import load_checkpoint
from winnow.training.config import ConfigError, train_config_from_mapping
from winnow.training.continuous_eval import metric_mode
from winnow.training.evaluate import evaluate_multiple_choice
from winnow.training.mc_tasks import load_mc_tasks
from winnow.training.model import GPT, ModelConfig
from winnow.training.trainer import TrainError, train

BASE = {"batch_size": 2, "seq_len": 16, "threads": 1, "lr": 3e-3, "warmup_steps": 2}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ceval")
    token_dir = make_token_dir(root / "tok", train_tokens=4000, val_tokens=400)
    model_yaml = root / "model.yaml"
    model_yaml.write_text("n_layer: 1\nn_head: 2\nd_model: 32\nmax_seq_len: 32\n")
    text = root / "heldout.txt"
    text.write_text(" ".join(SENTENCES[:5]), encoding="utf-8")
    tasks = root / "mini.jsonl"
    rows = [{"ctx": s.rsplit(" ", 2)[0], "endings": [s.rsplit(" ", 2)[1], "zebra", "quantum"], "label": 0} for s in SENTENCES[:5]]
    tasks.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return token_dir, str(model_yaml), text, tasks


def config(model_yaml, **overrides):
    return train_config_from_mapping({**BASE, "model": model_yaml, **overrides})


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_tasks_and_text_are_logged_at_the_eval_cadence(tmp_path, inputs):
    token_dir, model_yaml, text, tasks = inputs
    cfg = config(model_yaml, max_steps=4, eval_every=2, eval_tasks=f"{tasks},builtin:copy", eval_task_examples=3,
                 eval_text=str(text), eval_text_tokens=40, best_metric="text_bpb")
    result = train(cfg, token_dir, tmp_path / "run", progress=False)
    val = [r for r in _rows(tmp_path / "run") if r["split"] == "val"]
    assert [r["step"] for r in val] == [2, 4]
    for row in val:
        assert {"val_loss", "val_bpb", "text_bpb", "text_loss", "mini/acc", "mini/acc_norm", "mini/acc_bytes",
                "mini/chance", "copy/acc", "copy/acc_norm"} <= row.keys()
        assert row["mini/chance"] == pytest.approx(1 / 3) and row["copy/chance"] == pytest.approx(1 / 4)
        assert row["text_tokens"] == 40 and not row["text_exact"]
        # Accuracies over the subset are multiples of 1/3 (three examples).
        assert row["mini/acc"] * 3 == pytest.approx(round(row["mini/acc"] * 3))
    # The best record names the minimum of the chosen metric, and best.pt is that state.
    best_row = min(val, key=lambda r: r["text_bpb"])
    best = json.loads((tmp_path / "run" / "checkpoints" / "best.json").read_text())
    assert best == {"metric": "text_bpb", "value": pytest.approx(best_row["text_bpb"]), "step": best_row["step"], "mode": "min"}
    assert result.best["step"] == best_row["step"]
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert state["step"] == best_row["step"]
    # The last checkpoints are kept as before, beside the best.
    assert load_checkpoint(tmp_path / "run")["step"] == 4
    # The logged task accuracy is what evaluate_multiple_choice gives on the best weights.
    from tokenizers import Tokenizer

    model = GPT(ModelConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])
    tok = Tokenizer.from_file(str(token_dir / "tokenizer.json"))
    scored = evaluate_multiple_choice(model.eval(), tok, load_mc_tasks(tasks)[:3])
    assert (scored["acc"], scored["acc_norm"], scored["acc_bytes"]) == (
        best_row["mini/acc"], best_row["mini/acc_norm"], best_row["mini/acc_bytes"])

    # `winnow export/evaluate --checkpoint best` use that state.
    assert winnow_main(["export", "--run", str(tmp_path / "run"), "--output", str(tmp_path / "hf"), "--checkpoint", "best"]) == 0
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["winnow"]["checkpoint"] == "best.pt"
    out = tmp_path / "best.json"
    assert winnow_main(["evaluate", "--run", str(tmp_path / "run"), "--tasks", str(tasks), "--checkpoint", "best",
                        "--json", str(out), "--device", "cpu"]) == 0
    assert json.loads(out.read_text())["tasks"]["mini"]["examples"] == 5


def test_checkpoint_best_without_a_best_is_a_user_error(tmp_path, inputs, capsys):
    token_dir, model_yaml, _, tasks = inputs
    train(config(model_yaml, max_steps=1), token_dir, tmp_path / "run", progress=False)
    assert winnow_main(["evaluate", "--run", str(tmp_path / "run"), "--tasks", str(tasks), "--checkpoint", "best"]) == 2
    assert "has no best checkpoint; train with best_metric" in capsys.readouterr().err


def test_best_by_accuracy_is_maximised_and_resume_keeps_it(tmp_path, inputs):
    token_dir, model_yaml, _, tasks = inputs
    common = {"eval_every": 1, "eval_tasks": str(tasks), "best_metric": "mini/acc_norm", "checkpoint_every": 2}
    train(config(model_yaml, max_steps=2, **common), token_dir, tmp_path / "run", progress=False)
    first = json.loads((tmp_path / "run" / "checkpoints" / "best.json").read_text())
    assert first["mode"] == "max" and first["step"] in (1, 2)
    resumed = train(config(model_yaml, max_steps=4, **common), token_dir, tmp_path / "run", resume=True, progress=False)
    val = [r for r in _rows(tmp_path / "run") if r["split"] == "val"]
    assert [r["step"] for r in val] == [1, 2, 3, 4]
    best_value = max(r["mini/acc_norm"] for r in val)
    first_best_step = min(r["step"] for r in val if r["mini/acc_norm"] == best_value)  # ties keep the earlier
    assert resumed.best == {"metric": "mini/acc_norm", "value": best_value, "step": first_best_step}


def test_empty_val_split_still_scores_tasks(tmp_path, inputs):
    _, model_yaml, _, tasks = inputs
    token_dir = make_token_dir(tmp_path / "tok", train_tokens=3000, val_tokens=0)
    train(config(model_yaml, max_steps=2, eval_every=1, eval_tasks=str(tasks)), token_dir, tmp_path / "run", progress=False)
    val = [r for r in _rows(tmp_path / "run") if r["split"] == "val"]
    assert len(val) == 2 and all("val_loss" not in r and "mini/acc" in r for r in val)
    assert (tmp_path / "run" / "loss.png").is_file()


def test_bad_settings_fail_before_training_naming_the_key(tmp_path, inputs):
    token_dir, model_yaml, text, tasks = inputs
    with pytest.raises(TrainError, match=r"best_metric 'mini/acc' is not computed.*available: \['val_loss'"):
        train(config(model_yaml, max_steps=1, eval_every=1, best_metric="mini/acc"), token_dir, tmp_path / "a", progress=False)
    with pytest.raises(TrainError, match="needs eval_every > 0"):
        train(config(model_yaml, max_steps=1, best_metric="val_loss"), token_dir, tmp_path / "b", progress=False)
    with pytest.raises(TrainError, match="eval_tasks: .*absent.jsonl: cannot read task file") as caught:
        train(config(model_yaml, max_steps=1, eval_every=1, eval_tasks=str(tmp_path / "absent.jsonl")), token_dir, tmp_path / "c", progress=False)
    assert caught.value.exit_code == 2  # a setting that names nothing
    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text("not json\n")
    with pytest.raises(TrainError, match="eval_tasks: .*malformed.jsonl:1: not valid JSON") as caught:
        train(config(model_yaml, max_steps=1, eval_every=1, eval_tasks=str(malformed)), token_dir, tmp_path / "c2", progress=False)
    assert caught.value.exit_code == 3  # a task file that exists but cannot be used
    with pytest.raises(TrainError, match="eval_text: .*nope.txt: no such text file"):
        train(config(model_yaml, max_steps=1, eval_every=1, eval_text=str(tmp_path / "nope.txt")), token_dir, tmp_path / "d", progress=False)
    with pytest.raises(ConfigError, match="eval_task_examples"):
        config(model_yaml, eval_task_examples=0)
    assert not (tmp_path / "a").exists()  # nothing was written


def test_metric_modes():
    assert [metric_mode(m) for m in ("val_loss", "val_bpb", "text_bpb", "val_perplexity")] == ["min"] * 4
    assert [metric_mode(m) for m in ("copy/acc", "hs/acc_norm", "hs/acc_bytes")] == ["max"] * 3


def test_report_draws_the_continuous_evaluation_curves(tmp_path, inputs):
    from winnow.report.render import html_evaluation, html_training
    from winnow.report.sections import build_training

    token_dir, model_yaml, text, tasks = inputs
    cfg = config(model_yaml, max_steps=2, eval_every=1, eval_tasks=str(tasks), eval_text=str(text), eval_text_tokens=20)
    train(cfg, token_dir, tmp_path / "run" / "train", progress=False)
    training = build_training(tmp_path / "run")
    assert set(training["_eval_curves"]) == {"val_bpb", "text_bpb", "mini/acc", "mini/acc_norm", "mini/acc_bytes"}
    assert [step for step, _ in training["_eval_curves"]["mini/acc"]] == [1, 2]
    assert training["_eval_chance"] == {"mini": pytest.approx(1 / 3)}
    assert html_training(training).count("<img") == 2  # the loss chart and the evaluation curves
    page = html_evaluation({"language_modelling": {}, "tasks": {"mini": {"acc": 0.5, "acc_stderr": 0.25, "acc_norm": 0.5, "n": 4, "chance": 0.25}}})
    assert "0.5000 ± 0.2500" in page and "chance" in page
