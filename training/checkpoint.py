"""Atomic checkpoints in a run directory, and loading them safely.

Layout: RUN_DIR/checkpoints/step-00000100.pt plus checkpoints/latest.json
(`{"step": 100, "file": "step-00000100.pt"}`). A checkpoint is written to a
temporary file, fsynced and renamed; only then does latest.json move to it
(also by rename), and only then are older checkpoints beyond `keep_last`
deleted. A crash at any point leaves latest.json naming a complete file.

Checkpoints hold only tensors and plain containers, so they load with
`torch.load(weights_only=True)`: no code runs when reading one.
"""
from __future__ import annotations

import json
import pickle
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from winnow.core.atomic import atomic_open
from winnow.training.model import GPT, ModelConfig
from winnow.core.errors import ConfigurationError, ErrorFamily, InputError

CHECKPOINT_FORMAT = "winnow-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
LATEST_FILE = "latest.json"
TOKENIZER_FILE = "tokenizer.json"
_NAME = re.compile(r"^step-(\d{8})\.pt$")
REQUIRED_KEYS = (
    "format",
    "version",
    "model",
    "optimizer",
    "step",
    "tokens_seen",
    "model_config",
    "train_config",
    "tokenizer_sha256",
    "data_state",
    "rng",
)


class CheckpointError(ErrorFamily):
    """A checkpoint is missing, truncated, foreign or does not match the run; names the file."""


class CheckpointMissing(CheckpointError, ConfigurationError):
    """The checkpoint asked for does not exist (no such file, none written yet, a directory that is
    not a training run); exit 2."""


class CheckpointUnusable(CheckpointError, InputError):
    """A checkpoint (or its run directory) exists but cannot be used: corrupt, foreign, mismatched; exit 3."""


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}.pt"


def save_checkpoint(run_dir: str | Path, state: dict[str, Any], keep_last: int | None = None) -> Path:
    """Write `state` (the keys of REQUIRED_KEYS; format/version are filled in)
    as checkpoints/step-NNNNNNNN.pt, then point latest.json at it, then prune
    all but the newest `keep_last` checkpoints (None keeps all)."""
    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state is missing key(s) {missing}")
    directory = Path(run_dir) / CHECKPOINT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    step = int(state["step"])
    path = directory / checkpoint_name(step)
    with atomic_open(path, "wb") as f:  # a crash leaves the previous checkpoint, never half of one
        torch.save(state, f)
    latest = json.dumps({"step": step, "file": path.name}).encode()
    with atomic_open(directory / LATEST_FILE, "wb") as f:
        f.write(latest)
    if keep_last is not None:
        older = sorted(p for p in directory.iterdir() if _NAME.match(p.name) and p.name != path.name)
        for stale in older[: max(0, len(older) - (keep_last - 1))]:
            stale.unlink()
    return path


def latest_checkpoint_path(run_dir: str | Path) -> Path:
    """The checkpoint latest.json names in RUN_DIR/checkpoints (or in the directory itself)."""
    run_dir = Path(run_dir)
    directory = run_dir / CHECKPOINT_DIR if (run_dir / CHECKPOINT_DIR).is_dir() else run_dir
    latest = directory / LATEST_FILE
    try:
        record = json.loads(latest.read_text(encoding="utf-8"))
        name = record["file"]
    except FileNotFoundError:
        raise CheckpointMissing(f"{latest}: no checkpoint has been written in {run_dir}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointUnusable(f"{latest}: unreadable latest-checkpoint record: {exc!r}") from exc
    if not isinstance(name, str) or not _NAME.match(name):
        raise CheckpointUnusable(f"{latest}: names {name!r}, which is not a checkpoint file name")
    return directory / name


def _config_dict(config: ModelConfig | dict[str, Any]) -> dict[str, Any]:
    return config.to_dict() if isinstance(config, ModelConfig) else dict(config)


def load_checkpoint(
    path_or_run_dir: str | Path,
    expected_model_config: ModelConfig | dict[str, Any] | None = None,
    expected_tokenizer_sha256: str | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint file, or a run directory's latest one, with weights_only=True.

    Raises CheckpointError naming the file when it is truncated or corrupt, is
    not a Winnow checkpoint, or was trained with another model config or
    tokenizer than expected.
    """
    path = Path(path_or_run_dir)
    if path.is_dir():
        path = latest_checkpoint_path(path)
    if not path.is_file():
        raise CheckpointMissing(f"{path}: checkpoint file does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointUnusable(f"{path}: cannot read checkpoint (truncated or corrupt?): {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointUnusable(f"{path}: not a Winnow checkpoint (format must be {CHECKPOINT_FORMAT!r})")
    if state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointUnusable(f"{path}: checkpoint version {state.get('version')!r} is not supported")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointUnusable(f"{path}: checkpoint lacks key(s) {missing}")
    if expected_tokenizer_sha256 is not None and state["tokenizer_sha256"] != expected_tokenizer_sha256:
        raise CheckpointUnusable(
            f"{path}: trained with tokenizer sha256 {state['tokenizer_sha256'][:12]}..., "
            f"but this run's tokenizer is {expected_tokenizer_sha256[:12]}..."
        )
    if expected_model_config is not None:
        want, have = _config_dict(expected_model_config), dict(state["model_config"])
        diffs = [
            f"{k}: checkpoint {have.get(k)!r} vs expected {want.get(k)!r}"
            for k in sorted(want.keys() | have.keys())
            if have.get(k) != want.get(k)
        ]
        if diffs:
            raise CheckpointUnusable(f"{path}: model config differs from the run's: {'; '.join(diffs)}")
    return state


def load_model_for_inference(
    run_dir: str | Path, device: str | torch.device = "cpu", checkpoint: str | Path | None = None
) -> tuple[GPT, ModelConfig, Any]:
    """(model in eval mode on `device`, its config, its tokenizers.Tokenizer) from the latest
    checkpoint, or from the `checkpoint` file given; checked against the run's tokenizer."""
    from tokenizers import Tokenizer

    from winnow.training.shard_format import sha256_file

    run_dir = Path(run_dir)
    tokenizer_path = run_dir / TOKENIZER_FILE
    if not tokenizer_path.is_file():
        raise CheckpointMissing(f"{tokenizer_path}: run directory has no tokenizer.json")
    source = Path(checkpoint) if checkpoint is not None else run_dir
    state = load_checkpoint(source, expected_tokenizer_sha256=sha256_file(tokenizer_path), map_location=device)
    try:
        config = ModelConfig.from_dict(dict(state["model_config"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointUnusable(f"{source}: checkpoint model_config is invalid: {exc}") from exc
    model = GPT(config)
    model.load_state_dict(state["model"])
    model.to(device).eval()
    return model, config, Tokenizer.from_file(str(tokenizer_path))


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as tensors and plain containers."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal.tolist()), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": int(np_state["pos"])},
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        }
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
