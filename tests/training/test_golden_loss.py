"""Golden loss curve: the first losses of a fixed tiny configuration on fixed
data, pinned to 1e-5 (torchtitan's practice). A refactor of the trainer, the
data loader, the model or the optimizer that changes the numerics fails here
loudly instead of drifting unnoticed.

If a change is *meant* to alter the numerics (a new initialisation, another
loss kernel), re-pin the values from the printed actual losses and say why in
the change description.
"""
from __future__ import annotations

import pytest
import torch

from tests.training.tiny_tokens import make_token_dir
from winnow.training.config import train_config_from_mapping
from winnow.training.trainer import train

# fp32 on CPU, one thread, deterministic algorithms, seed 1234 (see _config).
GOLDEN_TRAIN_LOSSES = [
    5.704730033874512,
    5.682448387145996,
    5.6734514236450195,
    5.5667314529418945,
    5.569568634033203,
    5.462845802307129,
    5.324519157409668,
    5.294804573059082,
]
GOLDEN_VAL_LOSSES = [(4, 5.490925006866455), (8, 5.386174964904785)]
TOLERANCE = 1e-5


def _config(model_yaml: str):
    # Two micro-batches per step (gradient accumulation) and a warmup, so the
    # accumulation and the schedule are pinned too.
    return train_config_from_mapping(
        {
            "model": model_yaml,
            "max_steps": 8,
            "batch_size": 2,
            "seq_len": 16,
            "tokens_per_step": 64,
            "threads": 1,
            "lr": 3e-3,
            "warmup_steps": 2,
            "seed": 1234,
            "device": "cpu",
            "deterministic": True,
            "eval_every": 4,
            "checkpoint_every": 4,
        }
    )


def test_first_losses_match_the_golden_curve(tmp_path):
    token_dir = make_token_dir(tmp_path / "tok", train_tokens=4000, val_tokens=400, seed=7)
    model_yaml = tmp_path / "model.yaml"
    model_yaml.write_text("n_layer: 2\nn_head: 2\nd_model: 32\nmax_seq_len: 32\n")
    assert torch.get_default_dtype() == torch.float32
    result = train(_config(str(model_yaml)), token_dir, tmp_path / "run", progress=False)
    assert result.losses == pytest.approx(GOLDEN_TRAIN_LOSSES, abs=TOLERANCE), f"actual train losses: {result.losses!r}"
    assert [step for step, _ in result.val_losses] == [step for step, _ in GOLDEN_VAL_LOSSES]
    actual_val = [loss for _, loss in result.val_losses]
    assert actual_val == pytest.approx([loss for _, loss in GOLDEN_VAL_LOSSES], abs=TOLERANCE), f"actual val losses: {result.val_losses!r}"
