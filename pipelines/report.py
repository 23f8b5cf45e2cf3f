"""Terminal summary of a curation run (rich tables): `winnow curate` and `winnow select` print the same one."""
from __future__ import annotations

import os
from typing import Any

from rich.console import Console
from rich.table import Table

from winnow.summaries import ErrorGroup, error_groups, one_line, ranked_counts, run_outcome


def print_curate_summary(stats: dict[str, Any], output: str, console: Console | None = None, command: str = "curate") -> None:
    console = console or Console()
    acc = stats["accounting"]
    console.print(f"[bold]winnow {command}[/bold]: recipe {stats.get('recipe')}")
    headline = run_outcome(stats, os.path.join(output, "stats.json")).headline()
    if headline:
        console.print(f"[bold red]{headline}[/bold red]")
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
            for reason, count in ranked_counts(by_reason):
                reasons.add_row(stage, reason, f"{count:,}")
        console.print(reasons)
    if stats.get("errors"):
        print_error_summary(os.path.join(output, "errors"), console)
    languages = stats.get("languages") or {}
    if languages:
        top = ", ".join(f"{lang} {count}" for lang, count in list(languages.items())[:10])
        console.print(f"languages kept: {top}")
    verdict = "[green]holds[/green]" if acc["ok"] else f"[red]FAILS ({acc['unaccounted']} unaccounted)[/red]"
    console.print(
        f"accounting: records_in {stats['records_in']} == kept {stats['kept']} + rejected {stats['rejected_total']}"
        f" + errors {stats['errors']}: {verdict}"
    )
    for mismatch in (stats.get("on_disk") or {}).get("mismatches", []):  # rows on disk that stats.json does not count
        console.print(f"[bold red]on disk: {mismatch}[/bold red]")
    if "wall_time_s" in stats:
        wall = stats["wall_time_s"]
        rate = stats.get("records_per_s") or (stats["records_in"] / wall if wall else 0)
        console.print(f"wall time {wall:.1f} s ({rate:.1f} records/s); output: {output}")


def print_error_summary(errors_dir: str, console: Console) -> list[ErrorGroup]:
    """Errors by stage and type with the first message and file of each (see winnow.summaries)."""
    try:
        groups = error_groups(errors_dir)
    except (OSError, ValueError, NotImplementedError) as exc:  # missing, unreadable or on a filesystem pyarrow lacks: the rest still prints
        console.print(f"[red]errors: could not read {errors_dir}: {exc}[/red]")
        return []
    table = Table(title="errors by stage and type (first of each; all rows in errors/)")
    table.add_column("stage")
    table.add_column("error type")
    table.add_column("records", justify="right")
    table.add_column("first message")
    table.add_column("file")
    for group in groups:
        table.add_row(group.stage, group.error_type, f"{group.records:,}", one_line(group.first_message),
                      group.first_source)
    console.print(table)
    return groups


def finish_status(stats: dict[str, Any], command: str) -> int:
    """The command's exit status (winnow.summaries.exit_status), said on stderr when it is not 0."""
    import sys

    from winnow.summaries import exit_status, run_outcome

    status = exit_status(stats)
    if status and run_outcome(stats, "stats.json").all_failed:
        print(f"winnow {command}: every record failed (see the errors table above); exit status {status}", file=sys.stderr)
    elif status:
        print(f"winnow {command}: the accounting does not hold; exit status {status}", file=sys.stderr)
    return status
