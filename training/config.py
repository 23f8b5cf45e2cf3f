"""Training configuration: one frozen dataclass per component, one strict loader.

A YAML train config is a flat mapping whose keys are the `winnow train` flags
with underscores (`batch_size`, `lr`, `warmup_steps`, ...); each key belongs to
exactly one component. Unknown keys and wrong types are rejected with a message
naming the key (and the nearest valid one) and the file. The type checks are
Winnow's one loader (core/config_loader.py), shared with the recipe sections;
each field's help text is declared beside it and feeds `winnow train --help`
and docs/recipes.md.
"""
from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow.core.config_loader import CHOICES, HELP, checked_value, config_from_mapping
from winnow.core.errors import ConfigurationError, unknown_key_message

SCHEDULES = ("cosine", "wsd")
DEVICES = ("auto", "cpu", "cuda")
NONFINITE_STOP = "stop"
NONFINITE_SKIP = "skip"
NONFINITE_ACTIONS = (NONFINITE_STOP, NONFINITE_SKIP)
EOT_TOKEN = "<|endoftext|>"
BYTE_ALPHABET_SIZE = 256
DEFAULT_BATCH_ROWS = 4096  # Parquet rows read per batch (training/parquet_text.py)


class ConfigError(ConfigurationError):
    """A training config is invalid; the message names the key and its source."""


def _h(default: Any, text: str, choices: tuple[str, ...] | None = None) -> Any:
    """A field with its default, its help text and its allowed values (for the flags and docs/recipes.md)."""
    return field(default=default, metadata={HELP: text, CHOICES: choices} if choices else {HELP: text})


