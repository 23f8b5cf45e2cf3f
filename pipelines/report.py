"""Terminal summary of a curation run (rich tables)."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def print_curate_summary(stats: dict[str, Any], output: str, console: Console | None = None) -> None:
    console = console or Console()
    acc = stats["accounting"]
    console.print(f"[bold]winnow curate[/bold]: recipe {stats.get('recipe')}")
    table = Table(show_header=True)
    table.add_column("outcome")
    table.add_column("records", justify="right")
    table.add_row("records in", f"{stats['records_in']:,}")
    table.add_row("kept", f"{stats['kept']:,}")
    table.add_row("rejected", f"{stats['rejected_total']:,}")
    table.add_row("errors", f"{stats['errors']:,}")
    console.print(table)
    if stats.get("rejected"):
        reasons = Table(title="rejected by stage and reason")
        reasons.add_column("stage")
        reasons.add_column("reason")
        reasons.add_column("records", justify="right")
        for stage, by_reason in stats["rejected"].items():
            for reason, count in sorted(by_reason.items(), key=lambda kv: -kv[1]):
                reasons.add_row(stage, reason, f"{count:,}")
        console.print(reasons)
    languages = stats.get("languages") or {}
    if languages:
        top = ", ".join(f"{lang} {count}" for lang, count in list(languages.items())[:10])
        console.print(f"languages kept: {top}")
    verdict = "[green]holds[/green]" if acc["ok"] else f"[red]FAILS ({acc['unaccounted']} unaccounted)[/red]"
    console.print(
        f"accounting: records_in {stats['records_in']} == kept {stats['kept']} + rejected {stats['rejected_total']}"
        f" + errors {stats['errors']}: {verdict}"
    )
    if "wall_time_s" in stats:
        console.print(f"wall time {stats['wall_time_s']:.1f} s ({stats.get('records_per_s') or 0:.1f} records/s); output: {output}")
