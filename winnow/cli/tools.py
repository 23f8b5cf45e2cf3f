"""Small shared subcommands: `sample-warc`, `inspect` and `recipes`.

Nothing heavy is imported at module level: `winnow.cli` imports this module for
every command, so Beam and torch must never load here.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from winnow.cli.vocabulary import add_deprecated_alias
from winnow.core.errors import UserError

_WARC_SUFFIX = ".warc.gz"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to the `winnow` parser."""
    _register_sample_warc(subparsers)
    _register_inspect(subparsers)
    _register_recipes(subparsers)


# --------------------------------------------------------------------------- sample-warc


def _register_sample_warc(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample-warc",
        help="write Winnow's own labelled sample WARC (no downloads needed)",
        description=(
            "Write a deterministic gzip WARC of generated pages (English articles, other languages, "
            "thin and spam pages, duplicates, non-HTML and broken records) and, next to it, "
            "<name>.labels.jsonl with the expected outcome of every record."
        ),
    )
    parser.add_argument("--output", required=True, type=Path, help=f"the WARC to write; must end in {_WARC_SUFFIX}")
    parser.add_argument("--pages", type=int, default=None, help="English article pages (default 240); other cases are added on top")
    parser.add_argument("--seed", type=int, default=None, help="which sample (default 0); the same seed gives the same bytes")
    parser.add_argument("--overwrite", dest="force", action="store_true", help="replace an existing output")
    add_deprecated_alias(parser, "--force", "--overwrite", dest="force", mode="store_true")
    parser.set_defaults(handler=run_sample_warc)


def run_sample_warc(args: argparse.Namespace) -> int:
    """Handler of `winnow sample-warc`: write the WARC and labels, print paths and counts."""
    from winnow.demo.sample_warc import SampleSpec, labels_path_for, read_labels, write_sample_warc

    output: Path = args.output
    if not output.name.endswith(_WARC_SUFFIX):
        raise UserError(f"--output {output}: the name must end in {_WARC_SUFFIX} (the file is a gzip WARC)")
    labels_path = labels_path_for(output)
    existing = [str(p) for p in (output, labels_path) if p.exists()]
    if existing and not args.force:
        raise UserError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace it")
    defaults = SampleSpec()
    try:
        spec = SampleSpec(
            pages=defaults.pages if args.pages is None else args.pages,
            seed=defaults.seed if args.seed is None else args.seed,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        labels_path = write_sample_warc(output, spec)
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc}") from exc
    counts = Counter(label["category"] for label in read_labels(labels_path))
    print(f"warc: {output}")
    print(f"labels: {labels_path}")
    summary = ", ".join(f"{category} {n}" for category, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    print(f"{sum(counts.values())} records: {summary}")
    return 0


# --------------------------------------------------------------------------- inspect


def _register_inspect(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="describe a Parquet file or a Winnow output directory",
        description=(
            "Show the schema, row counts, language distribution, text length percentiles, rejection reasons, "
            "the curation funnel, signal distributions for kept vs rejected documents and a few samples."
        ),
    )
    parser.add_argument("path", type=Path, help="a .parquet file, a table directory or an output directory")
    parser.add_argument("--json", action="store_true", help="print the description as JSON")
    parser.add_argument("--samples", type=int, default=3, help="sample rows per table (default 3)")
    parser.set_defaults(handler=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    import json

    from winnow.inspect import inspect_path

    # InspectError's subclasses reach the CLI as they are: no such path exits 2, a corrupt file 3.
    report = inspect_path(args.path, sample=args.samples)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        from winnow.inspect_render import render_report

        render_report(report)
    return 0 if report.get("disk_check", {}).get("ok", True) else 1  # rows on disk differ from stats.json


# --------------------------------------------------------------------------- recipes


def _register_recipes(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recipes",
        help="list the built-in recipes, or print one (`winnow recipes show NAME`)",
        description="List the built-in curation recipes; `show NAME` prints one as YAML to copy and edit.",
    )
    parser.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    parser.add_argument("name", nargs="?", help="recipe name (with show)")
    parser.set_defaults(handler=run_recipes)


def run_recipes(args: argparse.Namespace) -> int:
    import textwrap

    from winnow.curation.config import RecipeError
    from winnow.curation.recipe import builtin_recipe_names, load_recipe, recipe_source

    if args.action == "show":
        if not args.name:
            raise UserError("usage: winnow recipes show NAME")
        text, _ = recipe_source(args.name)  # an unknown name: RecipeError, a ConfigurationError (exit 2)
        print(text, end="" if text.endswith("\n") else "\n")
        return 0
    for name in builtin_recipe_names():
        try:
            recipe = load_recipe(name)
        except RecipeError as exc:
            print(f"{name:10s}  (invalid: {exc})")
            continue
        summary = textwrap.shorten(recipe.description, width=110, placeholder=" ...")
        print(f"{name:10s}  {summary}")
        print(f"{'':10s}  steps: {', '.join(recipe.step_names())}")
    return 0
