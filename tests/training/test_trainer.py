from __future__ import annotations

import json
import math

import pytest
import torch
import yaml

from tests.training.tiny_tokens import make_token_dir
from winnow.cli import main as winnow_main
from winnow.training.checkpoint import CheckpointError, load_checkpoint
from winnow.training.config import ConfigError, ScheduleConfig, load_train_config, train_config_from_mapping
from winnow.training.model import GPT, ModelConfig
from winnow.training.trainer import NonFiniteLossError, TrainError, build_optimizer, lr_at, train

BASE = {"batch_size": 2, "seq_len": 16, "threads": 1, "lr": 3e-3, "warmup_steps": 2}


@pytest.fixture(scope="module")
def token_dir(tmp_path_factory):
    return make_token_dir(tmp_path_factory.mktemp("tok"), train_tokens=6000, val_tokens=600)


@pytest.fixture(scope="module")
def dropout_model(tmp_path_factory):
    # Dropout makes the loss depend on the torch RNG, which resume must restore.
    path = tmp_path_factory.mktemp("model") / "model.yaml"
    path.write_text("n_layer: 2\nn_head: 2\nd_model: 32\nmax_seq_len: 32\ndropout: 0.1\n")
    return str(path)


def config(**overrides):
    return train_config_from_mapping({**BASE, **overrides})


def test_exact_resume_reproduces_losses_bit_for_bit(tmp_path, token_dir, dropout_model):
    common = {"model": dropout_model, "tokens_per_step": 64, "schedule_steps": 8, "checkpoint_every": 3}
    full = train(config(max_steps=8, **common), token_dir, tmp_path / "full", progress=False)
    first = train(config(max_steps=5, **common), token_dir, tmp_path / "split", progress=False)
    rest = train(config(max_steps=8, **common), token_dir, tmp_path / "split", resume=True, progress=False)
    assert len(full.losses) == 8 and rest.start_step == 5
    assert first.losses + rest.losses == full.losses  # exact float equality
    a, b = load_checkpoint(tmp_path / "full")["model"], load_checkpoint(tmp_path / "split")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))


def test_run_directory_outputs(tmp_path, token_dir):
    result = train(config(max_steps=6, eval_every=3, checkpoint_every=4), token_dir, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert result.final_step == 6 and result.tokens_seen == 6 * 2 * 16
    assert result.losses[0] == pytest.approx(math.log(GPT_VOCAB(token_dir)), abs=0.15)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["split"] == "train"]
    val_rows = [r for r in rows if r["split"] == "val"]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4, 5, 6]
    assert {"loss", "lr", "tokens_seen", "tokens_per_s"} <= train_rows[0].keys()
    assert [r["step"] for r in val_rows] == [3, 6]
    assert val_rows[-1]["val_exact"] and val_rows[-1]["val_tokens"] == 600
    assert val_rows[-1]["val_bpb"] == pytest.approx(val_rows[-1]["val_loss"] * 600 / (math.log(2) * 2400))
    assert val_rows[-1]["val_perplexity"] == pytest.approx(math.exp(val_rows[-1]["val_loss"]))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest.json", "step-00000004.pt", "step-00000006.pt"]
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "tokenizer.json").read_bytes() == (token_dir / "tokenizer.json").read_bytes()
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded["model_config"]["n_layer"] == 4 and recorded["resolved"]["max_steps"] == 6
    assert train_config_from_mapping(recorded["train"]) == config(max_steps=6, eval_every=3, checkpoint_every=4)


def GPT_VOCAB(token_dir) -> int:
    return json.loads((token_dir / "manifest.json").read_text())["tokenizer"]["vocab_size"]


def test_gradient_accumulation_matches_one_large_batch(tmp_path, token_dir):
    # 2 micro-batches of 2 sequences vs 1 micro-batch of 4: the same rows, the same mean loss.
    accumulated = train(config(max_steps=3, tokens_per_step=64), token_dir, tmp_path / "acc", progress=False)
    one = train(config(max_steps=3, batch_size=4), token_dir, tmp_path / "one", progress=False)
    assert accumulated.losses == pytest.approx(one.losses, abs=1e-5)
    with pytest.raises(TrainError, match="not a multiple of batch_size"):
        train(config(max_steps=1, tokens_per_step=40), token_dir, tmp_path / "bad", progress=False)


