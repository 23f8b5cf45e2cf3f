"""Instrument presets: the defaults of `winnow ablate` and `winnow ablate calibrate`.

A preset fills every instrument setting the command line leaves out (model,
token budget, seeds, training schedule, scoring sizes); a flag given
explicitly always wins, and so does each `--train KEY=VALUE` key. The numbers
come from the runs in docs/ablations.md ("Choosing the CPU preset"):

- `cpu` (the default) is what a 2-core machine affords for a calibration of
  six arms and five seeds in about 45 minutes: the `micro` model (0.11M
  non-embedding parameters) on 1M tokens (about 9 tokens per parameter; 20 is
  compute-optimal, but 2M tokens would not fit six arms and five seeds in 45
  minutes),
  the learning rate decayed to zero so the last checkpoints are not dominated
  by optimiser noise, and five paired seeds (with three, a difference must
  exceed 7.3 standard deviations of the paired differences to pass p < 0.01;
  with five, 2.6).
- `gpu` scales the same recipe to the `small` model on one GPU. It is sized by
  the 20-tokens-per-parameter rule, not by a measured run: no GPU was
  available when it was set (docs/ablations.md says so).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping


@dataclass(frozen=True)
class InstrumentPreset:
    name: str
    model: str  # a training model preset (training/model.py PRESETS)
    budget_tokens: int  # training tokens per model; still capped by --max-epochs
    seeds: tuple[int, ...]
    train: Mapping[str, Any]  # TrainConfig keys, under the user's --train keys
    eval_tokens: int | None  # reference-text tokens scored per checkpoint (None: all)
    blimp_pairs: int  # pairs per BLiMP paradigm (0: all)
    average_last: int  # checkpoints whose scores are averaged
    measured: str  # where the numbers come from


PRESETS: dict[str, InstrumentPreset] = {
    "cpu": InstrumentPreset(
        name="cpu",
        model="micro",
        budget_tokens=1_000_000,
        seeds=(0, 1, 2, 3, 4),
        train=MappingProxyType({"batch_size": 32, "lr": 0.005, "warmup_steps": 20, "min_lr_ratio": 0.0}),
        eval_tokens=50_000,
        blimp_pairs=20,
        average_last=3,
        measured="docs/ablations.md, 'Choosing the CPU preset' (2-core CPU)",
    ),
    "gpu": InstrumentPreset(
        name="gpu",
        model="small",
        budget_tokens=400_000_000,
        seeds=(0, 1, 2, 3, 4),
        train=MappingProxyType({"batch_size": 64, "lr": 0.001, "warmup_steps": 200, "min_lr_ratio": 0.0}),
        eval_tokens=None,
        blimp_pairs=0,
        average_last=3,
        measured="not measured: sized at 20 tokens per non-embedding parameter of `small` (19.3M)",
    ),
}
DEFAULT_PRESET = "cpu"


def train_settings(preset: InstrumentPreset, given: Mapping[str, Any]) -> dict[str, Any]:
    """The preset's training keys under the user's: a key given with --train wins."""
    return {**preset.train, **given}
