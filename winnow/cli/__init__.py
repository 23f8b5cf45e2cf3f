"""The `winnow` command. Subcommands register from small modules that import
their heavy dependencies (Beam, torch) only when the subcommand runs, so that
`winnow train` never imports Beam and `winnow curate` never imports torch."""
from __future__ import annotations

import argparse
import importlib
import sys

from winnow import __version__
from winnow.errors import UserError, positive_int  # noqa: F401 - re-exported for command modules

# Each module defines `register(subparsers) -> None`; handlers are set with
# `parser.set_defaults(handler=fn)` where fn(args) -> int (exit status).
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
    )
    parser.add_argument("--version", action="version", version=f"winnow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command group not built yet
                continue
            raise
        module.register(subparsers)
    return parser


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
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"winnow {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `winnow ... | head`: the reader left, nothing to report
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
