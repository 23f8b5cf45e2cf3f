"""Anneal mode: one base model, continued on each arm.

Training every arm from scratch spends most of its compute re-learning what
any text teaches (bytes, frequent words). In anneal mode a base model is
trained once on a neutral corpus (`--base SRC...`), then every arm
continues it from the same weights on a 50/50 mix of its own pages and
base pages, with the learning rate decayed to zero over a short budget
(by default 15% of the base tokens). The arms then differ only in what the
last stretch of training saw, which is the question an ablation asks, and
the deltas are measured on a model that already knows the basics (the way
Ultra-FineWeb verifies classifier seeds cheaply).

One base model is trained per seed, so paired seeds still pair initial
weights and data order; each base is trained once and reused by every arm.
"""
from __future__ import annotations

import dataclasses
import json
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from winnow.ablation.arms import Arm, Instrument, say, tokenize_arms
from winnow.core.atomic import atomic_write_json
from winnow.run_state import settings_hash

MODE_SCRATCH = "scratch"
MODE_ANNEAL = "anneal"
MODES = (MODE_SCRATCH, MODE_ANNEAL)
DEFAULT_ANNEAL_FRACTION = 0.15  # anneal budget as a fraction of the base tokens
BASE_SHARE = 0.5  # of the anneal mix's words
# The anneal decays to zero from the start: a short warm-up, no floor.
ANNEAL_SCHEDULE = {"warmup_steps": 0, "min_lr_ratio": 0.0, "schedule": "cosine"}
BASE_ARM = "base"

Page = tuple[str, str]


def mixed_pages(arm_pages: Sequence[Page], base_pages: Sequence[Page], seed: int = 0) -> list[Page]:
    """The arm's pages plus base pages (seeded order) until the base holds BASE_SHARE of the words."""
    arm_words = sum(len(t.split()) for _, t in arm_pages)
    wanted = arm_words * BASE_SHARE / (1 - BASE_SHARE)
    order = list(base_pages)
    random.Random(f"winnow-anneal-mix:{seed}").shuffle(order)
    taken, words = [], 0
    for doc_id, text in order:
        if words >= wanted:
            break
        taken.append((f"{BASE_ARM}/{doc_id}", text))
        words += len(text.split())
    return list(arm_pages) + taken


def anneal_arms(arms: Sequence[Arm], base_pages: Sequence[Page], root: Path) -> list[Arm]:
    """Each arm's anneal corpus: its pages mixed with base pages."""
    from winnow.ablation.calibrate import read_corpus, write_corpus

    out = []
    for arm in arms:
        pages = mixed_pages(read_corpus(arm.documents), base_pages)
        path = write_corpus(pages, root / "corpora" / f"{arm.name}.parquet")
        out.append(Arm(arm.name, path, arm.work_dir / "anneal", {**arm.info, "anneal_documents": len(pages)}))
    return out


def train_bases(base_pages: Sequence[Page], root: Path, tokenizer_path: Path, instrument: Instrument, base_tokens: int, progress: bool) -> dict[int, Path]:
    """One base model per seed on the base corpus; {seed: its final checkpoint}."""
    from winnow.ablation.calibrate import write_corpus
    from winnow.training.checkpoint import latest_checkpoint_path
    from winnow.training.config import TrainConfig, train_config_from_mapping
    from winnow.training.trainer import train

    arm = Arm(BASE_ARM, write_corpus(base_pages, root / "corpora" / f"{BASE_ARM}.parquet"), root / BASE_ARM)
    manifest = tokenize_arms([arm], tokenizer_path, instrument.heldout_fraction, progress)[BASE_ARM]
    token_dir = arm.work_dir / "tokens"
    found = {}
    for seed in instrument.seeds:
        settings = {**instrument.train_overrides, "max_tokens": base_tokens, "seed": seed, "eval_every": 0}
        config = train_config_from_mapping(settings, "anneal base settings", TrainConfig(model=instrument.model))
        run_dir = arm.work_dir / f"train-seed{seed}"
        wanted = settings_hash({"config": dataclasses.asdict(config), "manifest": manifest})
        stamp = run_dir / "base.settings"
        if not (stamp.is_file() and stamp.read_text() == wanted):
            say(progress, f"== anneal base, seed {seed}: train on {manifest['splits']['train']['tokens']:,} tokens")
            if run_dir.exists():
                shutil.rmtree(run_dir)
            train(config, token_dir, run_dir, overwrite=True, progress=progress)
            stamp.write_text(wanted)
        found[seed] = latest_checkpoint_path(run_dir)
    return found


