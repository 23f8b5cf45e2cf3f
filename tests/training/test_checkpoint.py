from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from tests.training.tiny_tokens import make_token_dir
from winnow.training.checkpoint import (
    CheckpointError,
    capture_rng_state,
    latest_checkpoint_path,
    load_checkpoint,
    load_model_for_inference,
    restore_rng_state,
    save_checkpoint,
)
from winnow.training.config import train_config_from_mapping
from winnow.training.model import GPT, ModelConfig
from winnow.training.trainer import train

CONFIG = ModelConfig(vocab_size=64, n_layer=1, n_head=2, d_model=16, max_seq_len=8)
SHA = "a" * 64


def _state(step: int, model: GPT | None = None) -> dict:
    model = model or GPT(CONFIG)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.zeros((1, 4), dtype=torch.long), torch.zeros((1, 4), dtype=torch.long))[1].backward()
    optimizer.step()
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "tokens_seen": step * 32,
        "model_config": CONFIG.to_dict(),
        "train_config": {"lr": 1e-3, "max_steps": None},
        "tokenizer_sha256": SHA,
        "data_state": {"next_step": step},
        "rng": capture_rng_state(),
    }


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = GPT(CONFIG)
    path = save_checkpoint(tmp_path, _state(5, model))
    assert path == tmp_path / "checkpoints" / "step-00000005.pt"
    assert json.loads((tmp_path / "checkpoints" / "latest.json").read_text()) == {"step": 5, "file": path.name}
    state = load_checkpoint(tmp_path, expected_model_config=CONFIG, expected_tokenizer_sha256=SHA)
    assert state["step"] == 5 and state["format"] == "winnow-checkpoint" and state["version"] == 1
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state["model"].items())
    # Plain weights_only loading works: the file holds only tensors and containers.
    assert torch.load(path, weights_only=True)["tokens_seen"] == 160
    assert not list((tmp_path / "checkpoints").glob(".*tmp*"))


def test_latest_moves_and_old_checkpoints_are_pruned(tmp_path):
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, _state(step), keep_last=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*.pt"))
    assert names == ["step-00000003.pt", "step-00000004.pt"]
    assert latest_checkpoint_path(tmp_path).name == "step-00000004.pt"


def test_truncated_checkpoint_is_named(tmp_path):
    path = save_checkpoint(tmp_path, _state(1))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="step-00000001.pt.*truncated or corrupt"):
        load_checkpoint(tmp_path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="step-00000001.pt"):
        load_checkpoint(path)


def test_foreign_and_mismatched_checkpoints(tmp_path):
    path = save_checkpoint(tmp_path, _state(1))
    other = ModelConfig(vocab_size=64, n_layer=2, n_head=2, d_model=16, max_seq_len=8)
    with pytest.raises(CheckpointError, match="n_layer: checkpoint 1 vs expected 2"):
        load_checkpoint(path, expected_model_config=other)
    with pytest.raises(CheckpointError, match="tokenizer sha256 aaaaaaaaaaaa"):
        load_checkpoint(path, expected_tokenizer_sha256="b" * 64)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt: not a Winnow checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="elsewhere: checkpoint file does not exist"):
        load_checkpoint(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint has been written"):
        load_checkpoint(tmp_path / "elsewhere")


def test_rng_state_round_trip():
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    state = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(3))
    random.random(), np.random.rand(), torch.rand(3)
    restore_rng_state(state)
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


def test_load_model_for_inference_from_a_run(tmp_path):
    data = make_token_dir(tmp_path / "tok", train_tokens=2000, val_tokens=0)
    config = train_config_from_mapping({"max_steps": 2, "batch_size": 2, "seq_len": 16, "threads": 1})
    train(config, data, tmp_path / "run", progress=False)
    model, model_config, tokenizer = load_model_for_inference(tmp_path / "run")
    assert not model.training and model_config.n_layer == 4
    assert tokenizer.get_vocab_size() == model_config.vocab_size
    saved = load_checkpoint(tmp_path / "run")["model"]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in saved.items())
    # A tokenizer.json swapped after training is refused.
    (tmp_path / "run" / "tokenizer.json").write_text((tmp_path / "run" / "tokenizer.json").read_text() + " ")
    with pytest.raises(CheckpointError, match="tokenizer sha256"):
        load_model_for_inference(tmp_path / "run")
