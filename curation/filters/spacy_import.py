"""Importing spaCy for its tokenizer without thinc importing torch.

spaCy imports thinc, whose compatibility probe (`thinc.compat`) imports torch
when it is installed (about 1.3 CPU-s here) only to note that it could use it;
the blank English tokenizer the filters use never does. Hiding torch from that
one probe keeps it out of curation's start-up (small jobs in seconds, issue 22).
"""
from __future__ import annotations

import contextlib
import importlib.abc
import sys
import threading
from collections.abc import Iterator
from typing import Any


class _HideTorchFromThinc(importlib.abc.MetaPathFinder):
    """Fails `import torch` when thinc's compatibility probe (`thinc.compat`) asks, in one thread.

    spaCy imports thinc, whose probe imports torch if it is installed (about 1.3 CPU-s here)
    only to note that it could use it; the blank English tokenizer never does. Other
    threads, and every other importer of torch, are left alone.
    """

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] == "torch" and threading.get_ident() == self.thread and _called_from("thinc.compat"):
            raise ModuleNotFoundError("torch is not needed by spaCy's tokenizer (hidden by Winnow)", name=name)
        return None


def _called_from(module: str) -> bool:
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == module:
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def torch_hidden_from_thinc() -> Iterator[None]:
    """While spaCy is first imported: thinc does not import torch (unless torch is loaded already)."""
    if "thinc.compat" in sys.modules or "torch" in sys.modules:
        yield
        return
    finder = _HideTorchFromThinc()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
