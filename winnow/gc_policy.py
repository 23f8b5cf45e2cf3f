"""The garbage collector in the `winnow` command (never in a caller's own process).

Importing Beam and what it brings (pandas, protobuf, gRPC), building a
pipeline graph and the recipe's steps leaves a few hundred thousand
long-lived objects that every full collection walks again. In a run, such a
collection holds the interpreter lock while Beam's worker threads wait to
feed their extraction children; at interpreter exit the last one takes about
half a second (0.42-0.54 s after a 100-element pipeline here; 0.04 s
frozen). `gc.freeze()` moves every object alive at that moment out of the
collector's sight; reference counting still frees them, and garbage made
later is collected as usual.

While the command imports Beam and its dependencies, the collector is paused
instead: each full collection there walks every object imported so far, and
the five of them cost about 0.28 s here, while imports make next to no
cyclic garbage. The pause ends with the imports, whatever happens.

Only the command line does this: in a long-lived caller (a test session, a
notebook) any cyclic garbage frozen with the rest would never be collected.
The command line itself can run several pipelines (`winnow run`, a batched
curate): what the last one left is garbage by the next, and a plain freeze
would keep it for the rest of the process (about 20,000 objects and 10-30 MB
per curate run here), so before the second and later pipelines the collector
first makes one full pass (about 0.2 s).
"""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_command_line = False
_pipelines_started = 0


def command_line() -> None:
    """Called once by `winnow`'s own entry point: the process ends when the command does."""
    global _command_line
    _command_line = True


def freeze_long_lived() -> None:
    """Before the command exits: what is alive now stays alive."""
    if _command_line:
        gc.freeze()


def before_pipeline() -> None:
    """Before a local pipeline runs: freeze what is alive, after collecting what an earlier
    pipeline of this process left (see the module docstring)."""
    global _pipelines_started
    if not _command_line:
        return
    if _pipelines_started:
        gc.unfreeze()
        gc.collect()
    _pipelines_started += 1
    gc.freeze()


@contextlib.contextmanager
def paused_for_imports() -> Iterator[None]:
    """No collections while the command imports (Beam, pandas, gRPC: objects that live as long as
    the process), then those objects are frozen; the collector always runs again afterwards."""
    if not _command_line or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.freeze()
