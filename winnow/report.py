"""`winnow report`: one self-contained HTML page and summary.json for a run directory.

`build_summary` reads whatever the stages of `winnow run` left in RUN_DIR (any
part may be missing) into one JSON-able dict, one entry per section;
`render_html` draws the page from that dict only, so report.html and
summary.json always show the same numbers. A missing file makes its section
"not run"; an unreadable or malformed one makes it "error" with a message
naming the file, and the other sections still render.

The page embeds its charts as base64 PNG data URIs and has no external CSS,
JS or fonts, so it can be mailed or archived as one file. Document text was
written by strangers: every string goes through `html.escape`.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from winnow import __version__
from winnow.report_charts import (
    chart_ablation,
    chart_bars,
    chart_cluster_sizes,
    chart_funnel,
    chart_loss,
    chart_signal,
)

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"

# Inputs, relative to RUN_DIR (the layout written by `winnow run`).
RUN_FILE = "run.json"
STAGE_MANIFESTS = "stages"  # <stage>.json per stage, written by `winnow run` as each stage starts and ends
CURATE_STATS = "curate/stats.json"
CURATE_DOCUMENTS = "curate/documents"
CURATE_REJECTED = "curate/rejected"
DEDUP_STATS = "dedup/stats.json"
TOKENIZER_REPORT = "tokenizer/report.json"
TOKENS_MANIFEST = "tokens/manifest.json"
TRAIN_METRICS = "train/metrics.jsonl"
TRAIN_CONFIG = "train/config.yaml"
EVAL_RESULTS = "evaluate/results.json"
ABLATE_RESULTS = "ablate/results.json"

STATUS_OK = "ok"
STATUS_NOT_RUN = "not run"
STATUS_ERROR = "error"

# Used when stats.json predates `stage_order`; filter steps follow in the order seen.
DEFAULT_STAGE_ORDER = ("read", "triage", "decode", "extract", "language")
MAX_SIGNALS = 12  # one small chart each; more would bury the page
MAX_SIGNAL_ROWS = 1_000_000  # per group (kept, rejected); whole files are read until this is reached
HIST_BINS = 30
# The top 1% is folded into the last bin so one huge page does not squash the rest.
HIST_UPPER_PERCENTILE = 99.0
PERCENTILES = (5, 25, 50, 75, 95)
MAX_LANGUAGES_CHARTED = 20
MAX_REASONS_PER_STAGE = 8
SAMPLE_CHARS = 300
KEPT_SAMPLES = 3
REJECTED_SAMPLES = 5
SAMPLE_SCAN_ROWS = 2000  # rejected samples are picked from this many rows, one per reason

# Columns every documents/rejected table has; the remaining numeric ones are step signals.
_NON_SIGNAL_COLUMNS = frozenset({
    "id", "url", "domain", "warc_record_id", "warc_date", "source", "text", "language",
    "language_score", "stage", "reason", "detail", "cluster_id",
})

# Stage names `winnow run` may use in run.json for the directory a section reads.
_RUN_STAGE_ALIASES: dict[str, tuple[str, ...]] = {
    "curation": ("curate",),
    "languages": ("curate",),
    "signals": ("curate",),
    "samples": ("curate",),
    "dedup": ("dedup",),
    "tokens": ("tokenize", "tokens", "tokenizer"),
    "training": ("train",),
    "evaluation": ("evaluate",),
    "generations": ("evaluate",),
    "ablation": ("ablate",),
}


# Stage manifests say "complete"; run.json says "ran" for the same thing.
_MANIFEST_STATUS = {"complete": "ran"}


class ReportInputError(ValueError):
    """A file of the run directory exists but cannot be read or has unexpected content."""


class _NotRun(Exception):
    """The files a section needs are absent: the stage was not run."""


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


# --------------------------------------------------------------------------- reading


def _read_json(run_dir: Path, rel: str) -> Any:
    path = run_dir / rel
    if not path.is_file():
        raise _NotRun(rel)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path}: not valid JSON: {exc}") from exc


def _read_json_object(run_dir: Path, rel: str) -> dict[str, Any]:
    data = _read_json(run_dir, rel)
    if not isinstance(data, dict):
        raise ReportInputError(f"{run_dir / rel}: expected a JSON object, found {type(data).__name__}")
    return data


def _read_jsonl(run_dir: Path, rel: str) -> list[dict[str, Any]]:
    path = run_dir / rel
    if not path.is_file():
        raise _NotRun(rel)
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot read: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReportInputError(f"{path}: line {number} is not valid JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise ReportInputError(f"{path}: line {number}: expected a JSON object")
        rows.append(row)
    return rows


def _parquet_files(run_dir: Path, rel: str) -> list[Path]:
    folder = run_dir / rel
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReportInputError(f"{where}: expected a number, found {value!r}")
    return value


def _count_map(value: Any, where: str) -> dict[str, float]:
    """{name: count} with numeric counts, or an error naming `where`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ReportInputError(f"{where}: expected an object of counts, found {type(value).__name__}")
    return {str(k): _number(v, f"{where}.{k}") for k, v in value.items()}


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/Infinity; summary.json writes null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


