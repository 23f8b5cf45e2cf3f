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

import json
import math
import os
import random
import shutil
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
from winnow.training.checkpoint import (
    CHECKPOINT_DIR,
    TOKENIZER_FILE,
    CheckpointError,
    capture_rng_state,
    latest_checkpoint_path,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from winnow.training.config import NONFINITE_SKIP, ScheduleConfig, TrainConfig
from winnow.training.data import TokenSplit, TokenWindowLoader, load_split
from winnow.training.model import GPT, ModelConfig, config_from_preset

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.yaml"
LOSS_PLOT_FILE = "loss.png"
RUN_OUTPUTS = (CHECKPOINT_DIR, METRICS_FILE, CONFIG_FILE, LOSS_PLOT_FILE, TOKENIZER_FILE, "tensorboard")
# Dense bf16 peak FLOP/s per GPU for MFU; matched against the device name.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "4090": 165e12}


class TrainError(RuntimeError):
    """Training cannot start or continue; the message says why."""


class NonFiniteLossError(TrainError):
    """The loss or gradient norm became NaN/inf; the message names the step."""


@dataclass
class TrainResult:
    run_dir: Path
    start_step: int  # steps already done when this invocation began (0 unless resumed)
    final_step: int
    tokens_seen: int
    losses: list[float] = field(default_factory=list)  # train loss of each step run here, in order
    skipped_steps: list[int] = field(default_factory=list)
    val_losses: list[tuple[int, float]] = field(default_factory=list)


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
            raise TrainError("--device cuda was requested but CUDA is not available")
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


def _prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> bool:
    """Returns whether a checkpoint to resume from exists. Only rank 0 calls this."""
    has_checkpoint = (run_dir / CHECKPOINT_DIR / "latest.json").is_file()
    existing = run_dir.is_dir() and any(run_dir.iterdir())
    if resume:
        return has_checkpoint
    if existing and not overwrite:
        raise TrainError(f"{run_dir}: run directory exists and is not empty; pass --resume or --overwrite")
    if existing:
        # Remove only what a run writes, never unrelated files a user put there.
        for name in RUN_OUTPUTS:
            target = run_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    return False


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop rows logged after the checkpoint we resume from: they will be redone."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def plot_losses(metrics_path: Path, out_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    train = [(r["step"], r["loss"]) for r in rows if r["split"] == "train"]
    val = [(r["step"], r["val_loss"]) for r in rows if r["split"] == "val"]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), label="train", linewidth=1)
    if val:
        ax.plot(*zip(*val), "o-", label="val", linewidth=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


class _ValidationSet:
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


def _json_safe(value: float) -> float | None:
    return value if math.isfinite(value) else None


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
        return _train(config, data_dir, run_dir, resume, overwrite, progress, info, device)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        dist_utils.cleanup(info)


def _train(
    config: TrainConfig,
    data_dir: Path,
    run_dir: Path,
    resume: bool,
    overwrite: bool,
    progress: bool,
    info: dist_utils.DistInfo,
    device: torch.device,
) -> TrainResult:
    torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // info.local_world_size))
    if config.deterministic and device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    train_split = load_split(data_dir, "train")
    val_split = load_split(data_dir, "val", verify_tokenizer=False) if config.eval_every else None
    model_config = config_from_preset(config.model, train_split.vocab_size)
    seq_len = config.data.seq_len or model_config.max_seq_len
    if seq_len > model_config.max_seq_len:
        raise TrainError(f"seq_len {seq_len} exceeds the model's max_seq_len {model_config.max_seq_len}")

    micro_tokens = config.data.batch_size * seq_len * info.world_size
    tokens_per_step = config.data.tokens_per_step or micro_tokens
    if tokens_per_step % micro_tokens:
        raise TrainError(
            f"tokens_per_step {tokens_per_step} is not a multiple of batch_size x seq_len x world_size = "
            f"{config.data.batch_size} x {seq_len} x {info.world_size} = {micro_tokens}"
        )
    accum_steps = tokens_per_step // micro_tokens
    if config.max_steps is not None:
        max_steps = config.max_steps
    elif config.max_tokens is not None:
        max_steps = math.ceil(config.max_tokens / tokens_per_step)
    else:
        raise TrainError("set max_steps or max_tokens (--max-steps / --max-tokens)")
    schedule_steps = config.schedule.schedule_steps or max_steps

    checkpoint_exists = _prepare_run_dir(run_dir, resume, overwrite) if info.is_main else False
    checkpoint_exists = dist_utils.broadcast_flag(checkpoint_exists, info)

    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    random.seed(config.seed)
    model = GPT(model_config).to(device)
    optimizer = build_optimizer(model, config, device)
    loader = TokenWindowLoader(
        train_split.paths, seq_len, config.data.batch_size, config.seed, accum_steps, info.rank, info.world_size
    )

    start_step, tokens_seen = 0, 0
    if checkpoint_exists:
        path = latest_checkpoint_path(run_dir)
        state = load_checkpoint(path, model_config, train_split.tokenizer_sha256, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_step, tokens_seen = int(state["step"]), int(state["tokens_seen"])
        loader.check_resumable(state["data_state"], str(path))
        restore_rng_state(state["rng"])
        if info.is_main:
            changed = sorted(
                k for k, v in config.to_flat_dict().items() if state["train_config"].get(k, v) != v
            )
            print(f"resuming from {path} at step {start_step}" + (f" (changed: {', '.join(changed)})" if changed else ""), file=sys.stderr)
            _truncate_metrics(run_dir / METRICS_FILE, start_step)
    elif resume and info.is_main:
        print(f"no checkpoint in {run_dir}; starting from step 0", file=sys.stderr)

    if info.is_main:
        _write_run_files(run_dir, config, model_config, train_split, max_steps, tokens_per_step, accum_steps, seq_len, info, device)
    dist_utils.barrier(info)

    raw_model = model
    if config.compile:
        model = torch.compile(model)
    model = dist_utils.wrap_ddp(model, info, device)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    flops_token = raw_model.flops_per_token(seq_len)
    peak = peak_flops(device)
    validation = _ValidationSet(val_split) if val_split is not None and val_split.tokens > 0 else None
    if config.eval_every and validation is None and info.is_main:
        print(f"{data_dir}: the val split is empty; continuous evaluation is off", file=sys.stderr)

    writer = _tensorboard_writer(run_dir, config) if info.is_main else None
    metrics = open(run_dir / METRICS_FILE, "a", encoding="utf-8") if info.is_main else None
    bar = _progress_bar(start_step, max_steps, enabled=progress and info.is_main)
    result = TrainResult(run_dir, start_step, start_step, tokens_seen)
    step_timer = time.perf_counter()
    try:
        for step in range(start_step, max_steps):
            lr = lr_at(step, config.optim.lr, config.schedule, schedule_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_sum = torch.zeros((), device=device)
            for micro in range(accum_steps):
                x, y = loader.batch(step, micro)
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                # Gradients are all-reduced only on the last micro-step.
                sync = micro == accum_steps - 1 or not info.enabled
                with (nullcontext() if sync else model.no_sync()), amp:
                    _, loss = model(x, y, return_logits=False)
                (loss / accum_steps).backward()
                loss_sum += loss.detach().float()
            step_loss = dist_utils.all_reduce_mean(loss_sum / accum_steps, info)
            grad_norm = (
                torch.nn.utils.clip_grad_norm_(raw_model.parameters(), config.optim.grad_clip)
                if config.optim.grad_clip is not None
                else torch.zeros((), device=device)
            )
            loss_value, norm_value = float(step_loss), float(grad_norm)
            done = step + 1
            if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
                what = f"step {done}: non-finite {'loss' if not math.isfinite(loss_value) else 'gradient norm'} ({loss_value}, grad norm {norm_value})"
                if config.on_nonfinite != NONFINITE_SKIP:
                    raise NonFiniteLossError(f"{what}; stopping (the last checkpoint is kept; set on_nonfinite: skip to skip such batches)")
                optimizer.zero_grad(set_to_none=True)
                result.skipped_steps.append(done)
                if info.is_main:
                    print(f"{what}; skipping this batch", file=sys.stderr)
            else:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            tokens_seen += tokens_per_step
            result.losses.append(loss_value)
            result.final_step, result.tokens_seen = done, tokens_seen

            now = time.perf_counter()
            tokens_per_s = tokens_per_step / max(now - step_timer, 1e-9)
            step_timer = now
            if info.is_main and (done % config.log_every == 0 or done == max_steps):
                row = {"step": done, "split": "train", "loss": _json_safe(loss_value), "lr": lr, "tokens_seen": tokens_seen,
                       "tokens_per_s": tokens_per_s, "grad_norm": _json_safe(norm_value), "epoch": loader.epoch_at(done)}
                if peak:
                    row["mfu"] = flops_token * tokens_per_s / (peak * info.world_size)
                _log(metrics, writer, row)
                bar.set_postfix(loss=f"{loss_value:.4f}", tok_s=f"{tokens_per_s:,.0f}", **({"mfu": f"{row['mfu']:.1%}"} if peak else {}), refresh=False)
            bar.update(1)

            if validation is not None and (done % config.eval_every == 0 or done == max_steps):
                if info.is_main:
                    with amp:
                        row = validation.evaluate(raw_model, seq_len, config.eval_batch_size or config.data.batch_size, device, config.eval_tokens)
                    result.val_losses.append((done, row["val_loss"]))
                    _log(metrics, writer, {"step": done, "split": "val", "loss": row["val_loss"], "lr": lr, "tokens_seen": tokens_seen, **row})
                dist_utils.barrier(info)
                step_timer = time.perf_counter()  # evaluation time is not training throughput

            if done % config.checkpoint.checkpoint_every == 0 or done == max_steps:
                if info.is_main:
                    state = {
                        "model": raw_model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "step": done,
                        "tokens_seen": tokens_seen,
                        "model_config": model_config.to_dict(),
                        "train_config": config.to_flat_dict(),
                        "tokenizer_sha256": train_split.tokenizer_sha256,
                        "data_state": loader.state_dict(done),
                        "rng": capture_rng_state(),
                    }
                    save_checkpoint(run_dir, state, keep_last=config.checkpoint.keep_last)
                dist_utils.barrier(info)
                step_timer = time.perf_counter()
    finally:
        bar.close()
        if metrics is not None:
            metrics.close()
        if writer is not None:
            writer.close()
    if info.is_main and (run_dir / METRICS_FILE).stat().st_size:
        plot_losses(run_dir / METRICS_FILE, run_dir / LOSS_PLOT_FILE)
    return result


def _log(metrics: Any, writer: Any, row: dict[str, Any]) -> None:
    metrics.write(json.dumps(row) + "\n")
    metrics.flush()
    if writer is not None:
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step" and value is not None:
                writer.add_scalar(f"{row['split']}/{key}", value, row["step"])


def _tensorboard_writer(run_dir: Path, config: TrainConfig) -> Any:
    if not config.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("tensorboard is not installed; skipping TensorBoard logging", file=sys.stderr)
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


class _NoBar:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kwargs: Any) -> None: ...
    def close(self) -> None: ...


def _progress_bar(start: int, total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    # In a log file (no terminal) a redraw per step would bury the output: update rarely.
    interval = 0.1 if sys.stderr.isatty() else 15.0
    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True, file=sys.stderr, mininterval=interval)


def _write_run_files(
    run_dir: Path,
    config: TrainConfig,
    model_config: ModelConfig,
    split: TokenSplit,
    max_steps: int,
    tokens_per_step: int,
    accum_steps: int,
    seq_len: int,
    info: dist_utils.DistInfo,
    device: torch.device,
) -> None:
    import yaml

    run_dir.mkdir(parents=True, exist_ok=True)
    tokenizer_copy = run_dir / TOKENIZER_FILE
    if not tokenizer_copy.is_file():
        shutil.copyfile(split.tokenizer_path, tokenizer_copy)
    resolved = {
        "train": config.to_flat_dict(),
        "model_config": model_config.to_dict(),
        "resolved": {
            "data_dir": str(split.directory.resolve()),
            "tokenizer_sha256": split.tokenizer_sha256,
            "max_steps": max_steps,
            "seq_len": seq_len,
            "tokens_per_step": tokens_per_step,
            "accum_steps": accum_steps,
            "world_size": info.world_size,
            "device": str(device),
            "ffn_hidden_size": model_config.ffn_hidden_size,
        },
    }
    tmp = run_dir / f".{CONFIG_FILE}.tmp"
    tmp.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
    os.replace(tmp, run_dir / CONFIG_FILE)


__all__ = [
    "CheckpointError",
    "NonFiniteLossError",
    "TrainError",
    "TrainResult",
    "build_optimizer",
    "lr_at",
    "train",
]
