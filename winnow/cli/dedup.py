"""`winnow dedup`: exact + MinHash near-duplicate removal over a curated output directory.

Imports Beam only when the command runs (see winnow/cli.py).
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Any

# Beam-free: the flags are declared once there, for this command and the Beam options.
from winnow.pipelines.dedup.flags import add_minhash_arguments, config_mapping_from_args

RECIPE_SECTION = "dedup"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dedup",
        help="remove exact and near-duplicate documents (MinHash LSH) from a curated output",
        description=(
            "Reads INPUT (a curated output directory, a directory of Parquet files, a glob or a file) and "
            "writes OUT/documents (kept, with cluster_id and minhash_cluster_size), "
            "OUT/duplicates and OUT/stats.json. Options that Apache Beam declares are passed to Beam "
            "(e.g. --runner=DataflowRunner --project=... --region=...); any other unknown flag is an error."
        ),
    )
    # action=append: a second --input is an error below, not a silent replacement of the first.
    parser.add_argument("--input", required=True, action="append",
                        help="curated output directory, directory of Parquet files, glob or file (local or gs://)")
    parser.add_argument("--output", required=True, help="output directory (local or gs://)")
    parser.add_argument("--recipe", help="recipe name or YAML path; its `dedup:` section is used (the whole recipe is checked)")
    parser.add_argument("--overwrite", action="store_true", help="allow a non-empty local output directory")
    add_minhash_arguments(parser.add_argument_group("MinHash (override the recipe)"))
    parser.set_defaults(handler=handle, accepts_extra=True)


def recipe_dedup_mapping(recipe: str) -> tuple[dict, str]:
    """The `dedup:` mapping of a recipe (file path or built-in name) and where it came from.

    The whole recipe is checked first (every section, winnow/sections.py): a recipe with
    a typo anywhere is wrong for dedup too, and says so before anything runs.
    """
    from winnow.curation.recipe import load_recipe
    from winnow.sections import check_recipe

    parsed = load_recipe(recipe)
    check_recipe(parsed, stages=(RECIPE_SECTION,))
    section = parsed.sections.get(RECIPE_SECTION) or {}
    return dict(section), f"recipe {parsed.name}, section {RECIPE_SECTION}"


def _is_remote(path: str) -> bool:
    return "://" in path


def _check_paths(input_dir: str, output_dir: str, overwrite: bool) -> None:
    from winnow.core.errors import UserError

    from winnow.schemas.inputs import has_glob, resolve_parquet_inputs

    if not _is_remote(input_dir) and not has_glob(input_dir) and not os.path.exists(input_dir):
        raise UserError(f"input {input_dir} does not exist")
    if not _is_remote(input_dir):
        # Fail here, with the spec and what was looked for, rather than inside a pipeline
        # (ParquetPathError, exit 2).
        paths = resolve_parquet_inputs(input_dir)
        from winnow.pipelines.dedup.read import check_local_inputs

        check_local_inputs(paths)  # a missing id/text column: one line naming file and column, not a Beam traceback
    if not _is_remote(output_dir) and os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
        raise UserError(f"output directory {output_dir} is not empty; pass --overwrite to replace its contents")
    if not _is_remote(input_dir) and not _is_remote(output_dir):
        if os.path.realpath(input_dir) == os.path.realpath(output_dir):
            raise UserError("--output must differ from --input")


def handle(args: argparse.Namespace) -> int:
    from winnow.core.errors import UserError
    from winnow.curation.minhash import minhash_config_from_mapping

    if len(args.input) > 1:
        raise UserError("dedup reads one --input (a directory, a glob or a file); use a glob to cover several")
    args.input = args.input[0]
    base, where = recipe_dedup_mapping(args.recipe) if args.recipe else ({}, "command line")
    config = minhash_config_from_mapping(config_mapping_from_args(args, base), where)  # RecipeError: exit 2
    _check_paths(args.input, args.output, args.overwrite)
    if args.overwrite and not _is_remote(args.output):
        import shutil

        for sub in ("documents", "duplicates"):
            shutil.rmtree(os.path.join(args.output, sub), ignore_errors=True)

    from winnow.pipelines.dedup.launcher import run_dedup
    from winnow.progress import Progress

    try:
        with Progress("dedup"):  # one Beam run: a heartbeat with the time elapsed
            stats = run_dedup(args.input, args.output, config, list(getattr(args, "extra", []) or []), args.dedup_mode)
    except KeyboardInterrupt:
        raise _interrupted(args) from None
    if stats.get("dry_run") or "documents_in" not in stats:
        print(json.dumps(stats, indent=2, sort_keys=True))
        return 0
    _print_summary(stats, args.output)
    return 0 if stats.get("accounting", {}).get("ok", True) else 1


def _interrupted(args: argparse.Namespace) -> BaseException:
    """Ctrl-C: dedup writes into staging folders renamed at the end, so documents/ holds nothing
    of this run; remove the staging folders (locally) and give the command to start again."""
    import shlex
    import shutil

    from winnow.interrupt import Interrupted, kill_children

    if not _is_remote(args.output):
        kill_children()  # Beam's worker processes stop writing first
        for staging in ("documents.tmp", "duplicates.tmp"):
            shutil.rmtree(os.path.join(args.output, staging), ignore_errors=True)
    again = [arg for arg in args.argv if arg != "--overwrite"] + ["--overwrite"]
    return Interrupted(f"dedup stopped before writing {args.output}; it has no resume, so run it again:\n"
                       f"  {shlex.join(['winnow', *again])}")


def _print_summary(stats: dict, output: str) -> None:
    """One readable block; the full numbers are in OUTPUT/stats.json."""
    ok = stats.get("accounting", {}).get("ok")
    print(
        f"winnow dedup: {stats['documents_in']:,} documents in, {stats['kept']:,} kept, "
        f"{stats['exact_duplicates']:,} exact and {stats['near_duplicates']:,} near duplicates removed"
    )
    print(
        f"clusters of 2 or more: {stats.get('clusters', 0):,} (largest {stats.get('largest_cluster', 0)}); "
        f"connected-components rounds used: {stats.get('cc_rounds_used', 0)} of {stats.get('cc_max_rounds', '?')}"
    )
    print(f"accounting: documents_in == kept + exact + near: {'holds' if ok else 'FAILS'}")
    print(f"wall time {stats.get('wall_time_s', 0):.1f} s; output: {output} (stats.json, documents/, duplicates/)")
