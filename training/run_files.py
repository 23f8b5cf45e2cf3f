"""What a training run writes besides checkpoints: the run directory's
preparation, metrics.jsonl (and TensorBoard), config.yaml, the loss plot and
the progress bar. Split out of trainer.py so the loop stays readable."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from winnow.core.atomic import atomic_write_text
from winnow.training import distributed as dist_utils
from winnow.training.checkpoint import CHECKPOINT_DIR, TOKENIZER_FILE
from winnow.training.config import TrainConfig
from winnow.training.data import TokenSplit
from winnow.training.model import ModelConfig
from winnow.core.errors import ConfigurationError

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.yaml"
LOSS_PLOT_FILE = "loss.png"
RUN_OUTPUTS = (CHECKPOINT_DIR, METRICS_FILE, CONFIG_FILE, LOSS_PLOT_FILE, TOKENIZER_FILE, "tensorboard")


class RunDirectoryError(ConfigurationError):
    """The run directory cannot be used as asked; the message says why."""


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> bool:
    """Returns whether a checkpoint to resume from exists. Only rank 0 calls this."""
    has_checkpoint = (run_dir / CHECKPOINT_DIR / "latest.json").is_file()
    existing = run_dir.is_dir() and any(run_dir.iterdir())
    if resume:
        return has_checkpoint
    if existing and not overwrite:
        raise RunDirectoryError(f"{run_dir}: run directory exists and is not empty; pass --resume or --overwrite")
    if existing:
        # Remove only what a run writes, never unrelated files a user put there.
        for name in RUN_OUTPUTS:
            target = run_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    return False


def truncate_metrics(path: Path, step: int) -> None:
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
    # A val row without val_loss holds only task/text metrics (an empty val split).
    val = [(r["step"], r["val_loss"]) for r in rows if r["split"] == "val" and r.get("val_loss") is not None]
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


class MetricsLog:
    """metrics.jsonl (one JSON row per line, flushed each row) and, when
    enabled, TensorBoard scalars under `<split>/<key>`."""

    def __init__(self, run_dir: Path, config: TrainConfig):
        self.file = open(run_dir / METRICS_FILE, "a", encoding="utf-8")
        self.writer = _tensorboard_writer(run_dir, config)

    def log(self, row: dict[str, Any]) -> None:
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.writer is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step" and value is not None:
                    self.writer.add_scalar(f"{row['split']}/{key}", value, row["step"])

    def close(self) -> None:
        self.file.close()
        if self.writer is not None:
            self.writer.close()


def _tensorboard_writer(run_dir: Path, config: TrainConfig) -> Any:
    if not config.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("tensorboard is not installed; skipping TensorBoard logging", file=sys.stderr)
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


class NoBar:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kwargs: Any) -> None: ...
    def close(self) -> None: ...


def progress_bar(start: int, total: int, enabled: bool) -> Any:
    if not enabled:
        return NoBar()
    from tqdm import tqdm

    # In a log file (no terminal) a redraw per step would bury the output: update rarely.
    interval = 0.1 if sys.stderr.isatty() else 15.0
    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True, file=sys.stderr, mininterval=interval)


def write_run_files(
    run_dir: Path,
    config: TrainConfig,
    model_config: ModelConfig,
    split: TokenSplit,
    plan: Any,
    info: dist_utils.DistInfo,
    device: Any,
) -> None:
    """config.yaml (the train config, model config and resolved plan) and a
    copy of the tokenizer, so the run directory is self-contained."""
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
            "max_steps": plan.max_steps,
            "seq_len": plan.seq_len,
            "tokens_per_step": plan.tokens_per_step,
            "accum_steps": plan.accum_steps,
            "world_size": info.world_size,
            "device": str(device),
            "ffn_hidden_size": model_config.ffn_hidden_size,
        },
    }
    atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(resolved, sort_keys=False))