def _nan_at_step(monkeypatch, bad_step: int) -> None:
    original = GPT.forward
    calls = {"n": 0}

    def forward(self, idx, targets=None, reduction="mean", return_logits=True):
        logits, loss = original(self, idx, targets, reduction, return_logits)
        if self.training:
            calls["n"] += 1
            if calls["n"] == bad_step:
                loss = loss * float("nan")
        return logits, loss

    monkeypatch.setattr(GPT, "forward", forward)


def test_nonfinite_loss_stops_naming_the_step(tmp_path, token_dir, monkeypatch):
    _nan_at_step(monkeypatch, 3)
    with pytest.raises(NonFiniteLossError, match="step 3: non-finite loss"):
        train(config(max_steps=5, checkpoint_every=2), token_dir, tmp_path / "run", progress=False)
    assert load_checkpoint(tmp_path / "run")["step"] == 2  # the last good checkpoint survives


def test_nonfinite_loss_can_skip_the_batch(tmp_path, token_dir, monkeypatch):
    _nan_at_step(monkeypatch, 3)
    result = train(config(max_steps=5, on_nonfinite="skip"), token_dir, tmp_path / "run", progress=False)
    assert result.skipped_steps == [3] and result.final_step == 5
    assert math.isnan(result.losses[2]) and all(math.isfinite(v) for i, v in enumerate(result.losses) if i != 2)
    state = load_checkpoint(tmp_path / "run")
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert int(state["optimizer"]["state"][0]["step"]) == 4  # the skipped batch made no optimizer step


def test_resume_refuses_another_tokenizer(tmp_path, token_dir):
    train(config(max_steps=2), token_dir, tmp_path / "run", progress=False)
    other = make_token_dir(tmp_path / "other", train_tokens=6000, val_tokens=0, salt=" extra words for a different merge table")
    with pytest.raises(CheckpointError, match="tokenizer sha256"):
        train(config(max_steps=4), other, tmp_path / "run", resume=True, progress=False)


def test_existing_run_directory_needs_resume_or_overwrite(tmp_path, token_dir):
    train(config(max_steps=1), token_dir, tmp_path / "run", progress=False)
    with pytest.raises(TrainError, match="pass --resume or --overwrite"):
        train(config(max_steps=1), token_dir, tmp_path / "run", progress=False)
    (tmp_path / "run" / "notes.txt").write_text("mine")
    result = train(config(max_steps=2), token_dir, tmp_path / "run", overwrite=True, progress=False)
    assert result.start_step == 0 and (tmp_path / "run" / "notes.txt").exists()


