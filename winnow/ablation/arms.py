"""Train and score every arm of an ablation with the same instrument, and compare.

An arm is a corpus of curated documents (Parquet with `id` and `text`). All
arms share one tokenizer, one token budget, one model and one seed set. Seed
s gives every arm the same initial weights and the same data-order generator
(the trainer seeds both from it), so arm results pair by seed and the
comparisons in `stats.py` subtract what the seed alone does.

The budget: no arm may read its unique tokens more than `max_epochs` times
(repeating data up to about 4 epochs costs little; beyond that an arm is
measured on memorisation). When the asked budget would exceed that for the
smallest arm, the budget of every arm is lowered to max_epochs times the
smallest arm's tokens, so the arms still get equal compute, and the results
say so (`budget_capped_by`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow.ablation.scoring import PRIMARY_METRIC, ScoreSpec, blimp_status, metric_names, score_run
from winnow.ablation.stats import DEFAULT_ALPHA, compare
from winnow.core.atomic import atomic_write_json
from winnow.run_state import settings_hash
from winnow.core.errors import ConfigurationError

DEFAULT_MAX_EPOCHS = 4.0
DEFAULT_HELDOUT_FRACTION = 0.05  # of each arm's documents, by id hash: the held-out diagnostic


class ArmError(ConfigurationError):
    """The arms cannot be trained as asked; the message says why."""


@dataclass(frozen=True)
class Arm:
    name: str
    documents: str  # Parquet file, directory or glob
    work_dir: Path  # tokens/ and train-seed<S>/ go here
    info: dict[str, Any] = field(default_factory=dict)  # extra facts for results.json (dose, junk pages, ...)


@dataclass(frozen=True)
class Instrument:
    budget_tokens: int | None  # None: the smallest arm's tokens (one epoch of it)
    seeds: tuple[int, ...]
    score: ScoreSpec
    model: str = "tiny"
    train_overrides: dict[str, Any] = field(default_factory=dict)
    max_epochs: float | None = DEFAULT_MAX_EPOCHS
    alpha: float = DEFAULT_ALPHA
    heldout_fraction: float = DEFAULT_HELDOUT_FRACTION
    # Anneal mode: seed -> the base checkpoint every arm continues from (None: train from scratch).
    warm_starts: dict[int, str] | None = None
    preset: str | None = None  # the instrument preset the CLI filled defaults from (winnow/ablation/presets.py)


def tokenize_arms(arms: Sequence[Arm], tokenizer_path: Path, heldout_fraction: float, progress: bool) -> dict[str, dict[str, Any]]:
    """Token shards per arm (reused when documents, tokenizer and split are unchanged)."""
    from winnow.training.shard_format import sha256_file
    from winnow.training.tokens import tokenize_corpus

    manifests = {}
    for arm in arms:
        token_dir = arm.work_dir / "tokens"
        wanted = settings_hash({"docs": _fingerprint(arm.documents), "tokenizer": sha256_file(tokenizer_path), "heldout": heldout_fraction})
        stamp = token_dir / "ablation.settings"
        if stamp.is_file() and stamp.read_text() == wanted:
            manifests[arm.name] = json.loads((token_dir / "manifest.json").read_text())
            continue
        say(progress, f"== {arm.name}: tokenize")
        manifests[arm.name] = tokenize_corpus(arm.documents, str(tokenizer_path), str(token_dir), val_fraction=heldout_fraction, overwrite=True)
        stamp.write_text(wanted)
    return manifests


def _fingerprint(documents: str) -> list[tuple[str, int, int]]:
    from winnow.schemas.inputs import resolve_parquet_inputs

    return [(p, Path(p).stat().st_size, Path(p).stat().st_mtime_ns) for p in resolve_parquet_inputs(documents)]


def plan_budget(requested: int | None, train_tokens: dict[str, int], max_epochs: float | None) -> tuple[int, str | None]:
    """(budget per model, the arm that capped it or None)."""
    if not train_tokens or min(train_tokens.values()) <= 0:
        empty = [n for n, t in train_tokens.items() if t <= 0]
        raise ArmError(f"arms with no training tokens: {empty}")
    smallest = min(train_tokens, key=lambda n: (train_tokens[n], n))
    budget = requested if requested is not None else train_tokens[smallest]
    if budget <= 0:
        raise ArmError(f"the token budget must be positive, got {budget}")
    if max_epochs is not None and budget > max_epochs * train_tokens[smallest]:
        return int(max_epochs * train_tokens[smallest]), smallest
    return budget, None


def run_arms(arms: Sequence[Arm], tokenizer_path: Path, instrument: Instrument, progress: bool = True) -> dict[str, Any]:
    """Train every (arm, seed), score each run, and compare every arm with the first."""
    if len({a.name for a in arms}) != len(arms):
        raise ArmError(f"arm names must be unique, got {[a.name for a in arms]}")
    if not instrument.seeds:
        raise ArmError("give at least one seed")
    manifests = tokenize_arms(arms, tokenizer_path, instrument.heldout_fraction, progress)
    train_tokens = {name: int(m["splits"]["train"]["tokens"]) for name, m in manifests.items()}
    budget, capped_by = plan_budget(instrument.budget_tokens, train_tokens, instrument.max_epochs)
    if capped_by:
        say(progress, f"== budget lowered to {budget:,} tokens: {capped_by} has {train_tokens[capped_by]:,} and may be read at most {instrument.max_epochs:g} times")
    blimp_pairs, blimp_skip = blimp_status(instrument.score)
    if blimp_skip:
        say(progress, f"== BLiMP not scored: {blimp_skip}")
    params = non_embedding_params(instrument.model, arms[0].work_dir / "tokens")
    say(progress, f"== {budget:,} tokens per model: {budget / params:.1f} tokens per non-embedding parameter ({params:,}); "
        "compute-optimal training is about 20")
    clock = _Clock(len(arms) * len(instrument.seeds), progress)
    arm_rows = {}
    for arm in arms:
        runs = [_train_and_score(arm, seed, budget, instrument, blimp_pairs, clock) for seed in instrument.seeds]
        arm_rows[arm.name] = _arm_summary(arm, runs, manifests[arm.name], budget)
    return {
        "budget_tokens": budget,
        "budget_tokens_requested": instrument.budget_tokens,
        "budget_capped_by": capped_by,
        "max_epochs": instrument.max_epochs,
        "non_embedding_params": params,
        "tokens_per_parameter": budget / params,
        "eval_text": instrument.score.eval_text,
        "model": instrument.model,
        "preset": instrument.preset,
        "seeds": list(instrument.seeds),
        "alpha": instrument.alpha,
        "primary_metric": PRIMARY_METRIC,
        "blimp": {"dir": instrument.score.blimp_dir, "scored": blimp_pairs is not None, "skipped": blimp_skip,
                  "pairs": len(blimp_pairs) if blimp_pairs else 0},
        "checkpoints_averaged": instrument.score.average_last,
        "baseline": arms[0].name,
        "recipes": arm_rows,
        "comparisons": compare_arms(arm_rows, arms[0].name, instrument.alpha),
    }


def non_embedding_params(model: str, token_dir: Path) -> int:
    """The model's parameters outside the embeddings, for the tokens-per-parameter ratio."""
    from winnow.training.data import load_split
    from winnow.training.model import GPT, config_from_preset

    return GPT(config_from_preset(model, load_split(token_dir, "train").vocab_size)).num_params(exclude_embeddings=True)


