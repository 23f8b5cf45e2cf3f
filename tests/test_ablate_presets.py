"""Instrument presets: what the command line leaves out comes from the preset; what it gives wins."""
from __future__ import annotations

import pytest

from winnow.ablation.presets import DEFAULT_PRESET, PRESETS
from winnow.cli import build_parser
from winnow.cli.run import _instrument
from winnow.core.errors import ConfigurationError
from winnow.training.model import PRESETS as MODEL_PRESETS


def _parsed(*flags: str):
    args, _ = build_parser().parse_known_args(["ablate", "calibrate", "--clean", "clean.jsonl", "--eval-text", "ref.txt", *flags])
    return args


def test_the_default_preset_fills_every_instrument_setting():
    instrument = _instrument(_parsed())
    preset = PRESETS[DEFAULT_PRESET]
    assert DEFAULT_PRESET == "cpu" and instrument.preset == "cpu"
    assert instrument.model == preset.model == "micro"
    assert instrument.budget_tokens == preset.budget_tokens
    assert instrument.seeds == preset.seeds and len(instrument.seeds) == 5
    assert instrument.train_overrides == dict(preset.train)
    assert instrument.train_overrides["min_lr_ratio"] == 0.0  # decayed to zero: the last checkpoints are calm
    assert instrument.score.eval_tokens == preset.eval_tokens
    assert instrument.score.blimp_per_paradigm == preset.blimp_pairs
    assert instrument.score.average_last == preset.average_last


def test_flags_given_explicitly_win_over_the_preset():
    instrument = _instrument(_parsed("--model", "tiny", "--seeds", "0", "1", "--budget-tokens", "5000", "--train", "lr=0.01",
                                     "--eval-tokens", "0", "--blimp-pairs", "0", "--average-last", "1"))
    assert (instrument.model, instrument.seeds, instrument.budget_tokens) == ("tiny", (0, 1), 5000)
    # One --train key replaces only that key of the preset's training settings.
    assert instrument.train_overrides["lr"] == 0.01
    assert instrument.train_overrides["batch_size"] == PRESETS["cpu"].train["batch_size"]
    # 0 means "all" for the scoring sizes, as it did before presets.
    assert instrument.score.eval_tokens is None and instrument.score.blimp_per_paradigm is None
    assert instrument.score.average_last == 1


def test_anneal_mode_keeps_its_own_budget_default():
    # An anneal's budget is a share of the base tokens unless given (winnow/ablation/anneal.py).
    assert _instrument(_parsed("--mode", "anneal", "--base", "base.jsonl")).budget_tokens is None


def test_the_gpu_preset_and_every_preset_names_a_real_model():
    assert _instrument(_parsed("--preset", "gpu")).model == "small"
    for preset in PRESETS.values():
        assert preset.model in MODEL_PRESETS
        assert preset.measured, "each preset says where its numbers come from"


@pytest.mark.parametrize("flags", [("--preset", "laptop"), ("--budget-tokens", "0"), ("--eval-tokens", "-1")])
def test_bad_preset_values_are_usage_errors(flags, capsys):
    if flags[0] == "--preset":
        with pytest.raises(SystemExit) as exited:
            _parsed(*flags)
        assert exited.value.code == 2 and "invalid choice: 'laptop'" in capsys.readouterr().err
    else:
        with pytest.raises(ConfigurationError, match=flags[0]):
            _instrument(_parsed(*flags))
