"""`winnow train`. Importing this module imports neither torch nor Beam: the
handler imports the trainer when it runs."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from winnow.cli.vocabulary import add_deprecated_alias
from winnow.core.errors import UserError, WinnowError

# CLI flag destinations that map 1:1 to train-config keys (flat YAML keys).
CONFIG_FLAGS = (
    "model",
    "max_steps",
    "max_tokens",
    "batch_size",
    "seq_len",
    "tokens_per_step",
    "lr",
    "schedule",
    "warmup_steps",
    "eval_every",
    "checkpoint_every",
    "seed",
    "device",
    "compile",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a GPT on a token directory",
        description=(
            "Train a Llama-style GPT on the train split of a token directory (winnow tokenize). "
            "Flags override --config YAML keys, which override defaults. "
            "Run under torchrun for data-parallel training."
        ),
    )
    p.add_argument("--input", dest="data", type=Path, metavar="TOKENS_DIR", help="token directory with manifest.json (winnow tokenize); required")
    add_deprecated_alias(p, "--data", "--input", dest="data", type=Path)
    p.add_argument("--output", required=True, type=Path, help="run directory to write")
    p.add_argument("--config", type=Path, help="YAML train config; keys are these flags with underscores")
    # The train-config flags: name, type, default and help from the config dataclasses'
    # fields (training/config.py), so a key and its flag cannot disagree.
    from winnow.core.config_loader import add_field_flags
    from winnow.training.config import key_classes

    classes = key_classes()
    add_field_flags(p, classes["model"], ["model"])
    steps = p.add_mutually_exclusive_group()
    add_field_flags(steps, classes["max_steps"], ["max_steps", "max_tokens"])
    for key in CONFIG_FLAGS[3:]:
        add_field_flags(p, classes[key], [key])
    existing = p.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true", help="continue from the run directory's latest checkpoint")
    existing.add_argument("--overwrite", action="store_true", help="replace an existing run directory's outputs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_train)


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The train-config keys given on the command line (unset flags are None)."""
    return {key: getattr(args, key) for key in CONFIG_FLAGS if getattr(args, key, None) is not None}


def _resumed_config(run_dir: Path) -> Any:
    """The train config recorded in RUN_DIR/config.yaml, or None for a fresh run."""
    import yaml

    from winnow.training.config import train_config_from_mapping

    path = run_dir / "config.yaml"
    if not path.is_file():
        return None
    try:
        recorded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: cannot read the run's config: {exc}") from exc
    if not isinstance(recorded, dict) or not isinstance(recorded.get("train"), dict):
        raise UserError(f"{path}: has no 'train' mapping; not a winnow run config")
    return train_config_from_mapping(recorded["train"], source=str(path))


def run_train(args: argparse.Namespace) -> int:
    from winnow.training.config import ConfigError, load_train_config, train_config_from_mapping
    from winnow.training.trainer import NonFiniteLossError, train

    if args.data is None:
        raise UserError("--input TOKENS_DIR is required: the token directory to train on (winnow tokenize)")
    if not args.data.is_dir():
        raise UserError(f"--input {args.data}: no such token directory")
    try:
        # Resuming continues with the run's own config unless YAML or flags change it.
        config = _resumed_config(args.output) if args.resume else None
        if args.config:
            config = load_train_config(args.config, base=config)
        overrides = flag_overrides(args)
        if "max_steps" in overrides or "max_tokens" in overrides:
            # A flag picks the run length; it replaces the other form from the YAML.
            overrides.setdefault("max_steps", None)
            overrides.setdefault("max_tokens", None)
        config = train_config_from_mapping(overrides, source="command line", base=config)
    except ConfigError as exc:
        raise UserError(str(exc)) from exc
    _check_warmup(config)
    try:
        result = train(config, args.data, args.output, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    except NonFiniteLossError as exc:
        print(f"winnow train: {exc}")
        return 1
    except KeyboardInterrupt:
        raise _interrupted(args) from None
    except WinnowError:
        raise  # TrainError, TokenDataError, CheckpointError: each subclass carries its own exit status
    except ValueError as exc:  # a builtin from torch or numpy about a setting (a learning rate, a shape)
        raise UserError(str(exc)) from exc
    last = f", last loss {result.losses[-1]:.4f}" if result.losses else ""
    print(f"trained to step {result.final_step} ({result.tokens_seen:,} tokens){last}; run directory {result.run_dir}")
    return 0


def _interrupted(args: argparse.Namespace) -> BaseException:
    """Ctrl-C: training stops without a checkpoint of its own (one taken mid-step would not
    resume exactly); say which checkpoint --resume continues from."""
    import json

    from winnow.interrupt import Interrupted, resume_command

    latest = Path(args.output) / "checkpoints" / "latest.json"
    try:
        where = f"--resume continues from the checkpoint at step {json.loads(latest.read_text())['step']}"
    except (OSError, ValueError, KeyError):
        where = "no checkpoint was written yet, so --resume starts from step 0"
    return Interrupted(f"training stopped; {where}\n  continue with: {resume_command(args.argv)}")


def _check_warmup(config: Any) -> None:
    """A warm-up longer than the run: an error when it was set (flag, YAML or the resumed
    run's config), a warning when it is the default."""
    import sys

    from winnow.training.config import ScheduleConfig, warmup_problems

    explicit = config.schedule.warmup_steps != ScheduleConfig().warmup_steps
    problems, warnings = warmup_problems(config, "train config", explicit)
    if problems:
        raise UserError(problems[0])
    for warning in warnings:
        print(f"winnow train: warning: {warning}", file=sys.stderr)
