"""One command-line vocabulary, and the old spellings kept for one release.

Every command uses the same words for the same things:

    --input     what the command reads (archives, curated Parquet, a token
                directory); repeatable, and a single --input may list several
    --output    where the command writes (a directory, or for `evaluate` a JSON file)
    --overwrite replace an existing output (never done silently)
    --recipe    a built-in recipe name or a recipe YAML file
    --json      print the result as JSON on stdout instead of the readable text
    --max-steps / --max-tokens   the training budget (`train` only)
    --eval-tokens                tokens scored by an evaluation

Old spellings users may have in scripts (`train --data`, `evaluate --data`,
`evaluate --max-tokens`, `evaluate --json FILE`, `sample-warc --force`) keep
working until the next release and print a deprecation message naming the new
one.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

REMOVED_IN = "0.3"


def deprecation(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    print(f"{parser.prog}: warning: {old} is deprecated and will be removed in winnow {REMOVED_IN}; use {new}",
          file=sys.stderr)


class _DeprecatedAlias(argparse.Action):
    """Stores like the new flag (a value, a list to extend, or True) and says what replaced it."""

    def __init__(self, option_strings: list[str], dest: str, replacement: str = "", mode: str = "store", **kwargs: Any):
        if mode == "store_true":
            kwargs.update(nargs=0)
        super().__init__(option_strings, dest, **kwargs)
        self.replacement, self.mode = replacement, mode

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        deprecation(parser, option_string or self.option_strings[0], self.replacement)
        if self.mode == "store_true":
            values = True
        elif self.mode == "extend":
            values = list(getattr(namespace, self.dest, None) or []) + list(values)
        setattr(namespace, self.dest, values)


def add_deprecated_alias(parser: Any, old: str, new: str, dest: str, mode: str = "store", **kwargs: Any) -> None:
    """`old` sets `dest` as `new` does (mode: store, extend or store_true), with a
    deprecation message; it is hidden from --help."""
    parser.add_argument(old, dest=dest, action=_DeprecatedAlias, replacement=new, mode=mode, help=argparse.SUPPRESS,
                        default=argparse.SUPPRESS, **kwargs)
