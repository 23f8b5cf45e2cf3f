"""Errors shared by every command, importable without importing the CLI.

Every error Winnow raises for a user to act on derives from `WinnowError`,
and its subclass says what the consequence is and which exit status the
`winnow` command returns (the CLI catches the base class, prints the message
as one line without a traceback, and exits with `exit_code`):

    exit 2  ConfigurationError  what was asked for is wrong: an unknown flag or
                                recipe key, a wrong type, a value out of range, a
                                named file that does not exist, an output that
                                exists without --overwrite. Nothing has run.
                                (`UserError` is the same class under its old name.)
    exit 3  InputError          the data is unusable: an unreadable or corrupt
                                archive, Parquet file, token shard or checkpoint.
    exit 1  RuntimeFailure      a stage ran and failed: accounting that does not
                                reconcile, connected components that did not
                                converge, a training run that diverged.

Every exception class the package defines is one of these (tests/test_error_classes.py
imports every module and fails on one that is not; its short allow-list says why each
exception there is not, e.g. the report's internal `NotRun`). Where callers catch a
builtin, the class keeps it as a second base (`TruncatedStream` is also an EOFError).

Where one library's failures have different consequences (a checkpoint file that does
not exist is a wrong path, exit 2; one that is corrupt is unusable input, exit 3), its
error is an `ErrorFamily`: callers still catch the one name (`except CheckpointError`),
each raise site raises the consequence subclass (`CheckpointMissing`, `CheckpointCorrupt`),
and the family itself cannot be raised, so no failure falls back to a wrong exit status.

Standard library only: `curation/` and `training/` import it.
"""
from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable

EXIT_RUNTIME_FAILURE = 1
EXIT_CONFIGURATION = 2
EXIT_INPUT = 3


class WinnowError(Exception):
    """Base of every error meant for the user; `exit_code` is the command's exit status."""

    exit_code = EXIT_RUNTIME_FAILURE


class ConfigurationError(WinnowError, ValueError):
    """A flag, recipe key, configuration value or named path is wrong; nothing has run (exit 2)."""

    exit_code = EXIT_CONFIGURATION


class InputError(WinnowError, ValueError):
    """Input data cannot be used as it is (exit 3)."""

    exit_code = EXIT_INPUT


class RuntimeFailure(WinnowError, RuntimeError):
    """A stage ran and failed (exit 1)."""

    exit_code = EXIT_RUNTIME_FAILURE


class ErrorFamily(WinnowError):
    """One library's errors across consequences; subclass it together with one of
    ConfigurationError, InputError or RuntimeFailure, and raise only those subclasses."""

    def __new__(cls, *args, **kwargs):
        if ErrorFamily in cls.__bases__:
            raise TypeError(f"{cls.__name__} groups errors of different consequences; raise one of its subclasses")
        return super().__new__(cls, *args, **kwargs)


# The name every command module has used for "the user asked for something wrong".
UserError = ConfigurationError


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest candidate, or '' when none is close."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_key_message(where: str, unknown: Iterable[str], valid: Iterable[str]) -> str:
    """"WHERE: unknown key(s) ['max_step'] (did you mean 'max_steps'?); valid keys are [...]"."""
    valid = sorted(valid)
    unknown = sorted(unknown, key=str)
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
        if close:
            hints.append(f"{key!r} -> {close[0]!r}" if len(unknown) > 1 else repr(close[0]))
    hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
    return f"{where}: unknown key(s) {unknown}{hint}; valid keys are {valid}"


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value
