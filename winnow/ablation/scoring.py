"""What every ablation model is scored on, averaged over its last checkpoints.

Metrics (names are the keys of results.json and of the comparisons):

- `eval_bpb`: bits per byte on the clean reference text (`--eval-text`),
  which no arm trained on; the primary metric;
- `blimp_acc`: BLiMP accuracy, the mean over paradigms (`training/blimp.py`),
  plus `blimp_fields` per field; skipped with a reason when no BLiMP
  directory is there;
- `heldout_bpb`: bits per byte on the arm's own held-out split (documents
  chosen by id hash when tokenizing). A diagnostic only: each arm is scored
  on different text, so it says how well a model fits its own data, not
  which data is better;
- `<task>_acc`, `<task>_acc_norm`: multiple-choice tasks given with `--tasks`.

Each metric is computed at the last `average_last` checkpoints of a run (near
the end of training) and averaged: single checkpoints wobble with the last
few batches; their mean is a steadier reading of the same model.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVAL_BPB = "eval_bpb"
BLIMP_ACC = "blimp_acc"
HELDOUT_BPB = "heldout_bpb"
PRIMARY_METRIC = EVAL_BPB
DIAGNOSTIC_METRICS = (HELDOUT_BPB,)  # compared, but never the basis of a verdict on data quality
DEFAULT_AVERAGE_LAST = 3
# BLiMP pairs per paradigm scored per checkpoint (67 paradigms): a fixed
# subset keeps scoring a small share of training time on a CPU.
DEFAULT_BLIMP_PER_PARADIGM = 100
# Where the 67 BLiMP paradigms are looked for by default, relative to the
# working directory (the repository root in this project's layout).
DEFAULT_BLIMP_DIR = "../shared/data/eval/blimp"

SKIP_NO_BLIMP = "no BLiMP directory"
SKIP_EMPTY_HELDOUT = "the arm's held-out split is empty"


@dataclass(frozen=True)
class ScoreSpec:
    eval_text: str
    blimp_dir: str | None = None
    blimp_per_paradigm: int | None = DEFAULT_BLIMP_PER_PARADIGM
    tasks: tuple[str, ...] = ()
    average_last: int = DEFAULT_AVERAGE_LAST
    device: str = "cpu"
    # Predicted tokens of the reference text and of the held-out split per
    # checkpoint (the first N; None = all): scoring's share of a CPU budget.
    eval_tokens: int | None = None


def blimp_status(spec: ScoreSpec) -> tuple[list[Any] | None, str | None]:
    """(pairs, None) when BLiMP can be scored, else (None, why not)."""
    if not spec.blimp_dir:
        return None, SKIP_NO_BLIMP
    path = Path(spec.blimp_dir)
    if not path.is_dir() or not any(path.glob("*.jsonl")):
        return None, f"{SKIP_NO_BLIMP}: {path} has no *.jsonl files"
    from winnow.training.blimp import load_blimp

    return load_blimp(path, spec.blimp_per_paradigm), None


def checkpoints_to_average(run_dir: Path, count: int) -> list[Path]:
    """The newest `count` step checkpoints of a run, oldest first."""
    from winnow.training.checkpoint import CHECKPOINT_DIR

    # Step 0 is never a scoring point: in anneal mode it is the warm start (the base model).
    found = sorted(p for p in (run_dir / CHECKPOINT_DIR).glob("step-*.pt") if p.name != "step-00000000.pt")
    if not found:
        raise FileNotFoundError(f"{run_dir}: no checkpoints to score")
    return found[-count:]


def score_checkpoint(model: Any, tokenizer: Any, spec: ScoreSpec, token_dir: Path, blimp_pairs: list[Any] | None) -> dict[str, Any]:
    """Every metric of one model (a dict of floats, plus `blimp_fields` and `tasks`)."""
    import torch

    from winnow.training.evaluate import evaluate_multiple_choice, evaluate_split, evaluate_text, iter_text_source
    from winnow.training.mc_tasks import load_mc_tasks

    out: dict[str, Any] = {}
    with torch.no_grad():
        text = evaluate_text(model, tokenizer, iter_text_source(spec.eval_text), device=spec.device, max_tokens=spec.eval_tokens)
        out[EVAL_BPB], out["eval_loss"], out["eval_text_tokens"] = text["bits_per_byte"], text["loss"], text["tokens"]
        if _has_heldout(token_dir):
            out[HELDOUT_BPB] = evaluate_split(model, token_dir, "val", device=spec.device, max_tokens=spec.eval_tokens)["bits_per_byte"]
        if blimp_pairs:
            from winnow.training.blimp import evaluate_blimp

            blimp = evaluate_blimp(model, tokenizer, blimp_pairs, device=spec.device)
            out[BLIMP_ACC], out["blimp_fields"] = blimp["acc"], blimp["fields"]
        for task in spec.tasks:
            r = evaluate_multiple_choice(model, tokenizer, load_mc_tasks(task), device=spec.device)
            out[f"{Path(task).stem}_acc"], out[f"{Path(task).stem}_acc_norm"] = r["acc"], r["acc_norm"]
    return out


def _has_heldout(token_dir: Path) -> bool:
    from winnow.training.tokens import load_manifest

    return load_manifest(token_dir)["splits"]["val"]["tokens"] > 0


def score_run(run_dir: Path, token_dir: Path, spec: ScoreSpec, blimp_pairs: list[Any] | None) -> dict[str, Any]:
    """The metrics of a finished run: each at its last checkpoints, averaged."""
    from winnow.training.checkpoint import load_model_for_inference

    per_checkpoint = []
    for path in checkpoints_to_average(run_dir, spec.average_last):
        model, _, tokenizer = load_model_for_inference(run_dir, spec.device, checkpoint=path)
        per_checkpoint.append({"step": int(path.stem.split("-")[1]), **score_checkpoint(model, tokenizer, spec, token_dir, blimp_pairs)})
    return {**average_scores(per_checkpoint), "checkpoints": per_checkpoint}


def average_scores(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The mean of every numeric metric over checkpoints (and of each BLiMP field)."""
    numeric = [k for k, v in rows[0].items() if isinstance(v, float)]
    out: dict[str, Any] = {k: statistics.fmean(r[k] for r in rows) for k in numeric}
    if "blimp_fields" in rows[0]:
        out["blimp_fields"] = {f: statistics.fmean(r["blimp_fields"][f] for r in rows) for f in rows[0]["blimp_fields"]}
    return out


def metric_names(score: dict[str, Any]) -> list[str]:
    """The compared metrics present in one run's averaged score, primary first."""
    names = [k for k, v in score.items() if isinstance(v, float) and k not in ("eval_loss",)]
    return sorted(names, key=lambda k: (k != PRIMARY_METRIC, k in DIAGNOSTIC_METRICS, k))
