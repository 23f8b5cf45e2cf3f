"""Training configuration: one frozen dataclass per component, one strict loader.

A YAML train config is a flat mapping whose keys are the `winnow train` flags
with underscores (`batch_size`, `lr`, `warmup_steps`, ...); each key belongs to
exactly one component. Unknown keys and wrong types are rejected with a message
naming the key and the file. (Training never imports `winnow.curation`, so this
is a small loader of its own rather than `curation.config.config_from_mapping`.)
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEDULES = ("cosine", "wsd")
DEVICES = ("auto", "cpu", "cuda")
NONFINITE_STOP = "stop"
NONFINITE_SKIP = "skip"
NONFINITE_ACTIONS = (NONFINITE_STOP, NONFINITE_SKIP)


class ConfigError(ValueError):
    """A training config is invalid; the message names the key and its source."""


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.1  # applied to 2-D weights only (matmuls, embeddings)
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float | None = 1.0  # max global grad norm; None disables clipping
    fused: bool | None = None  # None = fused AdamW on CUDA, the for-each kernel elsewhere

    def __post_init__(self) -> None:
        _require(self.lr > 0, "lr", f"must be positive, got {self.lr}")
        _require(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        _require(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1/beta2", "must be in [0, 1)")
        _require(self.grad_clip is None or self.grad_clip > 0, "grad_clip", f"must be positive, got {self.grad_clip}")


@dataclass(frozen=True)
class ScheduleConfig:
    schedule: str = "cosine"  # warmup + cosine to min_lr, or warmup-stable-decay
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # the final learning rate as a fraction of lr
    decay_fraction: float = 0.2  # WSD: the final fraction of steps that decays linearly
    # The horizon the decay is laid out over; None = max_steps. Fix it when a
    # run is stopped early (smaller max_steps) and resumed, so the schedule of
    # the interrupted run is the schedule of the whole run.
    schedule_steps: int | None = None

    def __post_init__(self) -> None:
        _require(self.schedule in SCHEDULES, "schedule", f"must be one of {SCHEDULES}, got {self.schedule!r}")
        _require(self.warmup_steps >= 0, "warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        _require(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", f"must be in [0, 1], got {self.min_lr_ratio}")
        _require(0 < self.decay_fraction <= 1, "decay_fraction", f"must be in (0, 1], got {self.decay_fraction}")
        _require(
            self.schedule_steps is None or self.schedule_steps > 0,
            "schedule_steps",
            f"must be positive, got {self.schedule_steps}",
        )


@dataclass(frozen=True)
class DataConfig:
    batch_size: int = 8  # sequences per micro-batch on each rank
    seq_len: int | None = None  # None = the model's max_seq_len
    tokens_per_step: int | None = None  # None = one micro-batch per rank (no accumulation)

    def __post_init__(self) -> None:
        _require(self.batch_size > 0, "batch_size", f"must be positive, got {self.batch_size}")
        _require(self.seq_len is None or self.seq_len > 0, "seq_len", f"must be positive, got {self.seq_len}")
        _require(
            self.tokens_per_step is None or self.tokens_per_step > 0,
            "tokens_per_step",
            f"must be positive, got {self.tokens_per_step}",
        )


@dataclass(frozen=True)
class CheckpointConfig:
    checkpoint_every: int = 500  # steps; a checkpoint is also written at the end
    keep_last: int = 2  # older checkpoints are deleted once a newer one is complete

    def __post_init__(self) -> None:
        _require(self.checkpoint_every > 0, "checkpoint_every", f"must be positive, got {self.checkpoint_every}")
        _require(self.keep_last >= 1, "keep_last", f"must be >= 1, got {self.keep_last}")


@dataclass(frozen=True)
class EvalConfig:
    """Continuous evaluation beside the validation loss, at train.eval_every
    (see training/continuous_eval.py and docs/evaluation.md)."""

    eval_tasks: str | None = None  # comma-separated multiple-choice task files or builtin:NAME
    eval_task_examples: int = 64  # the first N examples of each task per pass (a cheap, fixed subset)
    eval_text: str | None = None  # a .txt file or curated Parquet whose bits per byte are tracked
    eval_text_tokens: int | None = 16384  # predicted tokens of eval_text per pass; None = all of it
    # Keep checkpoints/best.pt by this metric (val_loss, val_bpb, text_bpb, TASK/acc_norm, ...); None = last only.
    best_metric: str | None = None

    def __post_init__(self) -> None:
        _require(self.eval_task_examples > 0, "eval_task_examples", f"must be positive, got {self.eval_task_examples}")
        _require(
            self.eval_text_tokens is None or self.eval_text_tokens > 0,
            "eval_text_tokens",
            f"must be positive, got {self.eval_text_tokens}",
        )


@dataclass(frozen=True)
class TrainConfig:
    model: str = "tiny"  # preset name or a YAML file of ModelConfig keys
    max_steps: int | None = None
    max_tokens: int | None = None  # alternative to max_steps: ceil(max_tokens / tokens_per_step) steps
    eval_every: int = 0  # steps between validation passes; 0 disables
    eval_tokens: int | None = 65536  # validation tokens per pass; None = the whole split
    eval_batch_size: int | None = None  # None = batch_size
    log_every: int = 1
    seed: int = 1337
    device: str = "auto"
    compile: bool = False
    threads: int | None = None  # CPU threads per process; None = cores / local processes
    deterministic: bool = True  # torch.use_deterministic_algorithms (bit-exact resume on CPU)
    on_nonfinite: str = NONFINITE_STOP
    tensorboard: bool = False
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: DataConfig = field(default_factory=DataConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        _require(self.device in DEVICES, "device", f"must be one of {DEVICES}, got {self.device!r}")
        _require(
            self.on_nonfinite in NONFINITE_ACTIONS,
            "on_nonfinite",
            f"must be one of {NONFINITE_ACTIONS}, got {self.on_nonfinite!r}",
        )
        _require(self.max_steps is None or self.max_steps > 0, "max_steps", f"must be positive, got {self.max_steps}")
        _require(self.max_tokens is None or self.max_tokens > 0, "max_tokens", f"must be positive, got {self.max_tokens}")
        _require(self.eval_every >= 0, "eval_every", f"must be >= 0, got {self.eval_every}")
        _require(self.log_every > 0, "log_every", f"must be positive, got {self.log_every}")
        _require(self.threads is None or self.threads > 0, "threads", f"must be positive, got {self.threads}")

    def to_flat_dict(self) -> dict[str, Any]:
        """The flat key -> value mapping that `train_config_from_mapping` reads back."""
        flat: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value):
                flat.update(dataclasses.asdict(value))
            else:
                flat[f.name] = value
        return flat


_COMPONENTS: dict[str, type] = {
    "optim": OptimConfig,
    "schedule": ScheduleConfig,
    "data": DataConfig,
    "checkpoint": CheckpointConfig,
    "eval": EvalConfig,
}


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


def _check_type(value: Any, annotation: Any, key: str, source: str) -> Any:
    """Return `value` if it fits `annotation` (ints are accepted for floats)."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _check_type(value, option, key, source)
            except ConfigError:
                continue
        raise ConfigError(f"{source}: key {key!r} has {type(value).__name__} value {value!r}, expected {annotation}")
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"{source}: key {key!r} must be finite, got {value!r}")
        return float(value)
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation in (bool, str) and type(value) is annotation:
        return value
    raise ConfigError(f"{source}: key {key!r} has {type(value).__name__} value {value!r}, expected {annotation.__name__}")


