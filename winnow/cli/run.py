"""`winnow run` and `winnow ablate`. Heavy imports happen inside the handlers."""
from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    from winnow.runner import STAGES  # the one list of stages; the module imports nothing heavy

    run = subparsers.add_parser(
        "run",
        help="run every stage, web archive to evaluated model (default: the built-in demo)",
        description=(
            f"Run the recipe's stages in order ({', '.join(STAGES)}; mix only with a `mix:` section) "
            "into one directory. Stages whose inputs and settings have not changed are skipped; an interrupted "
            "training run resumes from its last checkpoint. Options that Apache Beam declares (--runner, --direct_num_workers, ...) go to Beam; "
            "any other unknown flag is an error."
        ),
    )
    run.add_argument("recipe", nargs="?", default=None, help="recipe name or YAML path (default: demo, on the embedded sample WARC)")
    run.add_argument("--output", default=None, metavar="DIR", help="run directory (default: runs/<recipe name>)")
    run.add_argument("--input", dest="inputs", action="append", metavar="GLOB", help="archives to curate instead of the recipe's input")
    run.add_argument("--from", dest="from_stage", metavar="STAGE",
                     help=f"re-run from this stage on (earlier stages must be complete); one of {', '.join(STAGES)}")
    run.add_argument("--until", dest="until_stage", metavar="STAGE", help="stop after this stage")
    run.set_defaults(handler=_run, accepts_extra=True)

    _register_ablate(subparsers)


def _register_ablate(subparsers: argparse._SubParsersAction) -> None:
    ablate = subparsers.add_parser(
        "ablate",
        help="train identical models on several recipes' data and compare them",
        description=(
            "Curate the same archives with each recipe, train one tokenizer on the union, train identical "
            "models with the same token budget and paired seeds on each corpus, score them on a clean reference "
            "text, BLiMP and their own held-out data, and compare every recipe with the first (mean paired "
            "difference, 95% interval, p-value, minimum detectable effect, verdict). "
            "`winnow ablate calibrate` checks the instrument on planted junk."
        ),
    )
    ablate.add_argument("--recipe", dest="recipes", action="append", default=[], help="recipe name or path (twice or more; the first is the baseline)")
    ablate.add_argument("--input", dest="inputs", action="append", metavar="GLOB", help="archives (default: the embedded sample WARC)")
    ablate.add_argument("--calibrate", action="store_true", help="also run the calibration checks on the baseline's corpus and qualify null results")
    _instrument_flags(ablate, "runs/ablation")
    ablate.set_defaults(handler=_ablate, accepts_extra=True)
    sub = ablate.add_subparsers(dest="ablate_command", metavar="calibrate", required=False, action=_OptionalSubcommand)
    calibrate = sub.add_parser(
        "calibrate",
        help="can the instrument see planted junk? dose-response, A/A and data-dose checks",
        description=(
            "Plant junk pages into the clean sources at each dose, train and score like an ablation, and write "
            "OUTPUT/ablate/calibration.json: each dose against the clean corpus, an A/A check (must be "
            "inconclusive) and a data-dose check (half of the clean pages against all). With --recipe, also "
            "what each filter of each recipe removes of the planted junk and of the clean pages (no training)."
        ),
    )
    calibrate.add_argument("--clean", nargs="+", required=True, metavar="SRC", help="clean documents: JSONL, Parquet or text files (globs allowed)")
    calibrate.add_argument("--junk", nargs="+", default=None, metavar="SRC", help="your own junk pages to plant (default: Winnow's generated junk)")
    calibrate.add_argument("--recipe", dest="recipes", action="append", default=[], help="recipe whose filters are checked on the planted junk (tier 0, no training)")
    _instrument_flags(calibrate, "runs/calibration")
    calibrate.set_defaults(handler=_calibrate, accepts_extra=False)


class _AnyWord(dict):
    """Subcommand map that lets any word past argparse's choice check; `_OptionalSubcommand` decides."""

    def __contains__(self, key: object) -> bool:
        return True