def test_schedules():
    cosine = ScheduleConfig(schedule="cosine", warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(0, 1.0, cosine, 100) == pytest.approx(0.1)
    assert lr_at(9, 1.0, cosine, 100) == pytest.approx(1.0)
    assert lr_at(55, 1.0, cosine, 100) == pytest.approx(0.55)
    assert lr_at(100, 1.0, cosine, 100) == pytest.approx(0.1)
    wsd = ScheduleConfig(schedule="wsd", warmup_steps=10, min_lr_ratio=0.0, decay_fraction=0.2)
    assert lr_at(50, 1.0, wsd, 100) == 1.0 and lr_at(79, 1.0, wsd, 100) == 1.0
    assert lr_at(89, 1.0, wsd, 100) == pytest.approx(0.5)
    assert lr_at(99, 1.0, wsd, 100) == pytest.approx(0.0)


def test_weight_decay_only_on_matrices():
    model = GPT(ModelConfig(vocab_size=64, n_layer=1, n_head=2, d_model=16))
    optimizer = build_optimizer(model, config(), torch.device("cpu"))
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == model.num_params()


def test_yaml_config_rejects_unknown_keys(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("lr: 0.01\nbatch_size: 3\nwarmup_step: 5\n")
    with pytest.raises(ConfigError, match="train.yaml: unknown key.*warmup_step"):
        load_train_config(path)
    path.write_text("lr: 0.01\nbatch_size: 3\nschedule: wsd\n")
    loaded = load_train_config(path)
    assert (loaded.optim.lr, loaded.data.batch_size, loaded.schedule.schedule) == (0.01, 3, "wsd")


MODEL_KEYS = {"n_layer": 1, "n_head": 2, "d_model": 32, "max_seq_len": 32}


def test_a_mapping_of_model_keys_is_built_by_the_strict_loader(tmp_path):
    from winnow.training.config import model_config_for

    assert model_config_for(MODEL_KEYS, 100) == ModelConfig(vocab_size=100, **MODEL_KEYS)
    where = "recipe small, section model"
    with pytest.raises(ConfigError, match=f"{where}: unknown key.*'n_layers'.*did you mean 'n_layer'"):
        model_config_for({**MODEL_KEYS, "n_layers": 2}, 100, where)
    with pytest.raises(ValueError, match=f"{where}: key 'd_model' expects int"):
        model_config_for({**MODEL_KEYS, "d_model": "wide"}, 100, where)
    with pytest.raises(ConfigError, match=f"{where}: key 'vocab_size' comes from the tokenizer"):
        model_config_for({**MODEL_KEYS, "vocab_size": 100}, 100, where)
    # A preset name and a YAML file of the same keys still work.
    assert model_config_for("tiny", 100).n_layer == 4
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(MODEL_KEYS))
    assert model_config_for(str(path), 100) == model_config_for(MODEL_KEYS, 100)


def test_training_from_a_mapping_records_it_and_resumes(tmp_path, token_dir):
    """The recipe's `model:` mapping reaches the trainer as it stands (no model.yaml in between),
    config.yaml records it, and `winnow train --resume` reads it back."""
    run = tmp_path / "run"
    train(config(max_steps=2, model=MODEL_KEYS), token_dir, run, progress=False)
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded["train"]["model"] == MODEL_KEYS and recorded["model_config"]["d_model"] == 32
    assert not list(tmp_path.rglob("model.yaml"))
    args = ["train", "--input", str(token_dir), "--output", str(run), "--max-steps", "3", "--resume", "--no-progress"]
    assert winnow_main(args) == 0
    assert load_checkpoint(run)["step"] == 3


def test_cli_train_and_user_errors(tmp_path, token_dir, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", str(token_dir), "--output", str(run), "--seq-len", "16", "--batch-size", "2", "--no-progress"]
    assert winnow_main([*args, "--max-steps", "2"]) == 0
    assert winnow_main([*args, "--max-steps", "2"]) == 2
    assert "pass --resume or --overwrite" in capsys.readouterr().err
    assert winnow_main(["train", "--data", str(tmp_path / "nope"), "--output", str(run), "--max-steps", "1"]) == 2
    assert "no such token directory" in capsys.readouterr().err
    # --resume keeps the run's recorded config and only extends max_steps.
    assert winnow_main(["train", "--data", str(token_dir), "--output", str(run), "--max-steps", "3", "--resume", "--no-progress"]) == 0
    assert load_checkpoint(run)["step"] == 3
    assert load_checkpoint(run)["train_config"]["seq_len"] == 16
    # A setting that cannot run exits 2 (TrainConfigError); a checkpoint that is not one exits 3.
    other = ["train", "--data", str(token_dir), "--output", str(tmp_path / "other"), "--max-steps", "1", "--no-progress"]
    assert winnow_main([*other, "--seq-len", "100000"]) == 2
    assert "exceeds the model's max_seq_len" in capsys.readouterr().err
    for checkpoint in (run / "checkpoints").glob("step-*.pt"):
        checkpoint.write_bytes(b"not a checkpoint")
    assert winnow_main(["train", "--data", str(token_dir), "--output", str(run), "--max-steps", "4", "--resume", "--no-progress"]) == 3
    assert "cannot read checkpoint (truncated or corrupt?)" in capsys.readouterr().err
