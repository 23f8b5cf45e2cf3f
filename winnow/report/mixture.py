"""Report sections for mixing and decontamination.

- `mixture`: the mixture manifest that `winnow mix` / the run's `mix` stage
  writes (targets, realized proportions, repetitions per source).
- `contamination`: documents that overlapped an evaluation set, per set: the
  rejected ones (reason `contaminated`) and the kept ones whose overlapping
  spans were removed (`action: remove_spans`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from winnow.report.inputs import CURATE_DOCUMENTS, CURATE_REJECTED, NotRun, ReportInputError, parquet_files, read_json_object
from winnow.report.render import esc, fmt, html_table

MIX_MANIFEST = "mix/mix_manifest.json"
CONTAMINATED = "contaminated"  # curation.decontaminate.CONTAMINATED (not imported: the report stays numpy-free)
SET_COLUMN = "decontaminate_set"
MATCHED_COLUMN = "decontaminate_matched_ngrams"


def build_mixture(run_dir: Path) -> dict[str, Any]:
    manifest = read_json_object(run_dir, MIX_MANIFEST)
    where = run_dir / MIX_MANIFEST
    sources = manifest.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise ReportInputError(f"{where}: 'sources' must be a non-empty object")
    rows = []
    for name, s in sources.items():
        try:
            rows.append({
                "source": str(name), "target": float(s["target"]), "realized": float(s["realized"]),
                "repetitions": float(s["repetitions"]), "documents": int(s["documents"]),
                "documents_used": int(s["documents_used"]), "available_documents": int(s["available_documents"]),
            })
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportInputError(f"{where}: source {name!r} lacks a numeric {exc}") from None
    warnings = manifest.get("warnings", [])  # absent from manifests written before mix had warnings
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise ReportInputError(f"{where}: 'warnings' must be a list of strings")
    return {
        "by": manifest.get("by"), "token_estimate": manifest.get("token_estimate"), "seed": manifest.get("seed"),
        "max_repeats": manifest.get("max_repeats"), "rehydrate": manifest.get("rehydrate"),
        "total_units": manifest.get("total_units"), "documents": manifest.get("documents"),
        "max_abs_error": manifest.get("max_abs_error"), "sources": rows, "warnings": warnings,
        "share_tolerance": manifest.get("share_tolerance"),
    }


def html_mixture(d: dict[str, Any]) -> str:
    unit = esc(d.get("by"))
    head = (f"<p>{fmt(d.get('documents'))} documents, {fmt(d.get('total_units'))} {unit}"
            + (f" ({esc(d['token_estimate'])})" if d.get("token_estimate") else "")
            + f"; seed {esc(d.get('seed'))}, at most {esc(d.get('max_repeats'))} repeats"
            + (", rehydrated by cluster size" if d.get("rehydrate") else "") + "</p>")
    rows = [(s["source"], f"{s['target']:.3f}", f"{s['realized']:.3f}", f"{s['repetitions']:.2f}",
             f"{s['documents_used']} / {s['available_documents']}", s["documents"]) for s in d["sources"]]
    table = html_table(("source", "target", "realized", "repetitions", "documents used", "rows in mix"), rows)
    return head + _html_warnings(d) + table


def _html_warnings(d: dict[str, Any]) -> str:
    """The manifest's share warnings, above the table, as `winnow mix` prints them."""
    warnings = d.get("warnings") or []
    if not warnings:
        return ""
    tolerance = d.get("share_tolerance")
    off = f"more than {float(tolerance) * 100:g} point(s) off target" if isinstance(tolerance, (int, float)) else "off target"
    items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
    return f'<div class="error"><p><b>{len(warnings)} source share(s) {off}:</b></p><ul>{items}</ul></div>'



def _per_set(path: Path, reason_filter: bool) -> dict[str, int]:
    """Documents per evaluation set in one Parquet file (each set a document matched counts it once)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
        names = handle.schema_arrow.names
        if SET_COLUMN not in names:
            return {}
        columns = [SET_COLUMN] + (["reason"] if reason_filter and "reason" in names else [])
        out: dict[str, int] = {}
        for batch in handle.iter_batches(columns=columns):
            sets = batch.column(SET_COLUMN).to_pylist()
            reasons = batch.column("reason").to_pylist() if len(columns) > 1 else [CONTAMINATED] * len(sets)
            for value, reason in zip(sets, reasons):
                if value and reason == CONTAMINATED:
                    for name in value.split(","):
                        out[name] = out.get(name, 0) + 1
        return out
    except (OSError, pa.ArrowException) as exc:
        raise ReportInputError(f"{path}: cannot read Parquet: {exc}") from exc


def build_contamination(run_dir: Path) -> dict[str, Any]:
    rejected_files = parquet_files(run_dir, CURATE_REJECTED)
    kept_files = parquet_files(run_dir, CURATE_DOCUMENTS)
    if not rejected_files and not kept_files:
        raise NotRun(CURATE_REJECTED)
    import pyarrow.parquet as pq

    if not any(SET_COLUMN in pq.read_schema(p).names for p in rejected_files + kept_files):
        raise NotRun(f"{CURATE_REJECTED} ({SET_COLUMN})")  # the recipe had no decontaminate step
    rejected: dict[str, int] = {}
    edited: dict[str, int] = {}
    for path in rejected_files:
        for name, n in _per_set(path, reason_filter=True).items():
            rejected[name] = rejected.get(name, 0) + n
    for path in kept_files:
        for name, n in _per_set(path, reason_filter=False).items():
            edited[name] = edited.get(name, 0) + n
    names = sorted(set(rejected) | set(edited), key=lambda s: (-(rejected.get(s, 0) + edited.get(s, 0)), s))
    return {"sets": [{"set": s, "rejected": rejected.get(s, 0), "spans_removed": edited.get(s, 0)} for s in names]}


def html_contamination(d: dict[str, Any]) -> str:
    if not d["sets"]:
        return "<p>No document overlapped an evaluation set.</p>"
    rows = [(s["set"], s["rejected"], s["spans_removed"]) for s in d["sets"]]
    return html_table(("evaluation set", "documents rejected", "documents with spans removed"), rows)
