"""The "Signals: kept vs rejected" section: per-signal percentiles and overlaid histograms.

Which columns are signals is decided by `winnow.schemas.signal_fields_of`
(shared with `winnow inspect`); this section charts the integer and float
ones (boolean flags such as `*_rules_skipped` would be two-bar charts).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from winnow.report.inputs import (
    CURATE_DOCUMENTS,
    CURATE_REJECTED,
    CURATE_STATS,
    NotRun,
    ReportInputError,
    parquet_files,
    read_json_object,
)

MAX_SIGNALS = 12  # one small chart each; more would bury the page
MAX_SIGNAL_ROWS = 1_000_000  # per group (kept, rejected); whole files are read until this is reached
HIST_BINS = 30
# The top 1% is folded into the last bin so one huge page does not squash the rest.
HIST_UPPER_PERCENTILE = 99.0
PERCENTILES = (5, 25, 50, 75, 95)


def numeric_signal_columns(schemas: Iterable[Any]) -> list[str]:
    """Integer and float signal columns of any of `schemas`, first-seen order."""
    import pyarrow as pa

    from winnow.schemas import signal_fields_of

    names: list[str] = []
    for schema in schemas:
        for f in signal_fields_of(schema):
            numeric = pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
            if numeric and f.name not in names:
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
        stats = read_json_object(run_dir, CURATE_STATS)
    except (NotRun, ReportInputError):
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


def build_signals(run_dir: Path) -> dict[str, Any]:
    """Section data: percentiles and histograms of the signals that vary most usefully."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kept_files = parquet_files(run_dir, CURATE_DOCUMENTS)
    rejected_files = parquet_files(run_dir, CURATE_REJECTED)
    if not kept_files and not rejected_files:
        raise NotRun(CURATE_DOCUMENTS)
    schemas = []
    for path in [*kept_files, *rejected_files]:
        try:
            schemas.append(pq.read_schema(path))
        except (OSError, pa.ArrowException) as exc:
            raise ReportInputError(f"{path}: cannot read Parquet schema: {exc}") from exc
    columns = numeric_signal_columns(schemas)
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
