"""CPU thread settings (training/threads.py): idle OpenMP threads sleep instead of
spinning, so that training on a busy machine slows down instead of stalling.

The effect itself is measured by benchmarks/train_under_load.py (docs/benchmarks.md);
these tests check that the setting reaches OpenMP, i.e. is in the environment
before torch loads it, and that a user's own choice wins.
"""
from __future__ import annotations

import os
import subprocess
import sys

from winnow.training.threads import PASSIVE, WAIT_POLICY_ENV, available_cpus, default_threads

_PROBE = (
    "import os, sys\n"
    "import winnow.training.trainer\n"  # what `winnow train` and `winnow run` import first
    "assert 'torch' in sys.modules\n"
    f"print(os.environ.get({WAIT_POLICY_ENV!r}))\n"
)


def _policy_seen_by_a_fresh_process(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != WAIT_POLICY_ENV}
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", _PROBE], env=environment, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_training_imports_set_passive_waiting_before_torch_loads():
    assert _policy_seen_by_a_fresh_process() == PASSIVE


def test_a_wait_policy_the_user_chose_is_kept():
    assert _policy_seen_by_a_fresh_process(**{WAIT_POLICY_ENV: "ACTIVE"}) == "ACTIVE"


def test_nothing_is_claimed_when_torch_was_loaded_first():
    probe = (
        "import os, torch\n"
        "from winnow.training.threads import prefer_passive_waiting\n"
        f"print(prefer_passive_waiting(), os.environ.get({WAIT_POLICY_ENV!r}))\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != WAIT_POLICY_ENV}
    done = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "None"]


def test_default_threads_share_the_cores_this_process_may_use():
    cores = available_cpus()
    assert 1 <= cores <= (os.cpu_count() or cores)
    assert default_threads(1) == cores
    assert default_threads(cores * 4) == 1, "never zero threads"
    if hasattr(os, "sched_getaffinity"):
        assert cores == len(os.sched_getaffinity(0))
