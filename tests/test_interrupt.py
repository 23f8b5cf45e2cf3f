"""Ctrl-C is never lost: winnow.interrupt's flag outlives a KeyboardInterrupt that Python swallowed."""
from __future__ import annotations

import threading
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


def test_what_other_threads_log_after_the_kill_is_dropped_until_the_next_run(monkeypatch):
    """A pipeline thread that was starting an extraction child when Ctrl-C killed it logs the broken
    pipe as an error with a traceback; after the kill that is noise, printed after the message."""
    import io
    import logging

    from winnow import interrupt

    monkeypatch.setattr(interrupt, "child_pids", lambda pid: [])  # kill nothing of pytest's
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    beam = logging.getLogger("apache_beam.runners.common")

    def from_a_thread(message: str) -> None:
        thread = threading.Thread(target=beam.error, args=(message,))
        thread.start()
        thread.join()

    try:
        from_a_thread("before the kill")
        interrupt.kill_children()
        from_a_thread("unexpected EOF")
        beam.error("from the main thread")
        interrupt.run_interruptibly(lambda: None)  # a new run
        from_a_thread("a later run")
    finally:
        root.removeHandler(handler)
        interrupt._ABANDONED.abandoned = False
    assert stream.getvalue().splitlines() == ["before the kill", "from the main thread", "a later run"]
