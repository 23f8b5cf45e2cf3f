"""Errors shared by every command, importable without importing the CLI.

`UserError` is a mistake in what the user asked for (a missing file, an
existing output, a bad flag value): the CLI prints it as one line, without a
traceback. Library code raises its own typed errors; the command modules in
`winnow.cli` translate them into `UserError` where the user can act on them.
"""
from __future__ import annotations

import argparse


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value
