"""Continuous evaluation at `eval_every`: validation loss/bpb, multiple-choice
accuracies on cheap fixed subsets, and the bits per byte of a held-out text,
plus keeping the best checkpoint by a metric the user chooses.

Everything is prepared once when training starts (task files read, the text
tokenized), so a pass only runs forward passes. The metrics of one pass form
one `val` row of metrics.jsonl:

    val_loss, val_bpb, val_perplexity, val_tokens, val_exact   the val split
    text_loss, text_bpb, text_tokens, text_exact               eval_text
    TASK/acc, TASK/acc_norm, TASK/acc_bytes, TASK/chance       each eval_tasks entry

`best_metric` names one of those keys; losses, bpb and perplexity are
minimised, accuracies maximised. The best state is checkpoints/best.pt (a
full checkpoint, loadable like any other) and checkpoints/best.json
(`{"metric", "value", "step", "mode"}`); the latest checkpoints are kept as
before, so the run always has its best and its last.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from winnow.core.atomic import atomic_open
from winnow.training.checkpoint import CHECKPOINT_DIR
from winnow.training.config import EvalConfig
from winnow.training.data import TokenSplit
from winnow.core.errors import ConfigurationError, ErrorFamily, InputError

BEST_CHECKPOINT_FILE = "best.pt"
BEST_FILE = "best.json"
BUILTIN_PREFIX = "builtin:"
VAL_METRICS = ("val_loss", "val_bpb", "val_perplexity")
TEXT_METRICS = ("text_loss", "text_bpb")
TASK_METRICS = ("acc", "acc_norm", "acc_bytes")
MINIMISED_SUFFIXES = ("loss", "bpb", "perplexity")


class EvalSetupError(ErrorFamily):
    """A continuous-evaluation setting cannot be used; the message names the key and the input."""


class EvalSetupConfigError(EvalSetupError, ConfigurationError):
    """A setting names nothing or cannot apply (no such task file, an unknown metric); exit 2."""


class EvalSetupInputError(EvalSetupError, InputError):
    """A task file, text or best-checkpoint record exists but cannot be used; exit 3."""


def _setup_error(key: str, exc: ValueError) -> EvalSetupError:
    """The loader's error under the setting's key, keeping its consequence (exit 2 or 3)."""
    kind = EvalSetupInputError if isinstance(exc, InputError) else EvalSetupConfigError
    return kind(f"{key}: {exc}")


class ValidationSet:
    """The validation stream, prepared once: a leading end-of-text (so the
    split's first token is predicted too) followed by the shards."""

    def __init__(self, split: TokenSplit):
        from winnow.training.shard_format import open_shard

        self.split = split
        self.stream = [np.array([split.eot_id], dtype=np.int64), *(open_shard(p) for p in split.paths)]

    def evaluate(self, model: nn.Module, seq_len: int, batch_size: int, device: torch.device, max_tokens: int | None) -> dict[str, float]:
        from winnow.training.evaluate import evaluate_tokens

        result = evaluate_tokens(model, self.stream, seq_len, batch_size, device, max_tokens=max_tokens)
        # bpb is exact when the whole split is evaluated; under max_tokens the
        # bytes are scaled by the fraction of tokens evaluated (approximate).
        fraction = result.tokens / self.split.tokens if self.split.tokens else 0.0
        covered_bytes = self.split.utf8_bytes * min(1.0, fraction)
        bpb = result.loss_sum_nats / (math.log(2) * covered_bytes) if covered_bytes > 0 else float("nan")
        return {
            "val_loss": result.loss,
            "val_bpb": bpb,
            "val_perplexity": result.perplexity,
            "val_tokens": result.tokens,
            "val_exact": result.tokens == self.split.tokens,
        }


@dataclass(frozen=True)
class EvalSuite:
    """What one continuous-evaluation pass scores."""

    validation: ValidationSet | None
    tasks: tuple[tuple[str, tuple[Any, ...]], ...]  # (name, MCExample subset)
    text: Any  # evaluate.EncodedDocuments, or None
    tokenizer: Any

    @property
    def empty(self) -> bool:
        return self.validation is None and not self.tasks and self.text is None

    def metric_names(self) -> list[str]:
        names = list(VAL_METRICS) if self.validation is not None else []
        names += list(TEXT_METRICS) if self.text is not None else []
        names += [f"{name}/{metric}" for name, _ in self.tasks for metric in TASK_METRICS]
        return names

    def evaluate(self, model: nn.Module, seq_len: int, batch_size: int, device: torch.device, val_tokens: int | None) -> dict[str, Any]:
        from winnow.training.evaluate import bits_per_byte, evaluate_multiple_choice, evaluate_tokens

        row: dict[str, Any] = {}
        if self.validation is not None:
            row.update(self.validation.evaluate(model, seq_len, batch_size, device, val_tokens))
        if self.text is not None:
            result = evaluate_tokens(model, self.text.tokens, seq_len, batch_size, device)
            row.update(
                text_loss=result.loss,
                text_bpb=bits_per_byte(result.loss_sum_nats, self.text.covered_bytes(result.tokens)),
                text_tokens=result.tokens,
                text_exact=result.tokens == sum(self.text.doc_tokens),
            )
        for name, examples in self.tasks:
            scored = evaluate_multiple_choice(model, self.tokenizer, examples, batch_size, device)
            row.update({f"{name}/{metric}": scored[metric] for metric in (*TASK_METRICS, "chance")})
        return row


def build_suite(settings: EvalConfig, val_split: TokenSplit | None, tokenizer_path: Path) -> EvalSuite:
    """Read the tasks and tokenize the text once; errors name the key and input."""
    from tokenizers import Tokenizer

    from winnow.training.evaluate import encode_documents, iter_text_source
    from winnow.training.mc_tasks import load_mc_tasks, synthetic_task

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    validation = ValidationSet(val_split) if val_split is not None and val_split.tokens > 0 else None
    tasks = []
    specs = [s.strip() for s in (settings.eval_tasks or "").split(",") if s.strip()]
    n = settings.eval_task_examples
    for spec in specs:
        try:
            if spec.startswith(BUILTIN_PREFIX):
                name, examples = spec[len(BUILTIN_PREFIX) :], synthetic_task(spec[len(BUILTIN_PREFIX) :], n)
            else:
                name, examples = Path(spec).stem, load_mc_tasks(spec)[:n]
        except ValueError as exc:
            raise _setup_error("eval_tasks", exc) from None
        if name in dict(tasks):
            raise EvalSetupConfigError(f"eval_tasks: two tasks are named {name!r}; rename one of the files")
        tasks.append((name, tuple(examples)))
    text = None
    if settings.eval_text:
        try:
            text = encode_documents(tokenizer, iter_text_source(settings.eval_text), settings.eval_text_tokens)
        except ValueError as exc:
            raise _setup_error("eval_text", exc) from None
        if not text.doc_tokens:
            raise EvalSetupInputError(f"eval_text: {settings.eval_text} holds no documents")
        if settings.eval_text_tokens is not None:
            # encode_documents stops after the document that reaches the cap; cut there exactly.
            text = _capped(text, settings.eval_text_tokens)
    return EvalSuite(validation, tuple(tasks), text, tokenizer)


def _capped(text: Any, max_tokens: int) -> Any:
    from winnow.training.evaluate import EncodedDocuments

    if sum(text.doc_tokens) <= max_tokens:
        return text
    return EncodedDocuments(text.tokens[: max_tokens + 1], text.doc_tokens, text.doc_bytes)


def metric_mode(name: str) -> str:
    """"min" for losses, bits per byte and perplexity; "max" for accuracies."""
    return "min" if name.endswith(MINIMISED_SUFFIXES) else "max"


def check_best_metric(metric: str | None, suite: EvalSuite, eval_every: int) -> None:
    if metric is None:
        return
    if not eval_every:
        raise EvalSetupConfigError(f"best_metric {metric!r} needs eval_every > 0 (the metric is computed at each evaluation)")
    available = suite.metric_names()
    if metric not in available:
        raise EvalSetupConfigError(f"best_metric {metric!r} is not computed by this run; available: {available or 'none'}")


class BestCheckpoint:
    """checkpoints/best.pt and best.json, updated when `metric` improves."""

    def __init__(self, run_dir: Path, metric: str, resumed_step: int):
        self.directory = run_dir / CHECKPOINT_DIR
        self.metric, self.mode = metric, metric_mode(metric)
        self.value: float | None = None
        self.step: int | None = None
        recorded = self._read()
        # A best found after the checkpoint we resume from is redone, like the metrics rows.
        if recorded is not None and recorded.get("metric") == metric and int(recorded["step"]) <= resumed_step:
            self.value, self.step = float(recorded["value"]), int(recorded["step"])

    def _read(self) -> dict[str, Any] | None:
        path = self.directory / BEST_FILE
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise EvalSetupInputError(f"{path}: cannot read the best-checkpoint record: {exc}") from exc

    def improves(self, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.value is None:
            return True
        return value < self.value if self.mode == "min" else value > self.value

    def update(self, step: int, row: dict[str, Any], state: Callable[[], dict[str, Any]]) -> bool:
        """Save `state()` as the best checkpoint when row[metric] improves; returns whether it did."""
        value = row.get(self.metric)
        if not self.improves(value):
            return False
        from winnow.training.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION

        self.directory.mkdir(parents=True, exist_ok=True)
        full = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state()}
        with atomic_open(self.directory / BEST_CHECKPOINT_FILE, "wb") as f:
            torch.save(full, f)
        record = {"metric": self.metric, "value": float(value), "step": step, "mode": self.mode}
        with atomic_open(self.directory / BEST_FILE, "wb") as f:
            f.write(json.dumps(record).encode())
        self.value, self.step = float(value), step
        return True


CHECKPOINT_CHOICES = ("latest", "best")


def checkpoint_file(run_dir: str | Path, which: str = "latest") -> Path:
    """The checkpoint file `which` ("latest" or "best") of a run directory."""
    from winnow.training.checkpoint import CheckpointMissing, latest_checkpoint_path

    if which == "latest":
        return latest_checkpoint_path(run_dir)
    if which != "best":
        raise ValueError(f"checkpoint must be one of {CHECKPOINT_CHOICES}, got {which!r}")
    path = Path(run_dir) / CHECKPOINT_DIR / BEST_CHECKPOINT_FILE
    if not path.is_file():
        raise CheckpointMissing(f"{path}: the run has no best checkpoint; train with best_metric set (and eval_every > 0)")
    return path


def load_model_at(run_dir: str | Path, which: str = "latest", device: str | torch.device = "cpu") -> tuple[Any, Any, Any]:
    """(model in eval mode, its ModelConfig, its tokenizers.Tokenizer) from the
    run's latest or best checkpoint, checked against the run's tokenizer."""
    from winnow.training.checkpoint import load_model_for_inference

    checkpoint = None if which == "latest" else checkpoint_file(run_dir, which)
    return load_model_for_inference(run_dir, device=device, checkpoint=checkpoint)