# --------------------------------------------------------------------------- sections


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
        manifest = _read_json_object(run_dir, str(path.relative_to(run_dir)))
        started = manifest.get("started")
        manifests.append((started if isinstance(started, (int, float)) else math.inf, path.stem, manifest))
    manifests.sort(key=lambda m: (m[0], m[1]))
    return [_stage_row(manifest.get("stage", stem), manifest) for _, stem, manifest in manifests]


def _overview(run_dir: Path) -> dict[str, Any]:
    try:
        run = _read_json_object(run_dir, RUN_FILE)
    except _NotRun:
        # `winnow run` writes run.json after its last stage, so while the report
        # stage itself runs only the per-stage manifests describe this run.
        rows = _stage_manifests(run_dir) if (run_dir / STAGE_MANIFESTS).is_dir() else []
        if not rows:
            raise
        recipe = None
        if (run_dir / CURATE_STATS).is_file():
            try:
                recipe = _read_json_object(run_dir, CURATE_STATS).get("recipe")
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


def _stage_order(stats: dict[str, Any], rejected: dict[str, Any], errors: dict[str, Any]) -> list[str]:
    order = stats.get("stage_order")
    order = [str(s) for s in order] if isinstance(order, list) else list(DEFAULT_STAGE_ORDER)
    for stage in [*rejected, *errors]:
        if stage not in order:
            order.append(stage)
    return order


def _curation(run_dir: Path) -> dict[str, Any]:
    stats = _read_json_object(run_dir, CURATE_STATS)
    where = str(run_dir / CURATE_STATS)
    rejected = stats.get("rejected") or {}
    errors = stats.get("errors_by_stage") or {}
    if not isinstance(rejected, dict) or not isinstance(errors, dict):
        raise ReportInputError(f"{where}: 'rejected' and 'errors_by_stage' must be objects")
    rejected = {str(s): _count_map(r, f"{where}: rejected.{s}") for s, r in rejected.items()}
    errors = {str(s): _count_map(e, f"{where}: errors_by_stage.{s}") for s, e in errors.items()}
    records_in = int(_number(stats.get("records_in"), f"{where}: records_in"))
    funnel = []
    remaining = records_in
    for stage in _stage_order(stats, rejected, errors):
        removed_rejected = int(sum(rejected.get(stage, {}).values()))
        removed_errors = int(sum(errors.get(stage, {}).values()))
        out = remaining - removed_rejected - removed_errors
        funnel.append({"stage": stage, "in": remaining, "rejected": removed_rejected, "errors": removed_errors, "out": out})
        remaining = out
    reasons = {
        stage: [[reason, int(n)] for reason, n in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))]
        for stage, by_reason in rejected.items()
    }
    accounting = stats.get("accounting") if isinstance(stats.get("accounting"), dict) else {}
    wall = stats.get("wall_time_s")
    return {
        "recipe": stats.get("recipe"),
        "records_in": records_in,
        "kept": int(_number(stats.get("kept"), f"{where}: kept")),
        "rejected_total": int(_number(stats.get("rejected_total", sum(f["rejected"] for f in funnel)), f"{where}: rejected_total")),
        "errors": int(_number(stats.get("errors", sum(f["errors"] for f in funnel)), f"{where}: errors")),
        "accounting_ok": accounting.get("ok"),
        "unaccounted": accounting.get("unaccounted"),
        "wall_time_s": wall if isinstance(wall, (int, float)) else None,
        "funnel": funnel,
        "reasons": reasons,
        "errors_by_stage": {s: {k: int(v) for k, v in e.items()} for s, e in errors.items()},
    }


def _languages(run_dir: Path) -> dict[str, Any]:
    stats = _read_json_object(run_dir, CURATE_STATS)
    languages = _count_map(stats.get("languages"), f"{run_dir / CURATE_STATS}: languages")
    ordered = sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))
    total = sum(languages.values())
    return {
        "documents": int(total),
        "languages": {lang: int(n) for lang, n in ordered},
        "shares": {lang: (n / total if total else 0.0) for lang, n in ordered},
    }


def _numeric_signal_columns(schemas: Iterable[Any]) -> list[str]:
    import pyarrow as pa

    names: list[str] = []
    for schema in schemas:
        for f in schema:
            numeric = pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
            if numeric and f.name not in _NON_SIGNAL_COLUMNS and f.name not in names:
                names.append(f.name)
    return names


