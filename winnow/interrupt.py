"""Ctrl-C that stops a local pipeline at once and says how to continue.

On a terminal, Ctrl-C sends SIGINT to every process of the foreground group:
Winnow, Beam's worker processes and the extraction children. Left alone, each
child dies with its own traceback while the main thread waits for Beam's
worker threads to finish their bundles, so the command neither stops nor says
anything readable. Here:

- `run_interruptibly(fn)` runs a pipeline in a helper thread whose SIGINT is
  blocked; every thread and process it starts inherits the blocked signal, so
  only the main thread, which waits in short slices, sees Ctrl-C;
- `sigint_blocked()` does the same for helpers the main thread starts itself
  (the extraction fork server);
- `Interrupted` carries what was stopped and the command that continues it;
- `stop_now(status)` ends the process without waiting for pipeline threads:
  child processes are killed, output flushed, then `os._exit`.

Standard library only; on a platform without `pthread_sigmask` the blocking
is skipped and Ctrl-C behaves as Python's default.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar

T = TypeVar("T")
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C
_WAIT_SLICE_S = 0.1  # the main thread wakes this often, so Ctrl-C is seen at once
_CAN_MASK = hasattr(signal, "pthread_sigmask")


class _AbandonedRunFilter(logging.Filter):
    """Drops what other threads log once `kill_children` has ended their processes.

    A thread that was starting or talking to an extraction child when the kill came
    fails (the fork server or the child is gone), and Beam logs that as an error with
    a traceback: noise after a Ctrl-C, printed after the message that says what stopped.
    Records from the main thread, and any record before the kill, pass.
    """

    abandoned = False

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.abandoned and record.thread != threading.main_thread().ident)


_ABANDONED = _AbandonedRunFilter()


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with a message saying what was stopped and how to continue."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread meanwhile: processes started here never see Ctrl-C."""
    if not _CAN_MASK:
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# Set by the SIGINT handler the CLI installs. Python turns Ctrl-C into KeyboardInterrupt
# wherever the main thread happens to be; raised inside a weakref callback or a __del__
# it is only printed ("Exception ignored in ...") and lost. The flag is never lost: the
# pipeline wait below checks it, so a Ctrl-C between two batches still stops the run.
_requested = threading.Event()


def _on_sigint(signum: int, frame: object) -> None:
    _requested.set()
    raise KeyboardInterrupt


def install_sigint_flag() -> None:
    """Make Ctrl-C both raise KeyboardInterrupt (Python's default) and set a flag that
    `run_interruptibly` checks; from the main thread only (signal handlers live there)."""
    if threading.current_thread() is threading.main_thread():
        _requested.clear()
        signal.signal(signal.SIGINT, _on_sigint)


def _raise_if_requested() -> None:
    if _requested.is_set():
        raise KeyboardInterrupt


def run_interruptibly(fn: Callable[[], T]) -> T:
    """fn() in a helper thread that, with all it starts, ignores Ctrl-C; KeyboardInterrupt
    reaches the caller at once. Outside the main thread, fn() runs directly."""
    if threading.current_thread() is not threading.main_thread() or not _CAN_MASK:
        return fn()
    _raise_if_requested()  # a Ctrl-C that arrived (and was swallowed) before this run
    _ABANDONED.abandoned = False  # a new run: its threads' errors are worth reading again
    outcome: dict[str, object] = {}

    def target() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    # A daemon thread: an interrupted pipeline must not keep the process alive.
    worker = threading.Thread(target=target, name="winnow-pipeline", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(_WAIT_SLICE_S)
        _raise_if_requested()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def child_pids(pid: int) -> list[int]:
    """Every descendant of `pid` (Linux /proc; empty elsewhere), children before grandchildren."""
    parents: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                # The process name may hold spaces and parentheses: the parent id follows the last ')'.
                parents[int(entry)] = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop(0)
        children = [child for child, parent in parents.items() if parent == current]
        found.extend(children)
        frontier.extend(children)
    return found


def kill_children() -> None:
    """SIGKILL every descendant process (Beam's workers, extraction children): they hold no
    output of their own that a resumed run would miss. What the kill breaks in this
    process's pipeline threads is not logged (`_AbandonedRunFilter`)."""
    # On the handlers: a logger's own filters do not see what its child loggers propagate.
    for handler in [*logging.getLogger().handlers, logging.lastResort]:
        if handler is not None and _ABANDONED not in handler.filters:
            handler.addFilter(_ABANDONED)
    _ABANDONED.abandoned = True
    for pid in child_pids(os.getpid()):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"resource_tracker" in f.read():
                    continue  # multiprocessing's own bookkeeper: it ends with this process, quietly
            os.kill(pid, signal.SIGKILL)


def stop_now(status: int = EXIT_INTERRUPTED) -> NoReturn:
    """End this process now: its child processes killed, stdout and stderr flushed,
    no wait for pipeline threads still busy with their bundles."""
    kill_children()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


def work_left() -> bool:
    """True when other threads or child processes still run (a pipeline cut short)."""
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and t.name != "winnow-heartbeat"]
    return bool(others) or bool(child_pids(os.getpid()))


def resume_command(argv: list[str], program: str = "winnow") -> str:
    """The command line that continues an interrupted one: the same arguments, without
    --overwrite (it would delete what is complete), with --resume."""
    import shlex

    kept = [arg for arg in argv if arg != "--overwrite"]
    if "--resume" not in kept:
        kept.append("--resume")
    return shlex.join([program, *kept])