def _arm_summary(arm: Arm, runs: list[dict[str, Any]], manifest: dict[str, Any], budget: int) -> dict[str, Any]:
    bpbs = [r["val_bpb"] for r in runs]
    unique = int(manifest["splits"]["train"]["tokens"])
    metrics = {}
    for name in metric_names(runs[0]["scores"]):
        values = [r["scores"][name] for r in runs]
        metrics[name] = {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                         "per_seed": {str(r["seed"]): r["scores"][name] for r in runs}}
    fields = runs[0]["scores"].get("blimp_fields") or {}
    return {
        "runs": runs,
        "mean_bpb": statistics.fmean(bpbs),
        "std_bpb": statistics.stdev(bpbs) if len(bpbs) > 1 else 0.0,
        "documents": manifest["splits"]["train"]["documents"],
        "tokens": unique,
        "unique_tokens": unique,
        "heldout_documents": manifest["splits"]["val"]["documents"],
        "epochs": budget / unique,
        "metrics": metrics,
        # BLiMP per field: the mean over seeds (each already the mean over checkpoints).
        "blimp_fields": {f: statistics.fmean(r["scores"]["blimp_fields"][f] for r in runs) for f in fields},
        **arm.info,
    }


def compare_arms(arm_rows: dict[str, dict[str, Any]], baseline: str, alpha: float) -> dict[str, dict[str, Any]]:
    """Per non-baseline arm and metric: the paired comparison with the baseline."""
    base = arm_rows[baseline]["metrics"]
    out: dict[str, dict[str, Any]] = {}
    for name, row in arm_rows.items():
        if name == baseline:
            continue
        out[name] = {}
        for metric, values in row["metrics"].items():
            if metric not in base:
                continue
            result = compare({int(s): v for s, v in base[metric]["per_seed"].items()}, {int(s): v for s, v in values["per_seed"].items()}, metric, alpha)
            out[name][metric] = result.to_dict()
        row["vs_baseline"] = {m: {k: c[k] for k in ("mean_diff", "ci95", "p_value", "verdict", "mde")} for m, c in out[name].items()}
    return out


