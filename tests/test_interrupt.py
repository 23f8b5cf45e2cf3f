"""Ctrl-C is never lost: winnow.interrupt's flag outlives a KeyboardInterrupt that Python swallowed."""
from __future__ import annotations

import signal

import pytest

from winnow import interrupt


@pytest.fixture
def sigint_flag():
    previous = signal.getsignal(signal.SIGINT)
    interrupt.install_sigint_flag()
    yield
    interrupt._requested.clear()
    signal.signal(signal.SIGINT, previous)


def test_a_swallowed_ctrl_c_stops_the_next_pipeline_wait(sigint_flag):
    # The handler raises KeyboardInterrupt (Python's default) and sets the flag; here the
    # exception is swallowed, as in a weakref callback, but the next run must not start.
    with pytest.raises(KeyboardInterrupt):
        interrupt._on_sigint(signal.SIGINT, None)
    ran = []
    with pytest.raises(KeyboardInterrupt):
        interrupt.run_interruptibly(lambda: ran.append(1))
    assert ran == []


def test_a_ctrl_c_during_the_wait_stops_it(sigint_flag):
    import threading

    release = threading.Event()

    def pipeline() -> int:
        interrupt._requested.set()  # as if Ctrl-C was swallowed while the main thread waited
        release.wait(5)
        return 1

    with pytest.raises(KeyboardInterrupt):
        interrupt.run_interruptibly(pipeline)
    release.set()


def test_without_ctrl_c_the_result_comes_back(sigint_flag):
    assert interrupt.run_interruptibly(lambda: 42) == 42