def _read_columns(paths: Sequence[Path], columns: Sequence[str]) -> tuple[dict[str, Any], int]:
    """({column: finite float64 values}, files read), reading only those columns.

    Stops after the file that reaches MAX_SIGNAL_ROWS: percentiles of a large
    run do not need every row, and the report must stay quick.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts: dict[str, list[Any]] = {c: [] for c in columns}
    rows = files = 0
    for path in paths:
        if rows >= MAX_SIGNAL_ROWS:
            break
        try:
            present = [c for c in columns if c in pq.read_schema(path).names]
            table = pq.read_table(path, columns=present)
        except (OSError, pa.ArrowException) as exc:
            raise ReportInputError(f"{path}: cannot read Parquet: {exc}") from exc
        rows += table.num_rows
        files += 1
        for c in present:
            values = table.column(c).drop_null().cast(pa.float64()).to_numpy()
            parts[c].append(values[np.isfinite(values)])
    return {c: (np.concatenate(v) if v else np.zeros(0)) for c, v in parts.items()}, files


def _describe(values: Any) -> dict[str, Any]:
    import numpy as np

    if values.size == 0:
        return {"n": 0}
    pcts = np.percentile(values, PERCENTILES)
    return {
        "n": int(values.size),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "max": float(values.max()),
        **{f"p{p}": float(v) for p, v in zip(PERCENTILES, pcts)},
    }


def _histogram(kept: Any, rejected: Any) -> dict[str, Any]:
    """Shared bin edges for kept and rejected so the two overlay."""
    import numpy as np

    both = np.concatenate([kept, rejected])
    low = float(both.min())
    high = float(np.percentile(both, HIST_UPPER_PERCENTILE))
    if high <= low:
        high = float(both.max())
    if high <= low:
        high = low + 1.0  # a constant signal still gets a visible bar
    edges = np.linspace(low, high, HIST_BINS + 1)

    def counts(values: Any) -> list[int]:
        return np.histogram(np.clip(values, low, high), bins=edges)[0].astype(int).tolist()

    return {"edges": edges.tolist(), "kept": counts(kept), "rejected": counts(rejected)}


def _varies(kept: Any, rejected: Any) -> bool:
    import numpy as np

    both = np.concatenate([kept, rejected])
    return bool(both.size) and bool(both.min() != both.max())


def _known_stages(run_dir: Path) -> list[str]:
    """Step names from curate/stats.json, to group signal columns by the step that wrote them."""
    try:
        stats = _read_json_object(run_dir, CURATE_STATS)
    except (_NotRun, ReportInputError):
        return []  # the curation section reports a broken stats.json
    names = list(stats.get("stage_order") or []) + list(stats.get("rejected") or {})
    return [str(n) for n in names]


def _signal_step(column: str, stages: Sequence[str]) -> str:
    # Signal names are prefixed with their step's name; the longest match wins
    # so gopher_quality_x is not grouped under a step called gopher.
    matches = [s for s in stages if column.startswith(f"{s}_")]
    return max(matches, key=len) if matches else column.split("_", 1)[0]


def rank_signals(columns: Sequence[str], varying: set[str], stages: Sequence[str] = ()) -> list[str]:
    """Chart order: signals that vary before constant ones (a rule that never
    fired says little), taking one signal per step in turn so one step's many
    n-gram columns do not crowd out the others; pipeline order otherwise."""
    groups: list[str] = []
    position: dict[str, int] = {}
    seen: dict[tuple[str, bool], int] = {}
    for column in columns:
        step = _signal_step(column, stages)
        if step not in groups:
            groups.append(step)
        key = (step, column in varying)
        position[column] = seen.get(key, 0)
        seen[key] = position[column] + 1
    return sorted(columns, key=lambda c: (c not in varying, position[c], groups.index(_signal_step(c, stages))))


def _signals(run_dir: Path) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kept_files = _parquet_files(run_dir, CURATE_DOCUMENTS)
    rejected_files = _parquet_files(run_dir, CURATE_REJECTED)
    if not kept_files and not rejected_files:
        raise _NotRun(CURATE_DOCUMENTS)
    schemas = []
    for path in [*kept_files, *rejected_files]:
        try:
            schemas.append(pq.read_schema(path))
        except (OSError, pa.ArrowException) as exc:
            raise ReportInputError(f"{path}: cannot read Parquet schema: {exc}") from exc
    columns = _numeric_signal_columns(schemas)
    kept, kept_read = _read_columns(kept_files, columns)
    rejected, rejected_read = _read_columns(rejected_files, columns)
    # Columns of steps that never ran on any document (all null) would be empty charts.
    with_values = [c for c in columns if kept[c].size or rejected[c].size]
    varying = {c for c in with_values if _varies(kept[c], rejected[c])}
    ranked = rank_signals(with_values, varying, _known_stages(run_dir))
    shown = ranked[:MAX_SIGNALS]
    signals = {
        name: {"kept": _describe(kept[name]), "rejected": _describe(rejected[name]),
               "histogram": _histogram(kept[name], rejected[name])}
        for name in shown
    }
    return {
        "signals_total": len(columns),
        "signals_with_values": len(with_values),
        "signals_shown": len(shown),
        "signals_left_out": ranked[MAX_SIGNALS:],
        "files": {"kept": len(kept_files), "rejected": len(rejected_files)},
        "files_read": {"kept": kept_read, "rejected": rejected_read},
        "signals": signals,
    }


def _dedup(run_dir: Path) -> dict[str, Any]:
    stats = _read_json_object(run_dir, DEDUP_STATS)
    where = f"{run_dir / DEDUP_STATS}"
    out = {key: int(_number(stats.get(key), f"{where}: {key}"))
           for key in ("documents_in", "kept", "exact_duplicates", "near_duplicates")}
    for key in ("clusters", "largest_cluster"):
        if key in stats:
            out[key] = int(_number(stats[key], f"{where}: {key}"))
    histogram = _count_map(stats.get("cluster_size_histogram"), f"{where}: cluster_size_histogram")
    try:
        out["cluster_size_histogram"] = {str(int(k)): int(v) for k, v in sorted(histogram.items(), key=lambda kv: int(kv[0]))}
    except ValueError as exc:
        raise ReportInputError(f"{where}: cluster_size_histogram keys must be integer sizes: {exc}") from exc
    removed = out["exact_duplicates"] + out["near_duplicates"]
    out["removed_fraction"] = removed / out["documents_in"] if out["documents_in"] else 0.0
    accounting = stats.get("accounting")
    out["accounting_ok"] = accounting.get("ok") if isinstance(accounting, dict) else None
    return out


def _tokens(run_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        report = _read_json_object(run_dir, TOKENIZER_REPORT)
        out["tokenizer"] = {
            "vocab_size": report.get("vocab_size"),
            "heldout_bytes_per_token": report.get("bytes_per_token"),
        }
    except _NotRun:
        pass
    try:
        manifest = _read_json_object(run_dir, TOKENS_MANIFEST)
    except _NotRun:
        if not out:
            raise
        return out
    where = f"{run_dir / TOKENS_MANIFEST}"
    splits = manifest.get("splits")
    if not isinstance(splits, dict):
        raise ReportInputError(f"{where}: 'splits' must be an object")
    out["splits"] = {}
    for name, split in splits.items():
        if not isinstance(split, dict):
            raise ReportInputError(f"{where}: splits.{name} must be an object")
        tokens = int(_number(split.get("tokens", 0), f"{where}: splits.{name}.tokens"))
        utf8 = int(_number(split.get("utf8_bytes", 0), f"{where}: splits.{name}.utf8_bytes"))
        out["splits"][str(name)] = {
            "tokens": tokens,
            "documents": int(_number(split.get("documents", 0), f"{where}: splits.{name}.documents")),
            "utf8_bytes": utf8,
            "shards": len(split.get("shards") or []),
            "bytes_per_token": utf8 / tokens if tokens else None,
        }
    tokenizer = manifest.get("tokenizer") if isinstance(manifest.get("tokenizer"), dict) else {}
    out.setdefault("tokenizer", {}).setdefault("vocab_size", tokenizer.get("vocab_size"))
    out["dtype"] = manifest.get("dtype")
    return out


def _training(run_dir: Path) -> dict[str, Any]:
    rows = _read_jsonl(run_dir, TRAIN_METRICS)
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
    config = run_dir / TRAIN_CONFIG
    if config.is_file():
        try:
            out["_config_text"] = config.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            out["_config_text"] = f"(cannot read {config}: {exc})"
    return out


_LM_KEYS = ("loss", "perplexity", "bits_per_byte", "tokens", "bytes")


def _evaluation(run_dir: Path) -> dict[str, Any]:
    results = _read_json_object(run_dir, EVAL_RESULTS)
    where = f"{run_dir / EVAL_RESULTS}"
    out: dict[str, Any] = {"language_modelling": {}, "tasks": {}}
    # `winnow evaluate --json` calls the token-shard split "data"; `winnow run` calls it "val".
    for key in ("val", "data", "text"):
        block = results.get(key)
        if block is None:
            continue
        if not isinstance(block, dict):
            raise ReportInputError(f"{where}: '{key}' must be an object")
        row = {k: block.get(k) for k in _LM_KEYS}
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
        }
    if not out["language_modelling"] and not out["tasks"]:
        raise ReportInputError(f"{where}: has none of 'val', 'data', 'text' or 'tasks'")
    return out


def _generations(run_dir: Path) -> dict[str, Any]:
    results = _read_json_object(run_dir, EVAL_RESULTS)
    generations = results.get("generations")
    if generations is None:
        raise _NotRun(EVAL_RESULTS)
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


def _ablation(run_dir: Path) -> dict[str, Any]:
    results = _read_json_object(run_dir, ABLATE_RESULTS)
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
        bpbs = [float(_number(r["val_bpb"], f"{where}: recipes.{name}.runs.val_bpb")) for r in runs if r.get("val_bpb") is not None]
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
        }
    return {"budget_tokens": results.get("budget_tokens"), "eval_text": results.get("eval_text"), "recipes": rows}


def _clip(text: Any) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + "…"


def _first_rows(path: Path, columns: Sequence[str], rows: int) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
        present = [c for c in columns if c in handle.schema_arrow.names]
        for batch in handle.iter_batches(batch_size=rows, columns=present):
            return batch.to_pylist()
    except (OSError, pa.ArrowException) as exc:
        raise ReportInputError(f"{path}: cannot read Parquet: {exc}") from exc
    return []


def _samples(run_dir: Path) -> dict[str, Any]:
    kept_files = _parquet_files(run_dir, CURATE_DOCUMENTS)
    rejected_files = _parquet_files(run_dir, CURATE_REJECTED)
    if not kept_files and not rejected_files:
        raise _NotRun(CURATE_DOCUMENTS)
    kept = []
    for path in kept_files:
        for row in _first_rows(path, ("id", "url", "language", "text"), KEPT_SAMPLES - len(kept)):
            kept.append({**row, "text": _clip(row.get("text"))})
        if len(kept) >= KEPT_SAMPLES:
            break
    # One example per (stage, reason) shows the variety of rejections, not the commonest one five times.
    rejected, seen = [], set()
    for path in rejected_files:
        for row in _first_rows(path, ("id", "url", "stage", "reason", "detail", "text"), SAMPLE_SCAN_ROWS):
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


_SECTIONS: tuple[tuple[str, str, Callable[[Path], dict[str, Any]], tuple[str, ...]], ...] = (
    ("overview", "Overview", _overview, (RUN_FILE,)),
    ("curation", "Curation funnel", _curation, (CURATE_STATS,)),
    ("languages", "Languages", _languages, (CURATE_STATS,)),
    ("signals", "Signals: kept vs rejected", _signals, (CURATE_DOCUMENTS, CURATE_REJECTED)),
    ("dedup", "Deduplication", _dedup, (DEDUP_STATS,)),
    ("tokens", "Tokens", _tokens, (TOKENIZER_REPORT, TOKENS_MANIFEST)),
    ("training", "Training", _training, (TRAIN_METRICS,)),
    ("evaluation", "Evaluation", _evaluation, (EVAL_RESULTS,)),
    ("generations", "Sample generations", _generations, (EVAL_RESULTS,)),
    ("ablation", "Ablation", _ablation, (ABLATE_RESULTS,)),
    ("samples", "Sample documents", _samples, (CURATE_DOCUMENTS, CURATE_REJECTED)),
)


def _run_stage_note(key: str, overview: dict[str, Any] | None) -> str | None:
    """Why a section's stage did not run, when run.json says it was skipped or failed."""
    if not overview:
        return None
    stages = {s["stage"]: s for s in overview.get("stages", [])}
    for alias in _RUN_STAGE_ALIASES.get(key, ()):
        stage = stages.get(alias)
        if stage and stage["status"] != "ran":
            return f"stage {alias} {stage['status']}" + (f": {stage['error']}" if stage.get("error") else "")
    return None