@dataclass(frozen=True)
class OptimConfig:
    lr: float = _h(1e-3, "peak learning rate")
    weight_decay: float = _h(0.1, "AdamW weight decay, applied to 2-D weights only (matmuls, embeddings)")
    beta1: float = _h(0.9, "AdamW beta1")
    beta2: float = _h(0.95, "AdamW beta2")
    eps: float = _h(1e-8, "AdamW epsilon")
    grad_clip: float | None = _h(1.0, "max global gradient norm; null disables clipping")
    fused: bool | None = _h(None, "fused AdamW; null = fused on CUDA, the for-each kernel elsewhere")

    def __post_init__(self) -> None:
        _require(self.lr > 0, "lr", f"must be positive, got {self.lr}")
        _require(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        _require(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1/beta2", "must be in [0, 1)")
        _require(self.grad_clip is None or self.grad_clip > 0, "grad_clip", f"must be positive, got {self.grad_clip}")


@dataclass(frozen=True)
class ScheduleConfig:
    schedule: str = _h("cosine", "learning-rate schedule: cosine (warmup, then cosine to min_lr) or wsd (warmup-stable-decay)", SCHEDULES)
    warmup_steps: int = _h(100, "steps of linear warm-up (longer than max_steps: an error when set, a warning by default)")
    min_lr_ratio: float = _h(0.1, "the final learning rate as a fraction of lr")
    decay_fraction: float = _h(0.2, "wsd: the final fraction of steps that decays linearly")
    # Fix it when a run is stopped early (smaller max_steps) and resumed, so the
    # schedule of the interrupted run is the schedule of the whole run.
    schedule_steps: int | None = _h(None, "the horizon the decay is laid out over; null = max_steps")

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
    batch_size: int = _h(8, "sequences per micro-batch on each process")
    seq_len: int | None = _h(None, "tokens per sequence; null = the model's max_seq_len")
    tokens_per_step: int | None = _h(None, "tokens per optimizer step, reached by gradient accumulation; null = one micro-batch per process")

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
    checkpoint_every: int = _h(500, "steps between checkpoints (one is always written at the end)")
    keep_last: int = _h(2, "checkpoints kept; older ones are deleted once a newer one is complete")

    def __post_init__(self) -> None:
        _require(self.checkpoint_every > 0, "checkpoint_every", f"must be positive, got {self.checkpoint_every}")
        _require(self.keep_last >= 1, "keep_last", f"must be >= 1, got {self.keep_last}")


@dataclass(frozen=True)
class EvalConfig:
    """Continuous evaluation beside the validation loss, at train.eval_every
    (see training/continuous_eval.py and docs/evaluation.md)."""

    eval_tasks: str | None = _h(None, "comma-separated multiple-choice task files or builtin:NAME, scored at every eval_every")
    eval_task_examples: int = _h(64, "the first N examples of each task per pass (a cheap, fixed subset)")
    eval_text: str | None = _h(None, "a .txt file or curated Parquet whose bits per byte are tracked")
    eval_text_tokens: int | None = _h(16384, "predicted tokens of eval_text per pass; null = all of it")
    best_metric: str | None = _h(
        None, "keep checkpoints/best.pt by this metric (val_loss, val_bpb, text_bpb, TASK/acc_norm, ...); null = last only"
    )

    def __post_init__(self) -> None:
        _require(self.eval_task_examples > 0, "eval_task_examples", f"must be positive, got {self.eval_task_examples}")
        _require(
            self.eval_text_tokens is None or self.eval_text_tokens > 0,
            "eval_text_tokens",
            f"must be positive, got {self.eval_text_tokens}",
        )


@dataclass(frozen=True)
class TrainConfig:
    # A mapping is a recipe's `model:` section, built by the strict loader as it stands
    # (model_config_for); on the command line and in a YAML train config it is a name or path.
    model: str | dict[str, Any] = _h(
        "tiny", "model preset (micro, tiny, small, gpt2-124m), a YAML file of model keys, or a mapping of them"
    )
    max_steps: int | None = _h(None, "optimizer steps to train for (this or max_tokens is required)")
    max_tokens: int | None = _h(None, "train tokens to train for, rounded up to whole steps (instead of max_steps)")
    eval_every: int = _h(0, "steps between validation passes; 0 disables")
    eval_tokens: int | None = _h(65536, "validation tokens per pass; null = the whole split")
    eval_batch_size: int | None = _h(None, "sequences per validation batch; null = batch_size")
    log_every: int = _h(1, "steps between log lines")
    seed: int = _h(1337, "seed of initialization and data order")
    device: str = _h("auto", "where to train: auto (cuda when there is a GPU), cpu or cuda", DEVICES)
    compile: bool = _h(False, "torch.compile the model")
    threads: int | None = _h(None, "CPU threads per process; null = cores / local processes")
    deterministic: bool = _h(True, "torch.use_deterministic_algorithms (bit-exact resume on CPU)")
    on_nonfinite: str = _h(NONFINITE_STOP, "a non-finite loss: stop the run, or skip the step", NONFINITE_ACTIONS)
    tensorboard: bool = _h(False, "also write TensorBoard event files")
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


@dataclass(frozen=True)
class TokenizeConfig:
    """`tokenize:` how the corpus becomes token shards with a train/val split."""

    # Defaults are tokenize_corpus's (training/tokens.py; a test keeps them equal).
    val_fraction: float = _h(0.01, "fraction of documents in the validation split (chosen by a hash of the id)")
    workers: int | None = _h(None, "encoding processes; null = every core")
    shard_tokens: int = _h(2**24, "tokens per shard file")

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"'val_fraction' must be in [0, 1), got {self.val_fraction}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"'workers' must be positive, got {self.workers}")
        if self.shard_tokens < 1:
            raise ValueError(f"'shard_tokens' must be positive, got {self.shard_tokens}")


@dataclass(frozen=True)
class TokenizerConfig:
    """`tokenizer:` the byte-level BPE tokenizer; its keys are also the `winnow tokenizer train` flags."""

    vocab_size: int = 8192  # vocabulary size, special tokens included
    min_frequency: int = 2  # fewest occurrences of a pair for a merge
    special_tokens: tuple[str, ...] = (EOT_TOKEN,)  # special tokens, the end-of-text token first
    sample_bytes: int | None = None  # train on a deterministic sample of at most this many UTF-8 bytes; None: everything
    heldout_fraction: float = 0.01  # documents held out to measure bytes/token, by tokenize's val-split rule (val text is never trained on)
    seed: int = 0  # seed of the byte sample: changes which documents it picks
    show_progress: bool = False  # show the tokenizers library's progress bar
    batch_rows: int = DEFAULT_BATCH_ROWS  # Parquet rows read per batch

    def __post_init__(self) -> None:
        if not self.special_tokens or len(set(self.special_tokens)) != len(self.special_tokens):
            raise ValueError(f"special_tokens must be non-empty and unique, got {self.special_tokens!r}")
        if any(not t for t in self.special_tokens):
            raise ValueError("special_tokens must not contain an empty string")
        smallest = BYTE_ALPHABET_SIZE + len(self.special_tokens)
        if self.vocab_size < smallest:
            raise ValueError(
                f"vocab_size {self.vocab_size} is below {smallest} (256 byte tokens + {len(self.special_tokens)} special)"
            )
        if self.min_frequency < 1:
            raise ValueError(f"min_frequency must be at least 1, got {self.min_frequency}")
        if self.sample_bytes is not None and self.sample_bytes < 1:
            raise ValueError(f"sample_bytes must be positive or None, got {self.sample_bytes}")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise ValueError(f"heldout_fraction must be in [0, 1), got {self.heldout_fraction}")


@dataclass(frozen=True)
class EvaluateConfig:
    """`evaluate:` what is measured on the trained model (training/eval_run.py reads it)."""

    text: str | None = _h(None, "held-out .txt file or curated Parquet whose bits per byte are reported")
    tasks: tuple[str, ...] = _h((), "multiple-choice task files (JSONL), builtin:copy or sentences:val")
    prompts: tuple[str, ...] | None = _h(None, "prompts for sample generations (default: 'The', 'In the')")
    max_new_tokens: int = _h(40, "tokens generated per prompt")
    temperature: float = _h(0.8, "sampling temperature of the generations")
    top_k: int | None = _h(40, "sample from the k most likely tokens; null = all")
    seed: int = _h(0, "seed of the first generation (the next prompts add 1, 2, ...)")
    max_tokens: int | None = _h(None, "validation and text tokens scored at most; null = all")
    task_examples: int = _h(200, "examples per task at most")
    batch_size: int = _h(8, "sequences per evaluation batch")
    builtin_tasks: bool = _h(True, "also score the built-in tasks (builtin:copy, sentences:val)")
    lm_eval_tasks: tuple[str, ...] = _h((), "lm-evaluation-harness task names (the `eval` extra)")
    include_path: str | None = _h(None, "lm-evaluation-harness: a folder of extra task definitions")
    lm_eval_limit: int | float | None = _h(None, "lm-evaluation-harness: examples per task (a count, or a fraction below 1)")

    def __post_init__(self) -> None:
        for key in ("max_new_tokens", "task_examples", "batch_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key!r} must be positive, got {getattr(self, key)}")
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise ValueError(f"'temperature' must be >= 0, got {self.temperature}")


_COMPONENTS: dict[str, type] = {
    "optim": OptimConfig,
    "schedule": ScheduleConfig,
    "data": DataConfig,
    "checkpoint": CheckpointConfig,
    "eval": EvalConfig,
}


def model_config_for(model: str | Mapping[str, Any], vocab_size: int, where: str = "model") -> Any:
    """The ModelConfig that `TrainConfig.model` names: a preset, a YAML file of model keys,
    or a mapping of them (a recipe's `model:` section, built directly by the one strict
    loader, so its errors name `where` and the key). `vocab_size` comes from the tokenizer."""
    from winnow.training.model import ModelConfig, config_from_preset  # torch: only when a model is built

    if isinstance(model, Mapping):
        if "vocab_size" in model:
            raise ConfigError(f"{where}: key 'vocab_size' comes from the tokenizer (set tokenizer.vocab_size instead)")
        return config_from_mapping(ModelConfig, {**model, "vocab_size": vocab_size}, where, ConfigError)
    return config_from_preset(model, vocab_size)


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


def key_classes() -> dict[str, type]:
    """Flat key -> the dataclass that declares it (TrainConfig or one of its components),
    for flags and docs derived from the fields."""
    return {key: (_COMPONENTS[owner] if owner else TrainConfig) for key, (owner, _) in _owner_of_keys().items()}


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
    unknown = [k for k in mapping if k not in owners]
    if unknown:
        raise ConfigError(unknown_key_message(source, unknown, owners))
    base = base or TrainConfig()
    top: dict[str, Any] = {}
    parts: dict[str, dict[str, Any]] = {name: {} for name in _COMPONENTS}
    for key, value in mapping.items():
        component, hint = owners[key]
        checked = checked_value(value, hint, key, source, ConfigError)
        (parts[component] if component else top)[key] = checked
    try:
        for name, changes in parts.items():
            if changes:
                top[name] = dataclasses.replace(getattr(base, name), **changes)
        return dataclasses.replace(base, **top)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def warmup_problems(config: TrainConfig, where: str, explicit: bool) -> tuple[list[str], list[str]]:
    """A warm-up longer than the run never reaches the peak learning rate."""
    steps = config.max_steps
    if steps is None and config.max_tokens and config.data.tokens_per_step:
        steps = math.ceil(config.max_tokens / config.data.tokens_per_step)
    warmup = config.schedule.warmup_steps
    if steps is None or warmup <= steps:
        return [], []
    if explicit:
        return [f"{where}: warmup_steps {warmup} is longer than the run ({steps} steps); "
                "the learning rate would never reach lr"], []
    return [], [f"{where}: the default warmup_steps {warmup} is longer than the run ({steps} steps), "
                f"so the learning rate never reaches lr; set warmup_steps (e.g. {max(1, steps // 10)})"]


_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def train_overrides_from_flags(items: list[str], flag: str = "--train") -> dict[str, Any]:
    """`KEY=VALUE` flags (values read as YAML: `lr=3e-3`, `compile=true`) as train-config
    overrides, checked now (unknown key with the nearest valid one, wrong type) rather
    than when training starts, after curation."""
    import yaml

    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} expects KEY=VALUE, got {item!r}")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{flag} {item!r}: the value is not valid YAML ({exc})") from None
        if isinstance(parsed, str) and _EXPONENT_NUMBER.fullmatch(parsed.strip()):
            parsed = float(parsed)  # YAML 1.1 reads 3e-3 (no dot) as a string
        overrides[key.strip()] = parsed
    train_config_from_mapping(overrides, source=f"{flag} KEY=VALUE")
    return overrides


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
