"""`winnow dedup`: exact + MinHash near-duplicate removal over a curated output directory.

Imports Beam only when the command runs (see winnow/cli.py).
"""
from __future__ import annotations

import argparse
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

# Command-line flag -> MinHashConfig field (flags left unset keep the recipe's or default value).
MINHASH_FLAGS: dict[str, str] = {
    "ngram": "ngram",
    "num_perm": "num_perm",
    "bands": "bands",
    "rows": "rows",
    "threshold": "threshold",
    "verify_threshold": "verify_threshold",
    "max_rounds": "max_rounds",
    "minhash_seed": "seed",
}
RECIPE_SECTION = "dedup"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dedup",
        help="remove exact and near-duplicate documents (MinHash LSH) from a curated output",
        description=(
            "Reads DIR/documents/*.parquet and writes OUT/documents (kept, with cluster_id), "
            "OUT/duplicates and OUT/stats.json. Unknown options are passed to Apache Beam "
            "(e.g. --runner=DataflowRunner --project=... --region=...)."
        ),
    )
    parser.add_argument("--input", required=True, help="curated output directory (local or gs://)")
    parser.add_argument("--output", required=True, help="output directory (local or gs://)")
    parser.add_argument("--recipe", help="recipe name or YAML path; only its top-level `dedup:` mapping is used")
    parser.add_argument("--overwrite", action="store_true", help="allow a non-empty local output directory")
    group = parser.add_argument_group("MinHash (override the recipe)")
    group.add_argument("--ngram", type=int, help="words per shingle (default 5)")
    group.add_argument("--num-perm", dest="num_perm", type=int, help="hash permutations (default 112)")
    group.add_argument("--bands", type=int, help="LSH bands (default 14)")
    group.add_argument("--rows", type=int, help="rows per band (default 8)")
    group.add_argument("--threshold", type=float, help="derive bands x rows for this Jaccard threshold")
    group.add_argument("--verify-threshold", dest="verify_threshold", type=float,
                       help="drop candidate pairs whose estimated Jaccard is below this")
    group.add_argument("--max-rounds", dest="max_rounds", type=int, help="connected-components rounds (default 30)")
    group.add_argument("--minhash-seed", dest="minhash_seed", type=int, help="permutation seed (default 1)")
    group.add_argument("--dedup-urls", dest="dedup_urls", action="store_true", default=None,
                       help="also remove documents whose normalised URL was already seen")
    group.add_argument("--no-exact", dest="exact", action="store_false", default=None,
                       help="skip exact dedup on the normalised text")
    parser.set_defaults(handler=handle, accepts_extra=True)


def recipe_dedup_mapping(recipe: str) -> tuple[dict, str]:
    """The `dedup:` mapping of a recipe (file path or built-in name) and where it came from."""
    import yaml

    from winnow.errors import UserError

    path = Path(recipe)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise UserError(f"recipe file {recipe} does not exist")
        text, where = path.read_text(encoding="utf-8"), str(path)
    else:
        resource = resources.files("winnow.recipes").joinpath(f"{recipe}.yaml")
        if not resource.is_file():
            raise UserError(f"unknown recipe {recipe!r}: no file of that name and no built-in recipes/{recipe}.yaml")
        text, where = resource.read_text(encoding="utf-8"), f"recipe {recipe}"
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{where}: not valid YAML ({exc})") from exc
    if not isinstance(document, dict):
        raise UserError(f"{where}: expected a mapping at the top level")
    section = document.get(RECIPE_SECTION) or {}
    if not isinstance(section, dict):
        raise UserError(f"{where}: `{RECIPE_SECTION}:` must be a mapping of MinHash settings")
    return dict(section), f"{where}, {RECIPE_SECTION}"


def config_mapping_from_args(args: argparse.Namespace, base: dict) -> dict:
    """The recipe mapping with every command-line flag that was given applied on top."""
    mapping = dict(base)
    for flag, field in MINHASH_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            mapping[field] = value
    if getattr(args, "dedup_urls", None):
        mapping["urls"] = True
    if getattr(args, "exact", None) is False:
        mapping["exact"] = False
    return mapping


def _is_remote(path: str) -> bool:
    return "://" in path


def _check_paths(input_dir: str, output_dir: str, overwrite: bool) -> None:
    from winnow.errors import UserError

    if not _is_remote(input_dir) and not os.path.isdir(input_dir):
        raise UserError(f"input directory {input_dir} does not exist")
    if not _is_remote(output_dir) and os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
        raise UserError(f"output directory {output_dir} is not empty; pass --overwrite to replace its contents")
    if not _is_remote(input_dir) and not _is_remote(output_dir):
        if os.path.realpath(input_dir) == os.path.realpath(output_dir):
            raise UserError("--output must differ from --input")


def handle(args: argparse.Namespace) -> int:
    from winnow.errors import UserError
    from winnow.curation.config import RecipeError
    from winnow.curation.minhash import minhash_config_from_mapping

    base, where = recipe_dedup_mapping(args.recipe) if args.recipe else ({}, "command line")
    try:
        config = minhash_config_from_mapping(config_mapping_from_args(args, base), where)
    except RecipeError as exc:
        raise UserError(str(exc)) from exc
    _check_paths(args.input, args.output, args.overwrite)
    if args.overwrite and not _is_remote(args.output):
        import shutil

        for sub in ("documents", "duplicates"):
            shutil.rmtree(os.path.join(args.output, sub), ignore_errors=True)

    from winnow.pipelines.dedup import run_dedup

    stats = run_dedup(args.input, args.output, config, list(getattr(args, "extra", []) or []))
    if stats.get("dry_run") or "documents_in" not in stats:
        print(json.dumps(stats, indent=2, sort_keys=True))
        return 0
    _print_summary(stats, args.output)
    return 0 if stats.get("accounting", {}).get("ok", True) else 1


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