def build_section(run_dir: Path, key: str, title: str, builder: Callable[[Path], dict[str, Any]], sources: Sequence[str]) -> Section:
    """Run one section builder, turning absent inputs into "not run" and bad ones into an error line."""
    try:
        return Section(key, title, STATUS_OK, builder(run_dir))
    except _NotRun:
        return Section(key, title, STATUS_NOT_RUN)
    except ReportInputError as exc:
        return Section(key, title, STATUS_ERROR, error=str(exc))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # Content of an unexpected shape (a list where a number belongs...): name the files, keep the page.
        files = ", ".join(str(run_dir / s) for s in sources)
        return Section(key, title, STATUS_ERROR, error=f"{files}: unexpected content ({type(exc).__name__}: {exc})")


def build_sections(run_dir: str | os.PathLike) -> list[Section]:
    """Every section of the report for `run_dir`, in page order."""
    root = Path(run_dir)
    if not root.is_dir():
        raise ReportInputError(f"{root}: run directory does not exist")
    sections = [build_section(root, *spec) for spec in _SECTIONS]
    overview = sections[0].data if sections[0].status == STATUS_OK else None
    return [
        dataclasses.replace(s, note=_run_stage_note(s.key, overview)) if s.status != STATUS_OK else s
        for s in sections
    ]


