"""CPU thread settings for everything that runs PyTorch (training, evaluation, generation).

PyTorch's CPU kernels run on an OpenMP pool (libgomp in the Linux wheels, which
MKL and oneDNN share). By default an idle OpenMP thread spins on its core for a
while before it sleeps, hoping the next parallel region starts soon. On a quiet
machine that saves a wake-up; on a busy one the spinning threads take the
cores that the threads with work are waiting for, so every step does the same
work and burns several times the CPU: `winnow train` of `tiny` with one CPU hog
per core ran 14x slower and used ~5x the CPU seconds per step
(docs/benchmarks.md, "Training under load"). With OMP_WAIT_POLICY=PASSIVE
idle threads sleep at once and give their core back.

OpenMP reads its settings once, when torch loads it, so `prefer_passive_waiting`
must run before the first `import torch`: winnow/training/__init__.py calls it.
A value the user set in the environment is kept. The wait policy changes when
threads sleep, never how work is split, so results are bit-identical.
"""
from __future__ import annotations

import os
import sys

WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
PASSIVE = "PASSIVE"


def prefer_passive_waiting() -> bool:
    """Make idle OpenMP threads sleep instead of spin, unless the user chose otherwise.

    Returns False when torch is already imported (too late to take effect; the
    environment is then left alone, so it never claims a policy that is not in force).
    """
    if "torch" in sys.modules:
        return False
    os.environ.setdefault(WAIT_POLICY_ENV, PASSIVE)
    return True


def available_cpus() -> int:
    """Cores this process may run on (its affinity mask, as set by taskset or a container), not the host's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads(local_processes: int) -> int:
    """Intra-op threads per process when the config does not say: the available cores, shared out."""
    return max(1, available_cpus() // max(1, local_processes))