def _train_config(instrument: Instrument, budget: int, seed: int, token_dir: Path):
    from winnow.training.config import TrainConfig, train_config_from_mapping
    from winnow.training.data import load_split
    from winnow.training.trainer import plan_run

    base = {**instrument.train_overrides, "max_tokens": budget, "seed": seed, "eval_every": 0}
    config = train_config_from_mapping(base, "ablation train settings", TrainConfig(model=instrument.model))
    steps = plan_run(config, load_split(token_dir, "train"), 1).max_steps
    # Checkpoints about every tenth of the run, the last `average_last` kept:
    # they are the ones averaged, all in the final stretch of training.
    every = checkpoint_spacing(steps)
    keep = instrument.score.average_last
    return train_config_from_mapping({**base, "checkpoint_every": every, "keep_last": keep}, "ablation train settings", TrainConfig(model=instrument.model)), steps


def checkpoint_spacing(steps: int) -> int:
    """Steps between checkpoints, about a tenth of the run. A divisor of `steps`
    is preferred, so the final checkpoint (always written at the last step) is
    as far from the one before as the others are from each other."""
    target = steps / 10
    divisors = [d for d in range(max(1, steps // 20), steps // 5 + 1) if d and steps % d == 0]
    if divisors:
        return min(divisors, key=lambda d: (abs(d - target), d))
    return max(1, round(target))


def _train_and_score(arm: Arm, seed: int, budget: int, instrument: Instrument, blimp_pairs: list[Any] | None, clock: "_Clock") -> dict[str, Any]:
    """One model, trained unless an identical finished run exists; rescored when only scoring changed."""
    from winnow.training.trainer import train

    token_dir = arm.work_dir / "tokens"
    run_dir = arm.work_dir / f"train-seed{seed}"
    config, steps = _train_config(instrument, budget, seed, token_dir)
    warm = (instrument.warm_starts or {}).get(seed)
    if instrument.warm_starts is not None and warm is None:
        raise ArmError(f"anneal mode has no base model for seed {seed}")
    train_key = settings_hash({"config": dataclasses.asdict(config), "manifest": (token_dir / "manifest.json").read_text(),
                               "warm_start": warm and _file_stamp(Path(warm))})
    score_key = settings_hash({"score": dataclasses.asdict(instrument.score), "blimp": len(blimp_pairs or [])})
    stamp = run_dir / "ablation.json"
    cached = json.loads(stamp.read_text()) if stamp.is_file() else {}
    label = f"{arm.name}, seed {seed}"
    if cached.get("settings") == train_key and cached.get("score_settings") == score_key and cached.get("result"):
        clock.skip(label)
        return cached["result"]
    if cached.get("settings") != train_key:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        clock.start(label, steps)
        if warm:
            from winnow.ablation.anneal import warm_start

            warm_start(config, token_dir, run_dir, Path(warm))
            train(config, token_dir, run_dir, resume=True, progress=clock.progress)
        else:
            train(config, token_dir, run_dir, overwrite=True, progress=clock.progress)
    else:
        clock.start(label + " (rescoring)", 0)
    scores = score_run(run_dir, token_dir, instrument.score, blimp_pairs)
    clock.done()
    tasks = {k[: -len("_acc")]: {"acc": v, "acc_norm": scores[k + "_norm"]} for k, v in scores.items() if k.endswith("_acc") and k + "_norm" in scores}
    result = {"seed": seed, "val_bpb": scores["eval_bpb"], "val_loss": scores["eval_loss"], "tasks": tasks, "steps": steps, "scores": scores}
    atomic_write_json(stamp, {"settings": train_key, "score_settings": score_key, "result": result})
    return result


def _file_stamp(path: Path) -> list[Any]:
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


class _Clock:
    """Progress lines: which model of how many, and the time left at the pace so far."""

    def __init__(self, total: int, progress: bool):
        self.total, self.progress, self.index, self.spent, self.timed = total, progress, 0, 0.0, 0
        self._started = 0.0

    def skip(self, label: str) -> None:
        self.index += 1
        say(self.progress, f"== model {self.index}/{self.total}: {label}: up to date")

    def start(self, label: str, steps: int) -> None:
        self.index += 1
        left = ""
        if self.timed:
            remaining = (self.total - self.index + 1) * self.spent / self.timed
            left = f", about {math.ceil(remaining / 60)} min left"
        say(self.progress, f"== model {self.index}/{self.total}: {label}, {steps} steps{left}")
        self._started = time.perf_counter()

    def done(self) -> None:
        self.spent += time.perf_counter() - self._started
        self.timed += 1


def say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)
