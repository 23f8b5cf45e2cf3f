"""`winnow report DIR`: write report.html and summary.json for any Winnow output directory.

matplotlib and pyarrow load only when the command runs (`winnow.cli` imports
this module for every command).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from winnow.core.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `report` to the `winnow` parser."""
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report and summary.json for any Winnow output directory",
        description=(
            "DIR is any Winnow output: a `winnow run` or `winnow ablate` directory (curate/, dedup/, tokenizer/, "
            "tokens/, train/, evaluate/, ablate/; any may be missing), or the output of one command: curate, "
            "select, dedup, mix, tokenize (a token directory), tokenizer train or train. The command says which "
            "kind it found, and writes DIR/report.html (charts embedded, no external files) and DIR/summary.json "
            "(the same numbers) with the sections it has data for."
        ),
    )
    parser.add_argument("run_dir", metavar="DIR", type=Path, help="the output directory")
    parser.add_argument("--open", action="store_true", help="open the report in the default web browser")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Handler of `winnow report`: write both files and print their paths."""
    from winnow.core.errors import InputError
    from winnow.report import STATUS_ERROR, write_report
    from winnow.summaries import KIND_UNKNOWN, output_kind

    run_dir: Path = args.run_dir
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a directory (expected a Winnow output directory)")
    kind = output_kind(run_dir)
    if kind == KIND_UNKNOWN:
        raise InputError(
            f"{run_dir}: not a Winnow output: found no run.json or stage folders (winnow run, ablate), no stats.json "
            "(curate, select, dedup), no mix_manifest.json (mix), no token manifest.json (tokenize), no metrics.jsonl "
            "(train) and no tokenizer.json with report.json (tokenizer)"
        )
    print(f"found: {kind}")
    report_path, summary_path = write_report(run_dir)  # a ReportInputError names the unreadable file: exit 3
    print(f"report: {report_path}")
    print(f"summary: {summary_path}")
    # A section that could not be read still renders (as an error line); say so here too.
    sections = json.loads(summary_path.read_text(encoding="utf-8"))["sections"]
    shown = [key for key, section in sections.items() if section["status"] != "not run"]
    print(f"sections with data: {', '.join(shown) if shown else 'none'}")
    for key, section in sections.items():
        if section["status"] == STATUS_ERROR:
            print(f"warning: section {key}: {section.get('error')}")
    if args.open:
        import webbrowser

        webbrowser.open(report_path.resolve().as_uri())
    return 0
