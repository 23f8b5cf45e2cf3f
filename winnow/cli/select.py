"""`winnow select`: new thresholds on stored signals, without re-running curation."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "select",
        help="re-apply a recipe's thresholds to an annotate-mode curation output (no re-extraction)",
        description=(
            "Read DIR (the output of `winnow curate` with `mode: annotate` in its recipe), decide every document "
            "again with RECIPE's thresholds from the stored signals, and write documents/, rejected/, errors/ "
            "and stats.json to OUTPUT with the same accounting. Takes seconds where curation takes minutes."
        ),
    )
    parser.add_argument("input", metavar="DIR", help="annotate-mode curation output directory")
    parser.add_argument("--recipe", required=True, help="built-in recipe name or recipe YAML with the new thresholds")
    parser.add_argument("--output", required=True, help="directory for the new split")
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --output")
    parser.set_defaults(handler=_select)


def _select(args: argparse.Namespace) -> int:
    from winnow.select import run_select

    from winnow.progress import Progress

    # SelectError and RecipeError exit 2, an unreadable input 3 (each class carries its status).
    with Progress("select"):
        stats = run_select(args.input, args.recipe, args.output, overwrite=args.overwrite)
    from winnow.pipelines.report import finish_status, print_curate_summary

    print_curate_summary(stats, args.output, command="select")
    return finish_status(stats, "select")