def warm_start(config: Any, token_dir: Path, run_dir: Path, base_checkpoint: Path) -> None:
    """Write RUN_DIR/checkpoints/step-0 holding the base weights, a fresh optimizer
    and this run's data stream at step 0, so `train(..., resume=True)` continues
    the base model on this arm's data."""
    import torch

    from winnow.training.checkpoint import capture_rng_state, load_checkpoint, save_checkpoint
    from winnow.training.data import TokenWindowLoader, load_split
    from winnow.training.model import GPT
    from winnow.training.trainer import build_optimizer, plan_run

    split = load_split(token_dir, "train")
    plan = plan_run(config, split, 1)
    base = load_checkpoint(base_checkpoint, plan.model_config, split.tokenizer_sha256, map_location="cpu")
    torch.manual_seed(config.seed)
    model = GPT(plan.model_config)
    model.load_state_dict(base["model"])
    optimizer = build_optimizer(model, config, torch.device("cpu"))
    loader = TokenWindowLoader(split.paths, plan.seq_len, config.data.batch_size, config.seed, plan.accum_steps)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    save_checkpoint(run_dir, {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": 0, "tokens_seen": 0,
        "model_config": plan.model_config.to_dict(), "train_config": config.to_flat_dict(),
        "tokenizer_sha256": split.tokenizer_sha256, "data_state": loader.state_dict(0), "rng": capture_rng_state(),
    })
    (run_dir / "warm_start.json").write_text(json.dumps({"base_checkpoint": str(base_checkpoint)}), encoding="utf-8")


def anneal_overrides(train_overrides: dict[str, Any]) -> dict[str, Any]:
    """The anneal's schedule on top of the user's train settings (theirs win where given)."""
    return {**ANNEAL_SCHEDULE, **train_overrides}


def write_anneal_info(out: Path, info: dict[str, Any]) -> None:
    atomic_write_json(out / "anneal.json", info)


@dataclasses.dataclass(frozen=True)
class AnnealSpec:
    base_pages: tuple[Page, ...]
    base_tokens: int | None = None  # None: one epoch of the base corpus


def prepare_anneal(arms: Sequence[Arm], spec: AnnealSpec, root: Path, mix_root: Path, tokenizer_path: Path, instrument: Instrument,
                   progress: bool) -> tuple[list[Arm], Instrument]:
    """Train the bases under ROOT (once, shared by an ablation and its calibration), build the
    mixed arms under MIX_ROOT, and return the instrument that continues the bases."""
    from winnow.ablation.calibrate import write_corpus

    base_path = write_corpus(spec.base_pages, root / "corpora" / f"{BASE_ARM}.parquet")
    base_arm = Arm(BASE_ARM, base_path, root / BASE_ARM)
    base_train = int(tokenize_arms([base_arm], tokenizer_path, instrument.heldout_fraction, progress)[BASE_ARM]["splits"]["train"]["tokens"])
    base_tokens = spec.base_tokens or base_train
    bases = train_bases(spec.base_pages, root, tokenizer_path, instrument, base_tokens, progress)
    budget = instrument.budget_tokens or max(1, round(DEFAULT_ANNEAL_FRACTION * base_tokens))
    annealed = dataclasses.replace(
        instrument, budget_tokens=budget, train_overrides=anneal_overrides(instrument.train_overrides),
        warm_starts={seed: str(path) for seed, path in bases.items()},
    )
    write_anneal_info(root, {"base_tokens": base_tokens, "base_unique_tokens": base_train, "anneal_budget_tokens": budget,
                             "base_share": BASE_SHARE, "bases": {str(s): str(p) for s, p in bases.items()}})
    return anneal_arms(arms, spec.base_pages, mix_root), annealed
