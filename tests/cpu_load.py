"""A controlled CPU load for tests and benchmarks: one busy-looping process per core.

Used to check that results do not depend on machine load (issue 25): the
processes are plain `python -c` loops, started for the duration of a `with`
block and killed, each by its own pid, when it ends, even on an error.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

_BUSY_LOOP = "while True:\n    pass\n"


@contextlib.contextmanager
def cpu_hogs(count: int | None = None) -> Iterator[list[subprocess.Popen]]:
    """Run `count` (default: one per core) CPU-bound processes while the block runs."""
    count = (os.cpu_count() or 1) if count is None else count
    hogs: list[subprocess.Popen] = []
    try:
        for _ in range(count):
            hogs.append(subprocess.Popen([sys.executable, "-c", _BUSY_LOOP], stdin=subprocess.DEVNULL))
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()

# Wall-clock limit for a subprocess or a wait in a test. It catches a hang, never a
# slow machine: tests assert behaviour, not speed, and a run on a busy machine (a
# CPU-bound process per core, or 6 engineers on 2 cores) may take many times longer.
HANG_GUARD_S = 1800
