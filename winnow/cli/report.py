"""`winnow report RUN_DIR`: write report.html and summary.json for a run directory.

matplotlib and pyarrow load only when the command runs (`winnow.cli` imports
this module for every command).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from winnow.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `report` to the `winnow` parser."""
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report and summary.json for a run directory",
        description=(
            "Read what the stages of `winnow run` left in RUN_DIR (curate/, dedup/, tokenizer/, tokens/, train/, "
            "evaluate/, ablate/; any may be missing) and write RUN_DIR/report.html (charts embedded, no external "
            "files) and RUN_DIR/summary.json (the same numbers)."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="the run directory")
    parser.add_argument("--open", action="store_true", help="open the report in the default web browser")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Handler of `winnow report`: write both files and print their paths."""
    from winnow.report import STATUS_ERROR, ReportInputError, write_report

    run_dir: Path = args.run_dir
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a directory (expected the output directory of `winnow run`)")
    try:
        report_path, summary_path = write_report(run_dir)
    except ReportInputError as exc:
        raise UserError(str(exc)) from None
    print(f"report: {report_path}")
    print(f"summary: {summary_path}")
    # A section that could not be read still renders (as an error line); say so here too.
    sections = json.loads(summary_path.read_text(encoding="utf-8"))["sections"]
    for key, section in sections.items():
        if section["status"] == STATUS_ERROR:
            print(f"warning: section {key}: {section.get('error')}")
    if args.open:
        import webbrowser

        webbrowser.open(report_path.resolve().as_uri())
    return 0