def build_summary(sections: Sequence[Section], run_dir: str | os.PathLike) -> dict[str, Any]:
    """summary.json content: the numbers of every section, NaN written as null."""
    summary: dict[str, Any] = {"run_dir": str(Path(run_dir).resolve()), "created_by": f"winnow {__version__}"}
    summary["sections"] = {s.key: _finite_or_none(s.to_summary()) for s in sections}
    return summary


# --------------------------------------------------------------------------- HTML


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:1rem 1.5rem;color:#1d2731;line-height:1.4}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #2f6690;padding-bottom:.2rem;margin-top:2rem}
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4rem 1rem;font-size:.9rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #c9d3dc;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#eef3f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.status{display:inline-block;padding:.05rem .5rem;border-radius:.6rem;font-size:.8rem;background:#e4e8ec}
.status.ok,.status.ran{background:#d6ecd2}.status.error,.status.failed{background:#f6d3d6}
.notrun{color:#5c6b77;font-style:italic}.error{color:#a3222f}
.grid{display:flex;flex-wrap:wrap;gap:.5rem}img{max-width:100%;height:auto}
.doc{border-left:3px solid #c9d3dc;margin:.5rem 0;padding:.2rem .7rem;background:#f7f9fa}
.doc p{white-space:pre-wrap;margin:.2rem 0;font-size:.85rem}.meta{font-size:.8rem;color:#5c6b77;word-break:break-all}
pre{background:#f7f9fa;padding:.6rem;overflow-x:auto;font-size:.8rem}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    return str(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for value in row:
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            cells.append(f'<td class="num">{_e(_fmt(value))}</td>' if numeric else f"<td>{_e(_fmt(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{_e(alt)}">'


def _html_overview(d: dict[str, Any]) -> str:
    parts = [f"<p>Recipe: <strong>{_e(_fmt(d.get('recipe')))}</strong>; total stage time {_e(_fmt(d['total_wall_s']))} s "
             f"(from {_e(d['source'])}).</p>"]
    rows = []
    for s in d["stages"]:
        status = f'<span class="status {_e(s["status"])}">{_e(s["status"])}</span>'
        error = f' <span class="error">{_e(s["error"])}</span>' if s.get("error") else ""
        rows.append(f'<tr><td>{_e(s["stage"])}</td><td>{status}{error}</td><td class="num">{_e(_fmt(s["wall_s"]))}</td></tr>')
    parts.append("<table><thead><tr><th>stage</th><th>status</th><th>wall (s)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    return "".join(parts)


def _html_curation(d: dict[str, Any]) -> str:
    verdict = {True: "holds", False: f"FAILS ({d.get('unaccounted')} unaccounted)", None: "not recorded"}[d.get("accounting_ok")]
    parts = [
        f"<p>Recipe {_e(_fmt(d.get('recipe')))}: {_e(_fmt(d['records_in']))} records in, {_e(_fmt(d['kept']))} kept, "
        f"{_e(_fmt(d['rejected_total']))} rejected, {_e(_fmt(d['errors']))} errors; accounting {_e(verdict)}"
        + (f"; {_e(_fmt(d['wall_time_s']))} s." if d.get("wall_time_s") is not None else ".") + "</p>",
    ]
    if d["funnel"]:
        parts.append(_img(chart_funnel(d["funnel"]), "documents in and out per curation stage"))
        parts.append(_table(("stage", "in", "rejected", "errors", "out"),
                            [(f["stage"], f["in"], f["rejected"], f["errors"], f["out"]) for f in d["funnel"]]))
    rows = []
    for stage in (f["stage"] for f in d["funnel"]):
        for reason, count in d["reasons"].get(stage, [])[:MAX_REASONS_PER_STAGE]:
            rows.append((stage, reason, count))
    if rows:
        parts.append(f"<h3>Top rejection reasons per stage</h3>{_table(('stage', 'reason', 'documents'), rows)}")
    errors = [(stage, kind, n) for stage, by_type in d["errors_by_stage"].items() for kind, n in by_type.items()]
    if errors:
        parts.append(f"<h3>Errors per stage</h3>{_table(('stage', 'error type', 'records'), errors)}")
    return "".join(parts)


def _html_languages(d: dict[str, Any]) -> str:
    if not d["languages"]:
        return '<p class="notrun">No kept documents.</p>'
    top = list(d["languages"].items())[:MAX_LANGUAGES_CHARTED]
    chart = _img(chart_bars([k for k, _ in top], [v for _, v in top], "Kept documents per language", "documents"),
                 "kept documents per language")
    table = _table(("language", "documents", "share"),
                   [(k, v, f"{100 * d['shares'][k]:.1f}%") for k, v in d["languages"].items()])
    return chart + table


def _html_signals(d: dict[str, Any]) -> str:
    files, read = d["files"], d["files_read"]
    parts = [f"<p>{d['signals_shown']} of {d['signals_total']} numeric signal columns "
             f"({d['signals_with_values']} have values; varying ones first, one step at a time), from "
             f"{read['kept']} of {files['kept']} kept and {read['rejected']} of {files['rejected']} rejected Parquet file(s). "
             "Histograms show the fraction of each group per bin; values above the 99th percentile fall in the last bin. "
             "Rejected documents only have the signals computed before the step that rejected them.</p>"]
    if d["signals_left_out"]:
        parts.append(f"<details><summary>{len(d['signals_left_out'])} signal(s) not charted</summary>"
                     f"<p>{_e(', '.join(d['signals_left_out']))}</p></details>")
    if not d["signals"]:
        return "".join(parts) + '<p class="notrun">No document has a signal value yet.</p>'
    charts = [_img(chart_signal(name, s["histogram"]), f"histogram of {name}") for name, s in d["signals"].items()]
    parts.append('<div class="grid">' + "".join(charts) + "</div>")
    rows = []
    for name, s in d["signals"].items():
        for group in ("kept", "rejected"):
            g = s[group]
            rows.append((name, group, g["n"], *(g.get(f"p{p}") for p in PERCENTILES)))
    parts.append(_table(("signal", "group", "n", *(f"p{p}" for p in PERCENTILES)), rows))
    return "".join(parts)


def _html_dedup(d: dict[str, Any]) -> str:
    rows = [(k.replace("_", " "), d[k]) for k in ("documents_in", "kept", "exact_duplicates", "near_duplicates", "clusters", "largest_cluster") if k in d]
    rows.append(("removed", f"{100 * d['removed_fraction']:.2f}%"))
    parts = [_table(("", "value"), rows)]
    if d["cluster_size_histogram"]:
        parts.append(_img(chart_cluster_sizes(d["cluster_size_histogram"]), "histogram of duplicate cluster sizes"))
    return "".join(parts)


def _html_tokens(d: dict[str, Any]) -> str:
    parts = []
    tokenizer = d.get("tokenizer") or {}
    if tokenizer:
        parts.append(f"<p>Vocabulary {_e(_fmt(tokenizer.get('vocab_size')))}; held-out bytes per token "
                     f"{_e(_fmt(tokenizer.get('heldout_bytes_per_token')))}.</p>")
    if "splits" in d:
        parts.append(_table(("split", "tokens", "documents", "UTF-8 bytes", "bytes/token", "shards"),
                            [(n, s["tokens"], s["documents"], s["utf8_bytes"], s["bytes_per_token"], s["shards"]) for n, s in d["splits"].items()]))
    else:
        parts.append(f'<p class="notrun">Token shards: not run ({_e(TOKENS_MANIFEST)} missing).</p>')
    return "".join(parts)


def _html_training(d: dict[str, Any]) -> str:
    parts = []
    if d["_train_curve"] or d["_val_curve"]:
        parts.append(_img(chart_loss(d["_train_curve"], d["_val_curve"]), "training and validation loss by step"))
    rows = []
    if "final_train" in d:
        rows += [(f"final train {k.replace('_', ' ')}", v) for k, v in d["final_train"].items()]
    if "final_val" in d:
        rows += [(f"final {k.replace('_', ' ')}", v) for k, v in d["final_val"].items()]
    if "best_val" in d:
        rows.append(("best val loss (step)", f"{_fmt(d['best_val']['val_loss'])} ({_fmt(d['best_val']['step'])})"))
    parts.append(_table(("", "value"), rows) if rows else '<p class="notrun">No metric rows yet.</p>')
    if "_config_text" in d:
        parts.append(f"<details><summary>{_e(TRAIN_CONFIG)}</summary><pre>{_e(d['_config_text'])}</pre></details>")
    return "".join(parts)


def _html_evaluation(d: dict[str, Any]) -> str:
    parts = []
    if d["language_modelling"]:
        parts.append(_table(("data", "loss", "perplexity", "bits/byte", "tokens", "bytes"),
                            [(r.get("source", k), *(r.get(c) for c in _LM_KEYS)) for k, r in d["language_modelling"].items()]))
    if d["tasks"]:
        parts.append("<h3>Tasks</h3>" + _table(("task", "acc", "acc_norm", "examples"),
                                                [(n, t["acc"], t["acc_norm"], t["n"]) for n, t in d["tasks"].items()]))
    return "".join(parts)


def _html_generations(d: dict[str, Any]) -> str:
    if not d["generations"]:
        return '<p class="notrun">No generations.</p>'
    return "".join(f'<div class="doc"><p><strong>{_e(g["prompt"])}</strong>{_e(g["completion"])}</p></div>' for g in d["generations"])


def _html_ablation(d: dict[str, Any]) -> str:
    parts = [f"<p>Token budget {_e(_fmt(d.get('budget_tokens')))}; evaluated on {_e(_fmt(d.get('eval_text')))}.</p>"]
    tasks = sorted({t for r in d["recipes"].values() for t in r["task_acc_mean"]})
    rows = [(name, len(r["val_bpb"]), r["mean_bpb"], r["std_bpb"], r["documents"], r["tokens"], *(r["task_acc_mean"].get(t) for t in tasks))
            for name, r in d["recipes"].items()]
    parts.append(_table(("recipe", "seeds", "mean bpb", "std bpb", "documents", "tokens", *(f"{t} acc" for t in tasks)), rows))
    if any(r.get("mean_bpb") is not None for r in d["recipes"].values()):
        parts.append(_img(chart_ablation(d["recipes"]), "validation bits per byte per recipe with error bars across seeds"))
    return "".join(parts)


def _html_doc(meta: Sequence[tuple[str, Any]], text: str | None) -> str:
    head = " · ".join(f"{_e(k)}: {_e(v)}" for k, v in meta if v not in (None, ""))
    body = _e(text) if text is not None else '<span class="notrun">(no text)</span>'
    return f'<div class="doc"><div class="meta">{head}</div><p>{body}</p></div>'


def _html_samples(d: dict[str, Any]) -> str:
    parts = [f"<h3>Kept (first {SAMPLE_CHARS} characters)</h3>"]
    parts += [_html_doc((("id", r.get("id")), ("language", r.get("language")), ("url", r.get("url"))), r.get("text")) for r in d["kept"]]
    parts.append("<h3>Rejected (one per stage and reason)</h3>")
    parts += [_html_doc((("stage", r.get("stage")), ("reason", r.get("reason")), ("detail", r.get("detail")), ("url", r.get("url"))), r.get("text"))
              for r in d["rejected"]]
    return "".join(parts)


_RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "overview": _html_overview,
    "curation": _html_curation,
    "languages": _html_languages,
    "signals": _html_signals,
    "dedup": _html_dedup,
    "tokens": _html_tokens,
    "training": _html_training,
    "evaluation": _html_evaluation,
    "generations": _html_generations,
    "ablation": _html_ablation,
    "samples": _html_samples,
}


def _html_section(section: Section) -> str:
    status = f'<span class="status {_e(section.status.replace(" ", "-"))}">{_e(section.status)}</span>'
    if section.status == STATUS_OK:
        body = _RENDERERS[section.key](section.data)
    elif section.status == STATUS_ERROR:
        body = f'<p class="error">Error: {_e(section.error)}</p>'
    else:
        body = '<p class="notrun">not run' + (f" ({_e(section.note)})" if section.note else "") + "</p>"
    return f'<section id="{_e(section.key)}"><h2>{_e(section.title)} {status}</h2>{body}</section>'


def render_html(sections: Sequence[Section], run_dir: str | os.PathLike) -> str:
    """The whole self-contained page."""
    title = f"Winnow run report: {Path(run_dir).resolve().name}"
    nav = "".join(f'<li><a href="#{_e(s.key)}">{_e(s.title)}</a></li>' for s in sections)
    body = "".join(_html_section(s) for s in sections)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p class=\"meta\">{_e(Path(run_dir).resolve())} · winnow {_e(__version__)}</p></header>"
        f"<nav><ul>{nav}</ul></nav><main>{body}</main></body></html>\n"
    )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(run_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write RUN_DIR/report.html and RUN_DIR/summary.json; return their paths.

    Raises ReportInputError when `run_dir` is not a directory; problems with
    individual files show up inside the report instead.
    """
    root = Path(run_dir)
    sections = build_sections(root)
    summary = build_summary(sections, root)
    page = render_html(sections, root)
    report_path, summary_path = root / REPORT_FILE, root / SUMMARY_FILE
    try:
        _write_atomic(summary_path, json.dumps(summary, indent=2, allow_nan=False) + "\n")
        _write_atomic(report_path, page)
    except OSError as exc:
        raise ReportInputError(f"{root}: cannot write the report: {exc}") from exc
    return report_path, summary_path
