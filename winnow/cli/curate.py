"""`winnow curate`. Beam is imported only when the command runs."""
from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    from winnow.pipelines.options_cli import add_curate_arguments

    parser = subparsers.add_parser(
        "curate",
        help="curate web archives into Parquet (Apache Beam)",
        description=(
            "Read WARC/ARC/WET, JSONL, Parquet or text files, extract main text from HTML, identify language, "
            "apply the recipe's steps and "
            "write documents/, rejected/, errors/ as Parquet plus stats.json. Options that Apache Beam declares "
            "are passed to Beam (e.g. --runner=DataflowRunner --project P --region R --temp_location gs://B/tmp); "
            "any other unknown flag is an error."
        ),
    )
    add_curate_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --output")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="process inputs in batches with completion records; re-running with --resume skips finished batches",
    )
    parser.add_argument("--files-per-run", type=int, default=None, metavar="N", help="input files per batch with --resume (default 8)")
    parser.set_defaults(handler=_curate, accepts_extra=True, before_beam=_warm_up_extraction)


def _curate(args: argparse.Namespace) -> int:
    from winnow.core.errors import UserError, WinnowError
    from winnow.interrupt import Interrupted, resume_command
    from winnow.pipelines.run_curate import reader_options_of, run_curate
    from winnow.pipelines.report import finish_status, print_curate_summary

    if not args.inputs or not args.output:
        raise UserError("--input and --output are required")
    _check_whole_recipe(args.recipe)
    try:
        stats = run_curate(
            inputs=args.inputs,
            output=args.output,
            recipe=args.recipe,
            beam_args=args.extra,
            lid_model=args.lid_model,
            max_payload_bytes=args.max_payload_bytes,
            keep_rejected_text=args.rejected_text == "keep",
            output_shards=args.output_shards,
            overwrite=args.overwrite,
            resume=args.resume,
            files_per_run=args.files_per_run,
            input_format=args.input_format,
            reader_options=reader_options_of(args),
            source_name=args.source_name or "",
        )
    except WinnowError:
        raise  # RecipeError, OutputExists, CurateInputError (exit 2), a corrupt input (3), a failed stage (1)
    except ValueError as exc:  # a builtin from Beam's option parsing: what was asked for is wrong
        raise UserError(str(exc)) from exc
    except Interrupted as exc:
        raise Interrupted(f"{exc.message}\n  continue with: {resume_command(args.argv)}") from None
    if stats is None:
        print(f"pipeline submitted; results will appear under {args.output}", file=sys.stderr)
        return 0
    print_curate_summary(stats, args.output)
    return finish_status(stats, "curate")


def _check_whole_recipe(spec: str) -> None:
    """Every section of the recipe, not only its steps, before Beam starts: a recipe with a
    typo in `train:` is wrong for curate too (RecipeError, exit 2)."""
    from winnow.curation.recipe import load_recipe
    from winnow.sections import check_recipe

    check_recipe(load_recipe(spec), stages=("curate",))


def _warm_up_extraction(args: argparse.Namespace, beam_args: list[str]) -> None:
    """On a local run, start the extraction fork server now: it imports trafilatura and the
    filters on another core while this process imports Beam (which checking Beam's flags
    starts), so `main` calls it first (`before_beam`); run_curate's own call is then a no-op."""
    from winnow.pipelines.options_cli import runs_in_this_process

    if not runs_in_this_process(beam_args):
        return
    from winnow.curation.recipe import curate_steps, load_recipe
    from winnow.curation.steps import warm_up_extraction
    from winnow.interrupt import sigint_blocked

    try:
        steps = curate_steps(load_recipe(args.recipe), args.lid_model)  # the steps the run will build
    except Exception:  # noqa: BLE001 - the run reports a bad recipe itself, with its own message
        return
    with sigint_blocked():  # the fork server and its children leave Ctrl-C to this process
        warm_up_extraction(steps)