def _owner_of_keys() -> dict[str, tuple[str | None, Any]]:
    """Flat key -> (component name or None for TrainConfig itself, annotation)."""
    owners: dict[str, tuple[str | None, Any]] = {}
    top_hints = typing.get_type_hints(TrainConfig)
    for name, hint in top_hints.items():
        if name in _COMPONENTS:
            for sub, sub_hint in typing.get_type_hints(_COMPONENTS[name]).items():
                owners[sub] = (name, sub_hint)
        else:
            owners[name] = (None, hint)
    return owners


def train_config_from_mapping(
    mapping: dict[str, Any], source: str = "train config", base: TrainConfig | None = None
) -> TrainConfig:
    """Build a TrainConfig from flat keys over `base` (defaults when None).

    Unknown keys and wrongly typed values raise ConfigError naming the key and
    `source` (the file, or "command line").
    """
    if not isinstance(mapping, dict):
        raise ConfigError(f"{source}: a train config must be a mapping, got {type(mapping).__name__}")
    owners = _owner_of_keys()
    unknown = sorted(k for k in mapping if k not in owners)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys are {sorted(owners)}")
    base = base or TrainConfig()
    top: dict[str, Any] = {}
    parts: dict[str, dict[str, Any]] = {name: {} for name in _COMPONENTS}
    for key, value in mapping.items():
        component, hint = owners[key]
        checked = _check_type(value, hint, key, source)
        (parts[component] if component else top)[key] = checked
    try:
        for name, changes in parts.items():
            if changes:
                top[name] = dataclasses.replace(getattr(base, name), **changes)
        return dataclasses.replace(base, **top)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_train_config(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    """Read a flat YAML train config (keys as the CLI flags, with underscores)."""
    import yaml

    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read train config: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return train_config_from_mapping(loaded or {}, source=str(path), base=base)
