"""The `winnow` command. Subcommands register from small modules that import
their heavy dependencies (Beam, torch) only when the subcommand runs, so that
`winnow train` never imports Beam and `winnow curate` never imports torch."""
from __future__ import annotations

import argparse
import importlib
import sys

from winnow.core.version import __version__
from winnow.core.errors import WinnowError

# Each module defines `register(subparsers) -> None`; handlers are set with
# `parser.set_defaults(handler=fn)` where fn(args) -> int (exit status).
# A command that runs Apache Beam sets `accepts_extra=True`: arguments it does not
# declare itself must then be options some Beam `PipelineOptions` class declares
# (checked, with Beam imported, only when such a command runs); they reach Beam
# as `args.extra`. Any other unknown argument is an error (exit 2).
COMMAND_MODULES = (
    "winnow.cli.curate",  # curate
    "winnow.cli.select",  # select
    "winnow.cli.dedup",  # dedup
    "winnow.cli.tools",  # sample-warc, inspect, recipes
    "winnow.cli.tokens",  # tokenizer train, tokenize
    "winnow.cli.train",  # train
    "winnow.cli.evaluate",  # evaluate, generate, export
    "winnow.cli.run",  # run, ablate
    "winnow.cli.report",  # report
    "winnow.cli.mix",  # mix
    "winnow.cli.classifier",  # classifier train
    "winnow.cli.review",  # review serve, import, export, summary, compare
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="winnow",
        description="Curate web archives into a pre-training corpus, then train and evaluate a model on it.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"winnow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    _mark_leaf_parsers(parser)
    return parser


def _mark_leaf_parsers(parser: argparse.ArgumentParser) -> None:
    """Each (sub)command parser records itself, so an error can show its usage and flags, and
    takes flags only as spelled: argparse's default would read `--max-step` as `--max-steps`
    (and a future `--max-steps-per-epoch` would silently change what `--max-step` means)."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for sub in getattr(action, "choices", {}).values():
            sub.allow_abbrev = False  # read by argparse at parse time, so setting it here covers every add_parser
            sub.set_defaults(command_parser=sub)
            _mark_leaf_parsers(sub)


def own_options(parser: argparse.ArgumentParser) -> list[str]:
    return [option for option in parser._option_string_actions if option.startswith("--")]


def check_extra(args: argparse.Namespace, extra: list[str]) -> None:
    """Unknown arguments are an error naming the nearest flag, unless the command
    forwards them to Beam and Beam declares them."""
    from winnow.pipelines.options_cli import reject_unknown_beam_args, unknown_argument_message

    command_parser = args.command_parser
    if not extra:
        return
    if not getattr(args, "accepts_extra", False):
        command_parser.error(unknown_argument_message(extra[0], own_options(command_parser)))
    try:
        reject_unknown_beam_args(extra, own_options(command_parser))
    except WinnowError as exc:
        command_parser.error(str(exc))


def _quiet_beam_logs() -> None:
    """Beam's local workers relay routine start-up warnings (unparsed Winnow flags,
    no semi-persistent directory) that drown Winnow's own output; keep errors.
    WINNOW_BEAM_LOG=WARNING (or INFO) brings them back."""
    import logging
    import os

    level = os.environ.get("WINNOW_BEAM_LOG", "ERROR").upper()
    logging.getLogger("apache_beam").setLevel(getattr(logging, level, logging.ERROR))


def main(argv: list[str] | None = None) -> int:
    _quiet_beam_logs()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    from winnow import gc_policy

    if argv is None:  # the command line, not a caller's in-process use
        gc_policy.command_line()
    before_beam = getattr(args, "before_beam", None)
    if before_beam is not None:
        before_beam(args, extra)  # work that overlaps Beam's import, which checking its flags starts
    with gc_policy.paused_for_imports():
        check_extra(args, extra)
    args.extra = extra
    args.argv = list(sys.argv[1:] if argv is None else argv)  # to say how to resume after Ctrl-C
    if argv is None:
        from winnow.interrupt import install_sigint_flag

        install_sigint_flag()
    try:
        status = int(args.handler(args) or 0)
        gc_policy.freeze_long_lived()  # the command line exits next: skip the collector's last walk over every object
        return status
    except WinnowError as exc:
        print(f"{args.command_parser.prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `winnow ... | head`: the reader left, nothing to report
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:  # Ctrl-C: say what stopped and how to continue, then stop at once
        from winnow.interrupt import EXIT_INTERRUPTED, Interrupted, kill_children, stop_now, work_left

        busy = work_left()  # pipeline threads or worker processes: do not wait for them
        if busy:
            kill_children()  # first, so that the message is the last thing printed
        print(f"interrupted: {exc.message}" if isinstance(exc, Interrupted) else "interrupted", file=sys.stderr)
        if busy:
            stop_now(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
