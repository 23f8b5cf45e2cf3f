"""The training loop: AdamW with warmup + cosine or warmup-stable-decay,
gradient accumulation to a target tokens-per-step, clipping, bf16 autocast on
CUDA, optional torch.compile, DDP from outside the model, continuous
validation, atomic checkpoints and exact resume.

Exact resume: the data position is a function of the step (see data.py), the
learning rate a function of the step and the schedule horizon, and the
checkpoint restores weights, optimizer moments and every RNG. On CPU with
deterministic algorithms and the same thread count, a run stopped and resumed
reproduces the per-step losses of an uninterrupted run bit for bit.
"""
from __future__ import annotations

import math
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from winnow.training import distributed as dist_utils
from winnow.training import run_files
from winnow.training.checkpoint import (
    CheckpointError,
    capture_rng_state,
    latest_checkpoint_path,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from winnow.training.config import NONFINITE_SKIP, ScheduleConfig, TrainConfig, model_config_for
from winnow.training.continuous_eval import BestCheckpoint, EvalSetupError, EvalSuite, build_suite, check_best_metric
from winnow.training.data import TokenSplit, TokenWindowLoader, load_split
from winnow.training.model import GPT, ModelConfig
from winnow.training.run_files import LOSS_PLOT_FILE, METRICS_FILE, plot_losses
from winnow.training.threads import default_threads
from winnow.core.errors import ConfigurationError, ErrorFamily, InputError, RuntimeFailure
# Dense bf16 peak FLOP/s per GPU for MFU; matched against the device name.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "4090": 165e12}


class TrainError(ErrorFamily):
    """Training cannot start or continue; the message says why. Raised as one of the two below."""


class TrainConfigError(TrainError, ConfigurationError):
    """What was asked for cannot run (no run length, a batch that does not divide, no CUDA); exit 2."""


class TrainInputError(TrainError, InputError):
    """An evaluation task file or text given to the run exists but cannot be used; exit 3."""


class NonFiniteLossError(TrainError, RuntimeFailure):
    """The loss or gradient norm became NaN/inf; the message names the step (exit 1)."""


@dataclass
class TrainResult:
    run_dir: Path
    start_step: int  # steps already done when this invocation began (0 unless resumed)
    final_step: int
    tokens_seen: int
    losses: list[float] = field(default_factory=list)  # train loss of each step run here, in order
    skipped_steps: list[int] = field(default_factory=list)
    val_losses: list[tuple[int, float]] = field(default_factory=list)
    # Every continuous-evaluation row (val, text and task metrics), in order.
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None  # {"metric", "value", "step"} when best_metric is set


def lr_at(step: int, base_lr: float, schedule: ScheduleConfig, total_steps: int) -> float:
    """Learning rate for optimizer step `step` (0-based)."""
    warmup = schedule.warmup_steps
    min_lr = base_lr * schedule.min_lr_ratio
    if step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule.schedule == "cosine":
        span = max(1, total_steps - warmup)
        progress = min(1.0, (step - warmup) / span)
        return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
    # Warmup-stable-decay: constant, then a linear decay over the last decay_fraction.
    decay_steps = max(1, round(schedule.decay_fraction * total_steps))
    decay_start = max(warmup, total_steps - decay_steps)
    if step < decay_start:
        return base_lr
    progress = min(1.0, (step - decay_start + 1) / max(1, total_steps - decay_start))
    return base_lr + (min_lr - base_lr) * progress


def resolve_device(name: str, info: dist_utils.DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise TrainConfigError("--device cuda was requested but CUDA is not available")
        return torch.device("cuda", info.local_rank)
    return torch.device("cpu")


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


def build_optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW; weight decay on 2-D weights (matmuls, embeddings) only, not on norm gains."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.optim.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = config.optim.fused if config.optim.fused is not None else device.type == "cuda"
    return torch.optim.AdamW(
        groups,
        lr=config.optim.lr,
        betas=(config.optim.beta1, config.optim.beta2),
        eps=config.optim.eps,
        fused=fused,
    )


def _json_safe(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class TrainPlan:
    """The run's shape, resolved from the config and the data before anything is built."""

    model_config: ModelConfig
    seq_len: int
    tokens_per_step: int
    accum_steps: int
    max_steps: int
    schedule_steps: int


def plan_run(config: TrainConfig, train_split: TokenSplit, world_size: int) -> TrainPlan:
    model_config = model_config_for(config.model, train_split.vocab_size)
    seq_len = config.data.seq_len or model_config.max_seq_len
    if seq_len > model_config.max_seq_len:
        raise TrainConfigError(f"seq_len {seq_len} exceeds the model's max_seq_len {model_config.max_seq_len}")
    micro_tokens = config.data.batch_size * seq_len * world_size
    tokens_per_step = config.data.tokens_per_step or micro_tokens
    if tokens_per_step % micro_tokens:
        raise TrainConfigError(
            f"tokens_per_step {tokens_per_step} is not a multiple of batch_size x seq_len x world_size = "
            f"{config.data.batch_size} x {seq_len} x {world_size} = {micro_tokens}"
        )
    if config.max_steps is not None:
        max_steps = config.max_steps
    elif config.max_tokens is not None:
        max_steps = math.ceil(config.max_tokens / tokens_per_step)
    else:
        raise TrainConfigError("set max_steps or max_tokens (--max-steps / --max-tokens)")
    schedule_steps = config.schedule.schedule_steps or max_steps
    return TrainPlan(model_config, seq_len, tokens_per_step, tokens_per_step // micro_tokens, max_steps, schedule_steps)


def train(
    config: TrainConfig,
    data_dir: str | Path,
    run_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train per `config` on DATA_DIR's train split, writing RUN_DIR (see the run-directory contract)."""
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    info = dist_utils.dist_info_from_env()
    device = resolve_device(config.device, info)
    info = dist_utils.init_distributed(device.type)
    # Process-wide torch settings are restored afterwards, for callers that go on.
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        return Trainer(config, data_dir, run_dir, info, device).run(resume, overwrite, progress)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        dist_utils.cleanup(info)


class Trainer:
    """Owns one training invocation: setup (here), restore, the step, the
    evaluation and the checkpoint, each a method, and `run` chaining them."""

    def __init__(self, config: TrainConfig, data_dir: Path, run_dir: Path, info: dist_utils.DistInfo, device: torch.device):
        self.config, self.data_dir, self.run_dir, self.info, self.device = config, data_dir, run_dir, info, device
        # Idle threads sleep rather than spin (threads.py), so a busy machine slows training, not stalls it.
        torch.set_num_threads(config.threads or default_threads(info.local_world_size))
        if config.deterministic and device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.train_split = load_split(data_dir, "train")
        self.val_split = load_split(data_dir, "val", verify_tokenizer=False) if config.eval_every else None
        self.plan = plan_run(config, self.train_split, info.world_size)
        self.suite: EvalSuite | None = None
        if config.eval_every and info.is_main:
            # Before the model is built: a bad task file or text fails before any work.
            try:
                self.suite = build_suite(config.eval, self.val_split, self.train_split.tokenizer_path)
                check_best_metric(config.eval.best_metric, self.suite, config.eval_every)
            except EvalSetupError as exc:  # keeps its consequence: a missing file exits 2, a malformed one 3
                raise (TrainInputError if isinstance(exc, InputError) else TrainConfigError)(str(exc)) from None
        elif config.eval.best_metric is not None:
            raise TrainConfigError(f"best_metric {config.eval.best_metric!r} needs eval_every > 0 (the metric is computed at each evaluation)")

        torch.manual_seed(config.seed)
        np.random.seed(config.seed % 2**32)
        random.seed(config.seed)
        self.raw_model = GPT(self.plan.model_config).to(device)
        self.optimizer = build_optimizer(self.raw_model, config, device)
        self.loader = TokenWindowLoader(
            self.train_split.paths, self.plan.seq_len, config.data.batch_size, config.seed,
            self.plan.accum_steps, info.rank, info.world_size,
        )
        self.model: nn.Module = self.raw_model
        self.amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()

    # -- restore ---------------------------------------------------------
    def restore(self, resume: bool, overwrite: bool) -> tuple[int, int]:
        """Prepare the run directory and load the latest checkpoint when resuming;
        returns (start_step, tokens_seen)."""
        info, run_dir = self.info, self.run_dir
        try:
            checkpoint_exists = run_files.prepare_run_dir(run_dir, resume, overwrite) if info.is_main else False
        except run_files.RunDirectoryError as exc:
            raise TrainConfigError(str(exc)) from None
        checkpoint_exists = dist_utils.broadcast_flag(checkpoint_exists, info)
        start_step, tokens_seen = 0, 0
        if checkpoint_exists:
            path = latest_checkpoint_path(run_dir)
            state = load_checkpoint(path, self.plan.model_config, self.train_split.tokenizer_sha256, map_location=self.device)
            self.raw_model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            start_step, tokens_seen = int(state["step"]), int(state["tokens_seen"])
            self.loader.check_resumable(state["data_state"], str(path))
            restore_rng_state(state["rng"])
            if info.is_main:
                changed = sorted(k for k, v in self.config.to_flat_dict().items() if state["train_config"].get(k, v) != v)
                print(f"resuming from {path} at step {start_step}" + (f" (changed: {', '.join(changed)})" if changed else ""), file=sys.stderr)
                run_files.truncate_metrics(run_dir / METRICS_FILE, start_step)
        elif resume and info.is_main:
            print(f"no checkpoint in {run_dir}; starting from step 0", file=sys.stderr)
        if info.is_main:
            run_files.write_run_files(run_dir, self.config, self.plan.model_config, self.train_split, self.plan, info, self.device)
        dist_utils.barrier(info)
        return start_step, tokens_seen

    # -- step ------------------------------------------------------------
    def step(self, step: int) -> tuple[float, float, float]:
        """One optimizer step (all micro-batches); returns (loss, grad norm, lr).
        A non-finite loss or norm stops the run, or skips the batch under on_nonfinite: skip."""
        config, info, plan = self.config, self.info, self.plan
        lr = lr_at(step, config.optim.lr, config.schedule, plan.schedule_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=self.device)
        for micro in range(plan.accum_steps):
            x, y = self.loader.batch(step, micro)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            # Gradients are all-reduced only on the last micro-step.
            sync = micro == plan.accum_steps - 1 or not info.enabled
            with (nullcontext() if sync else self.model.no_sync()), self.amp:
                _, loss = self.model(x, y, return_logits=False)
            (loss / plan.accum_steps).backward()
            loss_sum += loss.detach().float()
        step_loss = dist_utils.all_reduce_mean(loss_sum / plan.accum_steps, info)
        grad_norm = (
            torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), config.optim.grad_clip)
            if config.optim.grad_clip is not None
            else torch.zeros((), device=self.device)
        )
        loss_value, norm_value = float(step_loss), float(grad_norm)
        done = step + 1
        if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
            what = f"step {done}: non-finite {'loss' if not math.isfinite(loss_value) else 'gradient norm'} ({loss_value}, grad norm {norm_value})"
            if config.on_nonfinite != NONFINITE_SKIP:
                raise NonFiniteLossError(f"{what}; stopping (the last checkpoint is kept; set on_nonfinite: skip to skip such batches)")
            self.optimizer.zero_grad(set_to_none=True)
            self.result.skipped_steps.append(done)
            if info.is_main:
                print(f"{what}; skipping this batch", file=sys.stderr)
        else:
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return loss_value, norm_value, lr

    # -- evaluation ------------------------------------------------------
    def evaluate(self, done: int, lr: float, tokens_seen: int) -> None:
        """Continuous evaluation on rank 0 (val split, text, tasks), one val row."""
        if self.info.is_main and self.suite is not None and not self.suite.empty:
            config = self.config
            with self.amp:
                row = self.suite.evaluate(
                    self.raw_model, self.plan.seq_len, config.eval_batch_size or config.data.batch_size, self.device, config.eval_tokens
                )
            if "val_loss" in row:
                self.result.val_losses.append((done, row["val_loss"]))
            self.result.evaluations.append({"step": done, **row})
            head = {"step": done, "split": "val", **({"loss": row["val_loss"]} if "val_loss" in row else {}), "lr": lr, "tokens_seen": tokens_seen}
            self.metrics.log({**head, **{k: _json_safe(v) if isinstance(v, float) else v for k, v in row.items()}})
            if self.best is not None and self.best.update(done, row, lambda: self._state(done, tokens_seen)):
                self.result.best = {"metric": self.best.metric, "value": self.best.value, "step": done}
        dist_utils.barrier(self.info)

    # -- checkpoint ------------------------------------------------------
    def _state(self, done: int, tokens_seen: int) -> dict[str, Any]:
        return {
            "model": self.raw_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": done,
            "tokens_seen": tokens_seen,
            "model_config": self.plan.model_config.to_dict(),
            "train_config": self.config.to_flat_dict(),
            "tokenizer_sha256": self.train_split.tokenizer_sha256,
            "data_state": self.loader.state_dict(done),
            "rng": capture_rng_state(),
        }

    def checkpoint(self, done: int, tokens_seen: int) -> None:
        if self.info.is_main:
            save_checkpoint(self.run_dir, self._state(done, tokens_seen), keep_last=self.config.checkpoint.keep_last)
        dist_utils.barrier(self.info)

    # -- the loop --------------------------------------------------------
    def run(self, resume: bool, overwrite: bool, progress: bool) -> TrainResult:
        config, info, plan = self.config, self.info, self.plan
        start_step, tokens_seen = self.restore(resume, overwrite)
        if config.compile:
            self.model = torch.compile(self.model)
        self.model = dist_utils.wrap_ddp(self.model, info, self.device)
        flops_token, peak = self.raw_model.flops_per_token(plan.seq_len), peak_flops(self.device)
        if config.eval_every and info.is_main and self.suite is not None and self.suite.validation is None:
            print(f"{self.data_dir}: the val split is empty; continuous evaluation has no validation loss", file=sys.stderr)
        metric = config.eval.best_metric
        self.best = BestCheckpoint(self.run_dir, metric, start_step) if metric and info.is_main else None
        self.metrics = run_files.MetricsLog(self.run_dir, config) if info.is_main else None
        bar = run_files.progress_bar(start_step, plan.max_steps, enabled=progress and info.is_main)
        self.result = result = TrainResult(self.run_dir, start_step, start_step, tokens_seen)
        step_timer = time.perf_counter()
        try:
            for step in range(start_step, plan.max_steps):
                loss_value, norm_value, lr = self.step(step)
                done = step + 1
                tokens_seen += plan.tokens_per_step
                result.losses.append(loss_value)
                result.final_step, result.tokens_seen = done, tokens_seen
                now = time.perf_counter()
                tokens_per_s = plan.tokens_per_step / max(now - step_timer, 1e-9)
                step_timer = now
                if info.is_main and (done % config.log_every == 0 or done == plan.max_steps):
                    row = {"step": done, "split": "train", "loss": _json_safe(loss_value), "lr": lr, "tokens_seen": tokens_seen,
                           "tokens_per_s": tokens_per_s, "grad_norm": _json_safe(norm_value), "epoch": self.loader.epoch_at(done)}
                    if peak:
                        row["mfu"] = flops_token * tokens_per_s / (peak * info.world_size)
                    self.metrics.log(row)
                    bar.set_postfix(loss=f"{loss_value:.4f}", tok_s=f"{tokens_per_s:,.0f}", **({"mfu": f"{row['mfu']:.1%}"} if peak else {}), refresh=False)
                bar.update(1)
                if config.eval_every and (done % config.eval_every == 0 or done == plan.max_steps):
                    self.evaluate(done, lr, tokens_seen)
                    step_timer = time.perf_counter()  # evaluation time is not training throughput
                if done % config.checkpoint.checkpoint_every == 0 or done == plan.max_steps:
                    self.checkpoint(done, tokens_seen)
                    step_timer = time.perf_counter()
        finally:
            bar.close()
            if self.metrics is not None:
                self.metrics.close()
        if self.best is not None and self.best.step is not None:
            result.best = {"metric": self.best.metric, "value": self.best.value, "step": self.best.step}
        if info.is_main and (self.run_dir / METRICS_FILE).stat().st_size:
            plot_losses(self.run_dir / METRICS_FILE, self.run_dir / LOSS_PLOT_FILE)
        return result


__all__ = [
    "CheckpointError",
    "NonFiniteLossError",
    "TrainConfigError",
    "TrainError",
    "TrainInputError",
    "TrainPlan",
    "TrainResult",
    "Trainer",
    "build_optimizer",
    "lr_at",
    "train",
]
