"""Stand-ins for trafilatura used by test_extract.py.

They live in their own light module because the extraction child process
imports them by name: importing the test module would pull pytest and
hypothesis into every restarted child.
"""
from __future__ import annotations

import os
import signal
import time


def hang(html: str, url: str, kwargs: dict) -> str | None:
    time.sleep(60)
    return "never"


def segfault(html: str, url: str, kwargs: dict) -> str | None:
    os.kill(os.getpid(), signal.SIGSEGV)
    return None


def explode(html: str, url: str, kwargs: dict) -> str | None:
    raise MemoryError("simulated")


def pathological(html: str, url: str, kwargs: dict) -> str | None:
    """Hangs on pages marked as pathological, extracts the others normally."""
    if "PATHOLOGICAL" in html:
        time.sleep(60)
    import trafilatura

    return trafilatura.extract(html, url=url or None, **kwargs)
