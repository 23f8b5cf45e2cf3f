"""The calibration as a console table (the HTML section is in winnow/report)."""
from __future__ import annotations

from typing import Any


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def calibration_rows(calibration: dict[str, Any], metric: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(label, comparison row) for the primary metric: each dose, then A/A and data dose."""
    metric = metric or calibration["primary_metric"]
    rows = [(f"junk {r['dose']:g}", r) for r in calibration["doses"] if r["metric"] == metric]
    rows += [("A/A (clean vs clean, reordered)", r) for r in calibration["aa"] if r["metric"] == metric]
    rows += [("half the clean pages", r) for r in calibration["data_dose"] if r["metric"] == metric]
    return rows


def print_calibration(calibration: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    metric = calibration["primary_metric"]
    table = Table(title=f"calibration: {calibration['budget_tokens']:,} tokens per model, {len(calibration['seeds'])} paired seeds, {metric}, alpha {calibration['alpha']}")
    for column in ("check", "mean diff vs clean", "95% CI", "p", "MDE", "verdict"):
        table.add_column(column, justify="left" if column in ("check", "verdict") else "right")
    for label, r in calibration_rows(calibration):
        table.add_row(label, _fmt(r["mean_diff"], "+.4f"), f"({_fmt(r['ci95'][0], '+.4f')}, {_fmt(r['ci95'][1], '+.4f')})",
                      _fmt(r["p_value"], ".3g"), _fmt(r["mde"], ".4f"), r["verdict"])
    console = Console()
    console.print(table)
    smallest = calibration["smallest_dose_detected"]
    console.print(f"smallest dose detected ({metric}): {'none of ' + str(calibration['doses_tried']) if smallest is None else format(smallest, 'g')}")
    console.print(f"A/A check: {'inconclusive, as it must be' if calibration['aa_passed'] else 'NOT inconclusive: the instrument reports differences that are not there'}")
    for recipe, filters in (calibration.get("tier0") or {}).get("recipes", {}).items():
        for name, f in filters.items():
            console.print(f"tier 0 {recipe}/{name}: removes {f['junk_removed']}/{f['junk']} junk, {f['clean_removed']}/{f['clean']} clean; "
                          f"precision {_fmt(f['precision'], '.3f')} {_interval(f['precision_ci95'])}, recall {_fmt(f['recall'], '.3f')} {_interval(f['recall_ci95'])}")


def _interval(ci: list[float | None]) -> str:
    return f"({_fmt(ci[0], '.3f')}, {_fmt(ci[1], '.3f')})"
