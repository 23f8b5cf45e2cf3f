"""`winnow run` and `winnow ablate`. Heavy imports happen inside the handlers."""
from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run",
        help="run every stage, web archive to evaluated model (default: the built-in demo)",
        description=(
            "Run the recipe's stages in order (input, curate, dedup, tokenizer, tokenize, train, evaluate, report) "
            "into one directory. Stages whose inputs and settings have not changed are skipped; an interrupted "
            "training run resumes from its last checkpoint. Options that Apache Beam declares (--runner, --direct_num_workers, ...) go to Beam; "
            "any other unknown flag is an error."
        ),
    )
    run.add_argument("recipe", nargs="?", default=None, help="recipe name or YAML path (default: demo, on the embedded sample WARC)")
    run.add_argument("--output", default=None, metavar="DIR", help="run directory (default: runs/<recipe name>)")
    run.add_argument("--input", dest="inputs", action="append", metavar="GLOB", help="archives to curate instead of the recipe's input")
    run.add_argument("--from", dest="from_stage", metavar="STAGE", help="re-run from this stage on (earlier stages must be complete)")
    run.add_argument("--until", dest="until_stage", metavar="STAGE", help="stop after this stage")
    run.set_defaults(handler=_run, accepts_extra=True)

    ablate = subparsers.add_parser(
        "ablate",
        help="train identical models on several recipes' data and compare them",
        description=(
            "Curate the same archives with each recipe, train one tokenizer on the union, train identical "
            "models with the same token budget and seeds on each corpus, and compare bits per byte on a common "
            "held-out text (plus multiple-choice accuracy when task files are given)."
        ),
    )
    ablate.add_argument("--recipe", dest="recipes", action="append", required=True, help="recipe name or path (twice or more)")
    ablate.add_argument("--budget-tokens", type=int, required=True, help="training tokens per model")
    ablate.add_argument("--eval-text", required=True, metavar="FILE_OR_PARQUET", help="common held-out text")
    ablate.add_argument("--input", dest="inputs", action="append", metavar="GLOB", help="archives (default: the embedded sample WARC)")
    ablate.add_argument("--tasks", nargs="*", default=[], metavar="FILE.jsonl", help="multiple-choice task files")
    ablate.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default: 0)")
    ablate.add_argument("--model", default="tiny", help="model preset or YAML (default: tiny)")
    ablate.add_argument("--vocab-size", type=int, default=4096)
    ablate.add_argument("--tokenizer", default=None, metavar="FILE", help="use this tokenizer.json instead of training one on the union")
    ablate.add_argument("--train", dest="train_overrides", action="append", default=[], metavar="KEY=VALUE", help="train setting, e.g. batch_size=16")
    ablate.add_argument("--output", default="runs/ablation", metavar="DIR")
    ablate.set_defaults(handler=_ablate, accepts_extra=True)


def _run(args: argparse.Namespace) -> int:
    from winnow.runner import load_context, run_stages

    # Winnow's errors reach the CLI's handler: a bad recipe or flag exits 2 before any
    # stage runs, a failed stage 1 (winnow/errors.py).
    ctx = load_context(args.recipe, args.output or f"runs/{_name(args.recipe)}", args.extra, args.inputs)
    info = run_stages(ctx, args.from_stage, args.until_stage)
    report = ctx.run_dir / "report.html"
    if "report" in info["stages"] and report.is_file():
        print(f"report: {report.resolve()}")
        print(f"summary: {(ctx.run_dir / 'summary.json').resolve()}")
    else:
        print(f"run directory: {ctx.run_dir.resolve()}", file=sys.stderr)
    return 0


def _name(recipe: str | None) -> str:
    from pathlib import Path

    return Path(recipe).stem if recipe else "demo"


def _ablate(args: argparse.Namespace) -> int:
    from winnow.ablate import AblationError, run_ablation
    from winnow.errors import UserError
    from winnow.curation.config import RecipeError
    from winnow.runner import RunError

    if len(args.recipes) < 2:
        raise UserError("give at least two --recipe to compare")
    overrides = {}
    for item in args.train_overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--train expects KEY=VALUE, got {item!r}")
        import yaml

        overrides[key] = yaml.safe_load(value)
    try:
        results = run_ablation(
            recipes=args.recipes, output=args.output, budget_tokens=args.budget_tokens, eval_text=args.eval_text,
            inputs=args.inputs, tasks=args.tasks, seeds=args.seeds, model=args.model, vocab_size=args.vocab_size,
            tokenizer=args.tokenizer, train_overrides=overrides, beam_args=args.extra,
        )
    except (RecipeError, RunError, AblationError) as exc:
        raise UserError(str(exc)) from exc
    from winnow.ablate import print_table

    print_table(results)
    return 0
