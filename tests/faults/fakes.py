"""A hostile stand-in for trafilatura, for the fault-corpus pipeline run.

It lives in its own light module because the extraction child process
imports it by name (importing the test module would pull pytest into every
restarted child). Pages carrying a marker misbehave; the rest are extracted
by trafilatura as usual.
"""
from __future__ import annotations

import os
import signal
import time

HANG_MARKER = "FAULT-HANG"
CRASH_MARKER = "FAULT-SEGFAULT"
RAISE_MARKER = "FAULT-RAISE"


def hostile(html: str, url: str, kwargs: dict) -> str | None:
    if HANG_MARKER in html:
        # A pathological page loops on the CPU; the extraction's CPU bound ends it.
        end = time.process_time() + 600
        while time.process_time() < end:
            pass
    if CRASH_MARKER in html:
        os.kill(os.getpid(), signal.SIGSEGV)
    if RAISE_MARKER in html:
        raise RecursionError("simulated: maximum recursion depth exceeded in the HTML tree")
    import trafilatura

    return trafilatura.extract(html, url=url or None, **kwargs)
