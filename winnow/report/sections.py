"""Section data for the run report: one builder per section, `run_dir -> dict`.

A builder returns the section's numbers (what summary.json gets; keys that
start with `_` are for the page only, e.g. long curves), raises `NotRun` when
its inputs are absent and `ReportInputError` naming the file when they are
broken. The signals section lives in `winnow.report.signals`. The list of
sections, in page order, is `winnow.report.SECTIONS`.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from winnow.report.inputs import (
    ABLATE_RESULTS,
    CURATE_DOCUMENTS,
    CURATE_REJECTED,
    CURATE_STATS,
    DEDUP_STATS,
    EVAL_RESULTS,
    RUN_FILE,
    STAGE_MANIFESTS,
    TOKENIZER_REPORT,
    TOKENS_DIR,
    TRAIN_CONFIG,
    TRAIN_METRICS,
    NotRun,
    ReportInputError,
    counts,
    first_rows,
    number,
    parquet_files,
    read_json_object,
    read_jsonl,
)
from winnow.summaries import StatsError, curation_funnel, ranked_counts, stage_counts

STATUS_OK = "ok"
STATUS_NOT_RUN = "not run"
STATUS_ERROR = "error"

SAMPLE_CHARS = 300
KEPT_SAMPLES = 3
REJECTED_SAMPLES = 5
SAMPLE_SCAN_ROWS = 2000  # rejected samples are picked from this many rows, one per reason
LM_KEYS = ("loss", "perplexity", "bits_per_byte", "tokens", "bytes")
# metrics.jsonl val-row keys drawn as continuous-evaluation curves (see training/continuous_eval.py).
EVAL_CURVE_SUFFIXES = ("/acc", "/acc_norm", "/acc_bytes", "text_bpb", "val_bpb")
TASK_EXTRA_KEYS = ("chance", "acc_stderr", "acc_norm_stderr", "acc_bytes", "acc_bytes_stderr")

# Stage manifests say "complete"; run.json says "ran" for the same thing.
_MANIFEST_STATUS = {"complete": "ran"}


@dataclasses.dataclass(frozen=True)
class Section:
    """One section of the report: its numbers (what summary.json gets) and status."""

    key: str
    title: str
    status: str
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    note: str | None = None  # e.g. why a stage did not run, from run.json

    def to_summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.error:
            out["error"] = self.error
        if self.note:
            out["note"] = self.note
        out.update({k: v for k, v in self.data.items() if not k.startswith("_")})
        return out


def _stage_row(name: Any, info: Any) -> dict[str, Any]:
    info = info if isinstance(info, dict) else {}
    wall = info.get("wall_s")
    status = str(info.get("status", "unknown"))
    return {
        "stage": str(name),
        "status": _MANIFEST_STATUS.get(status, status),
        "wall_s": wall if isinstance(wall, (int, float)) and not isinstance(wall, bool) else None,
        "error": str(info["error"]) if info.get("error") else None,
    }


def _stage_manifests(run_dir: Path) -> list[dict[str, Any]]:
    """Rows from RUN_DIR/stages/*.json, in the order the stages started."""
    manifests = []
    for path in sorted((run_dir / STAGE_MANIFESTS).glob("*.json")):
        manifest = read_json_object(run_dir, str(path.relative_to(run_dir)))
        started = manifest.get("started")
        manifests.append((started if isinstance(started, (int, float)) else math.inf, path.stem, manifest))
    manifests.sort(key=lambda m: (m[0], m[1]))
    return [_stage_row(manifest.get("stage", stem), manifest) for _, stem, manifest in manifests]


def build_overview(run_dir: Path) -> dict[str, Any]:
    try:
        run = read_json_object(run_dir, RUN_FILE)
    except NotRun:
        # `winnow run` writes run.json after its last stage, so while the report
        # stage itself runs only the per-stage manifests describe this run.
        rows = _stage_manifests(run_dir) if (run_dir / STAGE_MANIFESTS).is_dir() else []
        if not rows:
            raise
        recipe = None
        if (run_dir / CURATE_STATS).is_file():
            try:
                recipe = read_json_object(run_dir, CURATE_STATS).get("recipe")
            except ReportInputError:
                recipe = None  # the curation section reports the broken file
        source = f"{STAGE_MANIFESTS}/*.json"
    else:
        stages = run.get("stages") or {}
        if not isinstance(stages, dict):
            raise ReportInputError(f"{run_dir / RUN_FILE}: 'stages' must be an object")
        rows = [_stage_row(name, info) for name, info in stages.items()]
        recipe = run.get("recipe")
        source = RUN_FILE
    total = sum(r["wall_s"] for r in rows if r["wall_s"] is not None)
    return {"recipe": recipe, "source": source, "stages": rows, "total_wall_s": round(total, 3)}


def build_curation(run_dir: Path) -> dict[str, Any]:
    stats = read_json_object(run_dir, CURATE_STATS)
    where = str(run_dir / CURATE_STATS)
    try:
        stages = stage_counts(stats, where)
        funnel = [row.row() for row in curation_funnel(stats, where)]
    except StatsError as exc:
        raise ReportInputError(str(exc)) from None
    recorded = stats.get("accounting")
    accounting = recorded if isinstance(recorded, dict) else {}
    wall = stats.get("wall_time_s")
    return {
        "recipe": stats.get("recipe"),
        "records_in": stages.records_in,
        "kept": int(number(stats.get("kept"), f"{where}: kept")),
        "rejected_total": int(number(stats.get("rejected_total", sum(f["rejected"] for f in funnel)), f"{where}: rejected_total")),
        "errors": int(number(stats.get("errors", sum(f["errors"] for f in funnel)), f"{where}: errors")),
        "accounting_ok": accounting.get("ok"),
        "unaccounted": accounting.get("unaccounted"),
        "wall_time_s": wall if isinstance(wall, (int, float)) else None,
        "funnel": funnel,
        "reasons": {stage: [list(pair) for pair in ranked_counts(by_reason)] for stage, by_reason in stages.rejected.items()},
        "errors_by_stage": stages.errors_by_stage,
    }


def build_languages(run_dir: Path) -> dict[str, Any]:
    stats = read_json_object(run_dir, CURATE_STATS)
    languages = counts(stats.get("languages"), f"{run_dir / CURATE_STATS}: languages")
    ordered = sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))
    total = sum(languages.values())
    return {
        "documents": int(total),
        "languages": {lang: int(n) for lang, n in ordered},
        "shares": {lang: (n / total if total else 0.0) for lang, n in ordered},
    }


def build_dedup(run_dir: Path) -> dict[str, Any]:
    stats = read_json_object(run_dir, DEDUP_STATS)
    where = f"{run_dir / DEDUP_STATS}"
    out: dict[str, Any] = {key: int(number(stats.get(key), f"{where}: {key}"))
                           for key in ("documents_in", "kept", "exact_duplicates", "near_duplicates")}
    for key in ("clusters", "largest_cluster"):
        if key in stats:
            out[key] = int(number(stats[key], f"{where}: {key}"))
    histogram = counts(stats.get("cluster_size_histogram"), f"{where}: cluster_size_histogram")
    try:
        out["cluster_size_histogram"] = {str(int(k)): int(v) for k, v in sorted(histogram.items(), key=lambda kv: int(kv[0]))}
    except ValueError as exc:
        raise ReportInputError(f"{where}: cluster_size_histogram keys must be integer sizes: {exc}") from exc
    removed = out["exact_duplicates"] + out["near_duplicates"]
    out["removed_fraction"] = removed / out["documents_in"] if out["documents_in"] else 0.0
    accounting = stats.get("accounting")
    out["accounting_ok"] = accounting.get("ok") if isinstance(accounting, dict) else None
    return out


def build_tokens(run_dir: Path) -> dict[str, Any]:
    # The one token-manifest reader, shared with training (numpy only, loaded when the section runs).
    from winnow.training.shard_format import MANIFEST_FILE, ManifestError, read_manifest

    out: dict[str, Any] = {}
    try:
        report = read_json_object(run_dir, TOKENIZER_REPORT)
        out["tokenizer"] = {
            "vocab_size": report.get("vocab_size"),
            "heldout_bytes_per_token": report.get("bytes_per_token"),
        }
    except NotRun:
        pass
    if not (run_dir / TOKENS_DIR / MANIFEST_FILE).is_file():
        if not out:
            raise NotRun(f"{TOKENS_DIR}/{MANIFEST_FILE}")
        return out
    try:
        manifest = read_manifest(run_dir / TOKENS_DIR)
    except ManifestError as exc:
        raise ReportInputError(str(exc)) from None
    out["splits"] = {}
    for name, split in manifest["splits"].items():
        tokens, utf8 = int(split.get("tokens", 0)), int(split.get("utf8_bytes", 0))
        out["splits"][str(name)] = {
            "tokens": tokens,
            "documents": int(split.get("documents", 0)),
            "utf8_bytes": utf8,
            "shards": len(split["shards"]),
            "bytes_per_token": utf8 / tokens if tokens else None,
        }
    out.setdefault("tokenizer", {}).setdefault("vocab_size", manifest["tokenizer"]["vocab_size"])
    out["dtype"] = manifest["dtype"]
    return out


def build_training(run_dir: Path) -> dict[str, Any]:
    rows = read_jsonl(run_dir, TRAIN_METRICS)
    train = [r for r in rows if r.get("split") == "train" and isinstance(r.get("loss"), (int, float))]
    val = [r for r in rows if r.get("split") == "val" and isinstance(r.get("val_loss"), (int, float))]
    out: dict[str, Any] = {"train_rows": len(train), "val_rows": len(val)}
    if train:
        last = train[-1]
        out["final_train"] = {k: last.get(k) for k in ("step", "loss", "lr", "tokens_seen", "tokens_per_s")}
    if val:
        last = val[-1]
        out["final_val"] = {k: last.get(k) for k in ("step", "val_loss", "val_bpb", "val_perplexity")}
        finite = [r for r in val if math.isfinite(r["val_loss"])]
        if finite:
            best = min(finite, key=lambda r: r["val_loss"])
            out["best_val"] = {"step": best.get("step"), "val_loss": best["val_loss"]}
    # Curves are drawn but kept out of summary.json (they can have thousands of points).
    out["_train_curve"] = [(r.get("step", i), r["loss"]) for i, r in enumerate(train)]
    out["_val_curve"] = [(r.get("step", i), r["val_loss"]) for i, r in enumerate(val)]
    # Continuous evaluation (train.eval_every with eval_tasks / eval_text): TASK/acc, TASK/acc_norm, text_bpb, val_bpb.
    evals = [r for r in rows if r.get("split") == "val"]
    curves: dict[str, list[tuple[Any, float]]] = {}
    for i, r in enumerate(evals):
        for key, value in r.items():
            if key.endswith(EVAL_CURVE_SUFFIXES) and isinstance(value, (int, float)) and not isinstance(value, bool):
                curves.setdefault(key, []).append((r.get("step", i), value))
    # val_bpb alone repeats the val-loss curve; it is drawn only beside task or text metrics.
    out["_eval_curves"] = curves if set(curves) - {"val_bpb"} else {}
    out["_eval_chance"] = {k.rsplit("/", 1)[0]: v for r in evals for k, v in r.items() if k.endswith("/chance") and isinstance(v, (int, float))}
    config = run_dir / TRAIN_CONFIG
    if config.is_file():
        try:
            out["_config_text"] = config.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            out["_config_text"] = f"(cannot read {config}: {exc})"
    return out


def build_evaluation(run_dir: Path) -> dict[str, Any]:
    results = read_json_object(run_dir, EVAL_RESULTS)
    where = f"{run_dir / EVAL_RESULTS}"
    out: dict[str, Any] = {"language_modelling": {}, "tasks": {}}
    # `winnow evaluate --json` calls the token-shard split "data"; `winnow run` calls it "val".
    for key in ("val", "data", "text"):
        block = results.get(key)
        if block is None:
            continue
        if not isinstance(block, dict):
            raise ReportInputError(f"{where}: '{key}' must be an object")
        row = {k: block.get(k) for k in LM_KEYS}
        if block.get("source") is not None:
            row["source"] = str(block["source"])
        out["language_modelling"][key] = row
    tasks = results.get("tasks") or {}
    if not isinstance(tasks, dict):
        raise ReportInputError(f"{where}: 'tasks' must be an object")
    for name, task in tasks.items():
        if not isinstance(task, dict):
            raise ReportInputError(f"{where}: tasks.{name} must be an object")
        out["tasks"][str(name)] = {
            "acc": task.get("acc"), "acc_norm": task.get("acc_norm"), "n": task.get("n", task.get("examples")),
            # Chance level and lm-eval's standard errors, when the results carry them.
            **{k: task[k] for k in TASK_EXTRA_KEYS if k in task},
        }
    if not out["language_modelling"] and not out["tasks"]:
        raise ReportInputError(f"{where}: has none of 'val', 'data', 'text' or 'tasks'")
    return out


def build_generations(run_dir: Path) -> dict[str, Any]:
    results = read_json_object(run_dir, EVAL_RESULTS)
    generations = results.get("generations")
    if generations is None:
        raise NotRun(EVAL_RESULTS)
    if not isinstance(generations, list) or not all(isinstance(g, dict) for g in generations):
        raise ReportInputError(f"{run_dir / EVAL_RESULTS}: 'generations' must be a list of objects")
    return {"generations": [{"prompt": str(g.get("prompt", "")), "completion": str(g.get("completion", ""))} for g in generations]}


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    # Sample standard deviation across seeds; one seed has no spread to report.
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def build_ablation(run_dir: Path) -> dict[str, Any]:
    results = read_json_object(run_dir, ABLATE_RESULTS)
    where = f"{run_dir / ABLATE_RESULTS}"
    recipes = results.get("recipes")
    if not isinstance(recipes, dict):
        raise ReportInputError(f"{where}: 'recipes' must be an object")
    rows = {}
    for name, entry in recipes.items():
        if not isinstance(entry, dict):
            raise ReportInputError(f"{where}: recipes.{name} must be an object")
        runs = entry.get("runs") or []
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            raise ReportInputError(f"{where}: recipes.{name}.runs must be a list of objects")
        bpbs = [float(number(r["val_bpb"], f"{where}: recipes.{name}.runs.val_bpb")) for r in runs if r.get("val_bpb") is not None]
        mean, std = _mean_std(bpbs)
        task_acc: dict[str, list[float]] = {}
        for run in runs:
            for task, scores in (run.get("tasks") or {}).items():
                if isinstance(scores, dict) and isinstance(scores.get("acc"), (int, float)):
                    task_acc.setdefault(str(task), []).append(float(scores["acc"]))
        rows[str(name)] = {
            "seeds": [r.get("seed") for r in runs],
            "val_bpb": bpbs,
            "mean_bpb": entry.get("mean_bpb", mean),
            "std_bpb": entry.get("std_bpb", std),
            "documents": entry.get("documents"),
            "tokens": entry.get("tokens"),
            "task_acc_mean": {t: sum(v) / len(v) for t, v in task_acc.items()},
            "epochs": entry.get("epochs"),
        }
    return {"budget_tokens": results.get("budget_tokens"), "eval_text": results.get("eval_text"), "recipes": rows,
            # The paired comparisons with the baseline (winnow/ablation); absent in older results.
            "baseline": results.get("baseline"), "alpha": results.get("alpha"), "comparisons": results.get("comparisons") or {},
            "calibration": results.get("calibration")}


def _clip(text: Any) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + "…"


def build_samples(run_dir: Path) -> dict[str, Any]:
    kept_files = parquet_files(run_dir, CURATE_DOCUMENTS)
    rejected_files = parquet_files(run_dir, CURATE_REJECTED)
    if not kept_files and not rejected_files:
        raise NotRun(CURATE_DOCUMENTS)
    kept: list[dict[str, Any]] = []
    for path in kept_files:
        for row in first_rows(path, ("id", "url", "language", "text"), KEPT_SAMPLES - len(kept)):
            kept.append({**row, "text": _clip(row.get("text"))})
        if len(kept) >= KEPT_SAMPLES:
            break
    # One example per (stage, reason) shows the variety of rejections, not the commonest one five times.
    rejected, seen = [], set()
    for path in rejected_files:
        for row in first_rows(path, ("id", "url", "stage", "reason", "detail", "text"), SAMPLE_SCAN_ROWS):
            key = (row.get("stage"), row.get("reason"))
            if key in seen:
                continue
            seen.add(key)
            rejected.append({**row, "text": _clip(row.get("text"))})
            if len(rejected) >= REJECTED_SAMPLES:
                break
        if len(rejected) >= REJECTED_SAMPLES:
            break
    return {"kept": kept, "rejected": rejected}