class _OptionalSubcommand(argparse._SubParsersAction):
    """`winnow ablate calibrate ...` runs the subcommand; any other bare word is the
    value of a Beam flag given as `--runner DirectRunner`, which `winnow ablate`
    has always passed on: it goes back to the unknown arguments right where it
    stood, and the rest of the line is parsed as `winnow ablate` flags again."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.choices = _AnyWord()  # only argparse's choice check reads this; parsers live in _name_parser_map

    def add_parser(self, name, **kwargs):
        parser = super().add_parser(name, **kwargs)
        self.choices[name] = parser  # listed for whoever walks the command tree (error messages, help)
        return parser

    def __call__(self, parser, namespace, values, option_string=None):
        if values and values[0] in self._name_parser_map:
            return super().__call__(parser, namespace, values, option_string)
        _, rest = parser.parse_known_args(values[1:], namespace)
        vars(namespace).setdefault(argparse._UNRECOGNIZED_ARGS_ATTR, []).extend([values[0], *rest])


def _instrument_flags(parser: argparse.ArgumentParser, output: str) -> None:
    """The flags an ablation and its calibration share: the instrument's settings."""
    from winnow.ablation.scoring import DEFAULT_BLIMP_DIR

    from winnow.ablation.presets import DEFAULT_PRESET, PRESETS

    parser.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
                        help=f"instrument defaults for the hardware (default: {DEFAULT_PRESET}); any flag given explicitly wins")
    parser.add_argument("--eval-text", required=False, metavar="FILE_OR_PARQUET", help="clean reference text no arm trains on (required)")
    parser.add_argument("--budget-tokens", type=int, default=None, help="training tokens per model (default: the preset's)")
    parser.add_argument("--doses", default="0.1,0.3,0.6", metavar="D,D,...", help="junk doses, fractions of pages (default: 0.1,0.3,0.6)")
    parser.add_argument("--tasks", nargs="*", default=[], metavar="FILE.jsonl", help="multiple-choice task files")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="paired training seeds (default: the preset's)")
    parser.add_argument("--model", default=None, help="model preset or YAML (default: the preset's)")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--tokenizer", default=None, metavar="FILE", help="a frozen tokenizer.json instead of training one")
    parser.add_argument("--train", dest="train_overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="train setting, e.g. batch_size=16 (over the preset's)")
    parser.add_argument("--blimp", default=DEFAULT_BLIMP_DIR, metavar="DIR", help=f"BLiMP *.jsonl directory (default: {DEFAULT_BLIMP_DIR}; skipped with a reason when absent; '' to skip)")
    parser.add_argument("--blimp-pairs", type=int, default=None, metavar="N", help="pairs per BLiMP paradigm scored (default: the preset's; 0 = all)")
    parser.add_argument("--eval-tokens", type=int, default=None, metavar="N",
                        help="score the first N tokens of --eval-text and of each held-out split (default: the preset's; 0 = all)")
    parser.add_argument("--average-last", type=int, default=None, metavar="N", help="checkpoints near the end whose scores are averaged (default: the preset's)")
    parser.add_argument("--max-epochs", type=float, default=4.0, help="no arm reads its data more often; the budget is lowered to fit (default: 4; 0 = no cap)")
    parser.add_argument("--alpha", type=float, default=0.01, help="significance level of the verdicts (default: 0.01)")
    parser.add_argument("--mode", choices=("scratch", "anneal"), default="scratch",
                        help="scratch: train every arm from random weights; anneal: continue one base model per seed on each arm (needs --base)")
    parser.add_argument("--base", nargs="+", default=None, metavar="SRC", help="anneal mode: the neutral base corpus (JSONL, Parquet or text files)")
    parser.add_argument("--base-tokens", type=int, default=None, help="anneal mode: base training tokens (default: one epoch of the base corpus); "
                        "the anneal budget defaults to 15%% of it")
    parser.add_argument("--output", default=output, metavar="DIR")


def _run(args: argparse.Namespace) -> int:
    from winnow.runner import load_context, run_stages

    # Winnow's errors reach the CLI's handler: a bad recipe or flag exits 2 before any
    # stage runs, a failed stage 1 (core/errors.py).
    ctx = load_context(args.recipe, args.output or f"runs/{_name(args.recipe)}", args.extra, args.inputs)
    from winnow.interrupt import Interrupted

    try:
        info = run_stages(ctx, args.from_stage, args.until_stage)
    except Interrupted as exc:
        raise Interrupted(f"{exc.message}\n  continue with: {_same_command(args.argv)}") from None
    report = ctx.run_dir / "report.html"
    if "report" in info["stages"] and report.is_file():
        print(f"report: {report.resolve()}")
        print(f"summary: {(ctx.run_dir / 'summary.json').resolve()}")
    else:
        print(f"run directory: {ctx.run_dir.resolve()}", file=sys.stderr)
    return 0


def _same_command(argv: list[str]) -> str:
    """The interrupted command again: completed stages are skipped, so nothing more is needed."""
    import shlex

    return shlex.join(["winnow", *argv])


def _name(recipe: str | None) -> str:
    from pathlib import Path

    return Path(recipe).stem if recipe else "demo"


def _ablate(args: argparse.Namespace) -> int:
    from winnow.ablate import print_table, run_ablation
    from winnow.core.errors import UserError, WinnowError

    if len(args.recipes) < 2:
        raise UserError("give at least two --recipe to compare (or `winnow ablate calibrate`)")
    instrument = _instrument(args)
    from winnow.interrupt import Interrupted

    try:
        results = run_ablation(
            recipes=args.recipes, output=args.output, budget_tokens=args.budget_tokens, eval_text=args.eval_text,
            inputs=args.inputs, seeds=args.seeds, model=args.model, vocab_size=args.vocab_size,
            tokenizer=args.tokenizer, train_overrides=instrument.train_overrides, beam_args=args.extra,
            score=instrument.score, max_epochs=instrument.max_epochs, alpha=instrument.alpha,
            calibrate_doses=_doses(args.doses) if args.calibrate else None, anneal=_anneal(args), preset=instrument.preset,
        )
    except WinnowError:
        raise  # a bad recipe or flag exits 2, an unusable input 3, a failed stage or training run 1
    except ValueError as exc:  # a builtin about a setting
        raise UserError(str(exc)) from exc
    except Interrupted as exc:  # finished recipes' stages are kept and skipped by the same command
        raise Interrupted(f"{exc.message}\n  continue with: {_same_command(args.argv)}") from None
    print_table(results)
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from winnow.ablation.calibrate import run_calibration
    from winnow.ablation.report_text import print_calibration
    from winnow.core.errors import UserError, WinnowError

    instrument = _instrument(args)
    try:
        calibration = run_calibration(
            clean=args.clean, output=args.output, instrument=instrument, doses=_doses(args.doses), junk=args.junk,
            vocab_size=args.vocab_size, tokenizer=args.tokenizer, tier0_recipes=args.recipes, anneal=_anneal(args),
        )
    except WinnowError:
        raise  # CalibrationError and RecipeError exit 2; an unusable input 3, a failed training run 1
    except ValueError as exc:  # a builtin about a setting
        raise UserError(str(exc)) from exc
    print_calibration(calibration)
    return 0


def _anneal(args: argparse.Namespace):
    """The anneal settings, or None in scratch mode; --base belongs to anneal mode only."""
    from winnow.core.errors import UserError

    if args.mode != "anneal":
        if args.base or args.base_tokens:
            raise UserError("--base and --base-tokens need --mode anneal")
        return None
    if not args.base:
        raise UserError("--mode anneal needs --base SRC...: the neutral corpus the base model is trained on")
    if args.base_tokens is not None and args.base_tokens <= 0:
        raise UserError(f"--base-tokens must be positive, got {args.base_tokens}")
    from winnow.ablation.anneal import AnnealSpec
    from winnow.ablation.calibrate import read_pages

    pages = read_pages(args.base, "base")  # CalibrationError, a ConfigurationError (exit 2)
    return AnnealSpec(tuple(pages), args.base_tokens)


def _doses(text: str) -> list[float]:
    from winnow.core.errors import UserError

    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--doses expects comma-separated fractions such as 0.1,0.3,0.6, got {text!r}") from None


def _instrument(args: argparse.Namespace):
    """The instrument settings from the shared flags over the preset's; a bad value is a usage error."""

    from winnow.ablation.arms import Instrument
    from winnow.ablation.presets import PRESETS, train_settings
    from winnow.ablation.scoring import ScoreSpec
    from winnow.core.errors import UserError

    if not args.eval_text:
        raise UserError("--eval-text FILE is required: a clean reference text that no arm trains on")
    from winnow.training.config import train_overrides_from_flags

    preset = PRESETS[args.preset]
    given = {"budget_tokens": args.budget_tokens, "seeds": args.seeds, "model": args.model, "blimp_pairs": args.blimp_pairs,
             "eval_tokens": args.eval_tokens, "average_last": args.average_last}
    for key, value in given.items():  # what the command line leaves out comes from the preset
        if key == "budget_tokens" and args.mode == "anneal":
            continue  # an anneal's budget defaults to a share of the base tokens (winnow/ablation/anneal.py)
        if value is None:
            setattr(args, key, list(preset.seeds) if key == "seeds" else getattr(preset, key))
    overrides = train_settings(preset, train_overrides_from_flags(args.train_overrides))  # checked now, not after curation
    for flag, value, ok in (("--blimp-pairs", args.blimp_pairs, args.blimp_pairs >= 0), ("--average-last", args.average_last, args.average_last >= 1),
                            ("--max-epochs", args.max_epochs, args.max_epochs >= 0), ("--alpha", args.alpha, 0 < args.alpha < 1),
                            ("--eval-tokens", args.eval_tokens, args.eval_tokens is None or args.eval_tokens >= 0),
                            ("--budget-tokens", args.budget_tokens, args.budget_tokens is None or args.budget_tokens > 0)):
        if not ok:
            raise UserError(f"{flag}: bad value {value}")
    score = ScoreSpec(eval_text=args.eval_text, blimp_dir=args.blimp or None, blimp_per_paradigm=args.blimp_pairs or None,
                      tasks=tuple(args.tasks), average_last=args.average_last, device=_score_device(overrides.get("device", "auto")),
                      eval_tokens=args.eval_tokens or None)
    return Instrument(budget_tokens=args.budget_tokens, seeds=tuple(args.seeds), score=score, model=args.model, train_overrides=overrides,
                      max_epochs=args.max_epochs or None, alpha=args.alpha, preset=preset.name)


def _score_device(train_device: str) -> str:
    if train_device == "cpu":
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
