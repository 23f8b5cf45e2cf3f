"""Readable tables for `winnow inspect` (the data comes from winnow.inspect)."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def render_table_description(console: Console, title: str, desc: dict[str, Any]) -> None:
    console.rule(f"[bold]{title}[/bold]: {desc.get('rows', 0):,} rows in {desc.get('files', 0)} file(s)")
    if desc.get("schema_metadata"):
        console.print("metadata: " + ", ".join(f"{k}={v}" for k, v in desc["schema_metadata"].items()))
    if desc.get("schema"):
        console.print("schema: " + "; ".join(desc["schema"]), soft_wrap=True)
    if desc.get("languages"):
        langs = Table(title="languages")
        langs.add_column("language")
        langs.add_column("rows", justify="right")
        for lang, n in list(desc["languages"].items())[:15]:
            langs.add_row(lang, f"{n:,}")
        console.print(langs)
    if desc.get("text_chars"):
        p = desc["text_chars"]
        console.print("text length (chars): " + "  ".join(f"{k} {_fmt(v)}" for k, v in p.items()))
    for key in ("by_reason", "by_error_type", "by_kind"):
        if desc.get(key):
            t = Table(title=key.replace("by_", "by "))
            t.add_column("stage/value")
            t.add_column("rows", justify="right")
            for k, n in list(desc[key].items())[:20]:
                t.add_row(k, f"{n:,}")
            console.print(t)
    for sample in desc.get("samples", []):
        head = " ".join(f"{k}={sample[k]}" for k in ("id", "language", "stage", "reason", "error_type") if sample.get(k))
        console.print(f"[dim]{head}[/dim] {sample.get('url') or ''}")
        if sample.get("text"):
            console.print(f"  {sample['text']}", soft_wrap=True)
        elif sample.get("error_message"):
            console.print(f"  {sample['error_message']}", soft_wrap=True)


def _stats_line(stats: dict[str, Any]) -> str:
    """One line of totals; a dedup output's stats.json has documents and duplicates, no recipe."""
    verdict = "holds" if (stats.get("accounting") or {}).get("ok") else "FAILS"
    if "documents_in" in stats:
        return (
            f"dedup: documents in {stats.get('documents_in', 0):,}, kept {stats.get('kept', 0):,}, exact duplicates "
            f"{stats.get('exact_duplicates', 0):,}, near duplicates {stats.get('near_duplicates', 0):,}; accounting {verdict}"
        )
    recipe = f"recipe {stats['recipe']}" if stats.get("recipe") else "no recipe recorded"
    return (
        f"{recipe}: records in {stats.get('records_in', 0):,}, kept {stats.get('kept', 0):,}, "
        f"rejected {stats.get('rejected_total', 0):,}, errors {stats.get('errors', 0):,}; accounting {verdict}"
    )


def render_report(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    if report["kind"] == "parquet":
        render_table_description(console, report["path"], report["table"])
        return
    from winnow.inspect_dirs import DIRECTORY_KINDS, render_directory

    if report["kind"] in DIRECTORY_KINDS:
        render_directory(report, console)
        return
    stats = report.get("stats")
    if stats:
        console.rule(f"[bold]{report['path']}[/bold]")
        console.print(_stats_line(stats))
    check = report.get("disk_check")
    if check is not None:
        if check["ok"]:
            console.print("rows on disk match stats.json (documents, rejected, errors)")
        else:
            console.print("[bold red]MISMATCH: the tables do not hold what stats.json counts[/bold red]")
            for line in check["mismatches"]:
                console.print(f"[bold red]  {line}[/bold red]")
            console.print("[red]  rows are duplicated or missing (an interrupted or mixed run?); rerun with --overwrite[/red]")
    if report.get("funnel"):
        f = Table(title="funnel")
        for col in ("stage", "in", "rejected", "errors", "out", "top reasons"):
            f.add_column(col, justify="right" if col in ("in", "rejected", "errors", "out") else "left")
        for row in report["funnel"]:
            top = ", ".join(f"{k} {v}" for k, v in row["top_reasons"].items())
            f.add_row(row["stage"], f"{row['in']:,}", f"{row['rejected']:,}", f"{row['errors']:,}", f"{row['out']:,}", top)
        console.print(f)
    for name, desc in report.get("tables", {}).items():
        render_table_description(console, name, desc)
    comparison = report.get("signals_kept_vs_rejected") or {}
    if comparison:
        t = Table(title="signals: kept vs rejected (p10 / p50 / p90)")
        t.add_column("signal")
        t.add_column("kept", justify="right")
        t.add_column("rejected", justify="right")
        for name, sides in comparison.items():
            cells = []
            for side in ("kept", "rejected"):
                p = sides.get(side) or {}
                cells.append(" / ".join(_fmt(p[k]) for k in ("p10", "p50", "p90")) if p else "-")
            t.add_row(name, *cells)
        console.print(t)
