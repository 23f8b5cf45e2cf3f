"""Extraction child processes, as the parent sees them.

trafilatura can run for seconds (or hang, or crash the interpreter) on
pathological pages, and Beam calls DoFns from worker threads, where
`signal.alarm` is unavailable. So extraction runs in a child process that the
parent can wait on and kill. Two bounds apply to each page:

- a CPU-time bound, enforced by the child itself (extract_worker.cpu_bound):
  after `cpu_limit_s` seconds of its own CPU time the kernel ends it with
  SIGPROF, which `exchange` reports as `ChildOverCpu`. This is the bound that
  decides which pages are rejected, and it does not depend on machine load;
- a wall-clock backstop (`wall_backstop_s`, many times the CPU bound), for a
  child that is wedged without using CPU (asleep, stopped, blocked): `exchange`
  raises `ChildTimeout` and the parent kills it.

Two kinds of child exist:

- `ForkserverChild` (the default): forked from a multiprocessing forkserver
  that has already imported trafilatura, so a restart after a hang costs
  milliseconds.
- `SubprocessChild`: `python -m winnow.curation.extract_worker`, a plain
  subprocess. Daemonic processes may not have multiprocessing children
  (Dask workers under a nanny are daemonic: "daemonic processes are not
  allowed to have children"), but they may start subprocesses. A restart
  imports trafilatura again (~0.4 s), which is not counted against the timeout.

`choose_isolation` picks the subprocess wherever the current process is
daemonic; `WINNOW_EXTRACT_ISOLATION=forkserver|subprocess` forces one (a
daemonic process always gets the subprocess). Both offer `exchange(message,
timeout)` (timeout: the wall-clock backstop), which returns the reply or raises
`ChildOverCpu` / `ChildTimeout` / `ChildDied` / `ChildUnreachable`.
"""
from __future__ import annotations

import base64
import json
import multiprocessing
import os
import select
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Sequence
from typing import Any, Protocol

from winnow.curation import extract_worker
from winnow.curation.extract_worker import CPU_LIMIT_SIGNAL, FRAME_HEADER, READY, ExtractFunction
from winnow.core.errors import RuntimeFailure

FORKSERVER = "forkserver"
SUBPROCESS = "subprocess"
AUTO = "auto"
ISOLATIONS = (AUTO, FORKSERVER, SUBPROCESS)
ISOLATION_ENV = "WINNOW_EXTRACT_ISOLATION"
CHAIN_PRELOAD_ENV = "WINNOW_CHAIN_PRELOAD"  # chain payloads the fork server builds ahead (warm_up)
# Seconds to wait for a child to start and for a graceful shutdown.
STARTUP_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_S = 2.0
# How long to wait for a child whose pipe closed to be reaped, so its exit code can be reported.
# Generous: on a busy machine a dying child may wait for a core, and a late reap
# would turn a CPU-bound kill (a timeout) into "exit code unknown" (a crash).
EXIT_WAIT_S = 10.0
# The wall-clock backstop for one page: this many times its CPU bound, and at
# least WALL_BACKSTOP_MIN_S. A child that uses its CPU seconds is ended by the
# CPU bound long before; only a child that makes no progress meets this one. Even
# with 15 other busy processes per core a page gets almost 2 CPU seconds in 30 s.
WALL_BACKSTOP_FACTOR = 30.0
WALL_BACKSTOP_MIN_S = 30.0

_PRELOAD_LOCK = threading.Lock()
_preloaded = False


class ChildTimeout(RuntimeFailure):
    """The child did not answer within the wall-clock backstop (it is wedged: asleep, stopped or blocked)."""


class ChildOverCpu(RuntimeFailure):
    """The child used up the request's CPU seconds and was ended by its CPU-time bound."""


class ChildDied(RuntimeFailure):
    """The child exited (crashed) before answering; `code` is its exit status."""

    def __init__(self, code: int | None):
        super().__init__(describe_exit(code))
        self.code = code


class ChildUnreachable(RuntimeFailure):
    """The request could not be sent, or the child failed to start."""


class Child(Protocol):
    def is_alive(self) -> bool: ...
    def wait_ready(self) -> str | None: ...
    def exchange(self, message: bytes, timeout: float) -> bytes: ...
    def receive(self) -> bytes: ...
    def kill(self) -> None: ...
    def stop(self) -> None: ...


def wall_backstop_s(cpu_limit_s: float) -> float:
    """Wall-clock seconds to wait for one page bounded at `cpu_limit_s` CPU seconds."""
    return max(WALL_BACKSTOP_FACTOR * cpu_limit_s, WALL_BACKSTOP_MIN_S)


def _death(code: int | None) -> Exception:
    """What a child's exit while answering means: the CPU bound fired, or a crash."""
    return ChildOverCpu() if code == -CPU_LIMIT_SIGNAL else ChildDied(code)


def describe_exit(code: int | None) -> str:
    """'exit code 1', 'killed by SIGSEGV', or 'exit code unknown' for a child that has not exited yet."""
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def choose_isolation(requested: str = AUTO) -> str:
    """FORKSERVER or SUBPROCESS for this process (see the module docstring)."""
    if requested == AUTO:
        requested = os.environ.get(ISOLATION_ENV, AUTO).strip().lower() or AUTO
    if requested not in ISOLATIONS:
        raise ValueError(f"extraction isolation must be one of {', '.join(ISOLATIONS)}; got {requested!r} (from {ISOLATION_ENV}?)")
    if multiprocessing.current_process().daemon:
        return SUBPROCESS  # the only kind a daemonic process may start
    return FORKSERVER if requested == AUTO else requested


def start_child(
    isolation: str, kwargs: dict[str, Any], function: ExtractFunction, cpu_limit_s: float | None = None,
    chain: bytes | None = None,
) -> Child:
    """A child that answers requests, each extraction bounded at `cpu_limit_s` CPU seconds (None: unbounded).

    With `chain` (document_chain.chain_payload) the child also runs the per-document steps after extraction.
    """
    if isolation == SUBPROCESS:
        return SubprocessChild(kwargs, function, cpu_limit_s, chain)
    return ForkserverChild(kwargs, function, cpu_limit_s, chain)


# ----------------------------------------------------------------------------- forkserver


def _preload_modules(step_names: Sequence[str] | None = None) -> list[str]:
    """Modules the forkserver imports once, so that each (re)started child is a cheap fork.

    Besides trafilatura this includes the main module: multiprocessing
    re-imports it in every child, and in a Beam worker (`python -m
    apache_beam.runners.worker.sdk_worker_main`) that would cost seconds of
    imports per restart. With the main module preloaded its imports are cached.
    A chain child also runs the recipe's steps after extraction
    (document_chain.py): those are preloaded too, and spaCy's tokenizer
    (chain_preload.py, 0.7 s) when a step besides language ID may need it.
    `step_names`: the recipe's steps (None: assume every kind).
    """
    modules = ["trafilatura", extract_worker.__name__]
    after = None if step_names is None else [name for name in step_names if name != "extract"]
    if after is None or after:
        modules.append("winnow.curation.document_chain")
    if after is None or any(name != "language" for name in after):
        modules.append("winnow.curation.chain_preload")
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and not spec.name.endswith("__main__"):
        modules.append(spec.name)
    elif spec is None and main is not None:
        # A script is re-run in each child (Python 3.11's forkserver ignores a
        # "__main__" preload), so preload what its globals came from instead.
        for value in list(vars(main).values()):
            name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
            if isinstance(name, str) and name not in ("__main__", "builtins") and name not in modules:
                modules.append(name)
    return modules


def _context(step_names: Sequence[str] | None = None):
    """A forkserver context preloaded with trafilatura (spawn where forkserver is missing).

    The first call decides the preloads (see `_preload_modules`); later ones get the same server.
    """
    global _preloaded
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    with _PRELOAD_LOCK:
        if not _preloaded:
            # Only effective before the forkserver starts; later children import it themselves.
            ctx.set_forkserver_preload(_preload_modules(step_names))
            _preloaded = True
    return ctx


def warm_up(step_names: Sequence[str] | None = None, chains: Sequence[bytes] = ()) -> None:
    """Start the extraction fork server now, so that importing trafilatura in it
    overlaps with whatever the caller does next (e.g. building a Beam pipeline)
    instead of delaying the first document. `step_names`: the recipe's steps,
    which decide what else it preloads (`_preload_modules`). `chains`: chain
    payloads (steps.chain_payloads) whose steps the server builds once, so
    every child it forks, and every child restarted after a timeout, starts
    with them built (a large URL blocklist is loaded once, not per child).
    Safe to call more than once (the first call decides); a no-op where
    extraction will use subprocesses."""
    if choose_isolation() != FORKSERVER:
        return
    ctx = _context(step_names)
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        # The server reads the payloads from its environment (its preloads take no arguments);
        # it copies the environment when it starts, so the variable is removed again at once.
        if chains:
            os.environ[CHAIN_PRELOAD_ENV] = ",".join(base64.b64encode(chain).decode("ascii") for chain in chains)
        try:
            forkserver.ensure_running()
        finally:
            os.environ.pop(CHAIN_PRELOAD_ENV, None)


class ForkserverChild:
    """One forked extraction process and its multiprocessing pipe."""

    def __init__(
        self, kwargs: dict[str, Any], function: ExtractFunction, cpu_limit_s: float | None = None,
        chain: bytes | None = None,
    ):
        ctx = _context()
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=extract_worker.connection_loop, args=(child_conn, kwargs, function, cpu_limit_s, chain), daemon=True
        )
        self.process.start()
        child_conn.close()
        self.ready = False

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def wait_ready(self) -> str | None:
        """Wait for the child's ready message; returns why it failed, or None."""
        if self.ready:
            return None
        try:
            if not self.conn.poll(STARTUP_TIMEOUT_S):
                return f"extraction process did not start within {STARTUP_TIMEOUT_S} s"
            message = self.conn.recv_bytes()
        except (OSError, EOFError) as exc:
            return f"extraction process died while starting (exit code {self.process.exitcode}): {exc}"
        if message != READY:
            return f"extraction process sent {message[:20]!r} instead of its ready message"
        self.ready = True
        return None

    def exchange(self, message: bytes, timeout: float) -> bytes:
        try:
            self.conn.send_bytes(message)
            ready = self.conn.poll(timeout)
        except (OSError, EOFError) as exc:
            raise ChildUnreachable(f"extraction process unreachable: {exc}") from exc
        if not ready:
            raise ChildTimeout()
        return self.receive()

    def receive(self) -> bytes:
        """The child's next reply, however long it takes (a chain child's steps after extraction)."""
        try:
            return self.conn.recv_bytes()
        except (OSError, EOFError):
            self.process.join(EXIT_WAIT_S)
            raise _death(self.process.exitcode) from None

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(SHUTDOWN_TIMEOUT_S)
        self.conn.close()

    def stop(self) -> None:
        # Closing our end makes the child's recv raise EOFError, so it exits by itself.
        self.conn.close()
        self.process.join(SHUTDOWN_TIMEOUT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(SHUTDOWN_TIMEOUT_S)


# ----------------------------------------------------------------------------- subprocess


def _child_environment() -> dict[str, str]:
    # The child must import exactly what the parent can (the winnow checkout, a
    # test's fake extractor): give it the parent's sys.path.
    env = dict(os.environ)
    entries = [p for p in sys.path if p]
    if env.get("PYTHONPATH"):
        entries.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(entries)
    env.pop(ISOLATION_ENV, None)
    return env


class SubprocessChild:
    """`python -m winnow.curation.extract_worker` and its stdin/stdout pipes."""

    def __init__(
        self, kwargs: dict[str, Any], function: ExtractFunction, cpu_limit_s: float | None = None,
        chain: bytes | None = None,
    ):
        init = json.dumps({
            "kwargs": kwargs, "function": extract_worker.function_spec(function), "parent_pid": os.getpid(),
            "cpu_limit_s": cpu_limit_s, "chain": base64.b64encode(chain).decode("ascii") if chain else None,
        })
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", extract_worker.WORKER_MODULE],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_child_environment(), close_fds=True,
            )
        except OSError as exc:
            raise ChildUnreachable(f"cannot start the extraction process {sys.executable!r}: {exc}") from exc
        self._in = self.process.stdin.fileno()
        self._out = self.process.stdout.fileno()
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)
        # poll(), unlike select(), works for descriptors above 1023 (busy workers open many files).
        self._readable = select.poll()
        self._readable.register(self._out, select.POLLIN)
        self._writable = select.poll()
        self._writable.register(self._in, select.POLLOUT)
        self.ready = False
        try:
            # 64 KiB of pipe buffer take the small init frame at once; if the child died
            # already, wait_ready reports how.
            self._write(init.encode("utf-8"), time.monotonic() + STARTUP_TIMEOUT_S)
        except (ChildUnreachable, ChildTimeout):
            pass

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self) -> str | None:
        if self.ready:
            return None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            message = self._read(deadline)
        except ChildTimeout:
            return f"extraction process did not start within {STARTUP_TIMEOUT_S} s"
        except ChildDied as exc:
            return f"extraction process died while starting ({exc}); its stderr says why"
        if message != READY:
            return f"extraction process sent {message[:20]!r} instead of its ready message"
        self.ready = True
        return None

    def exchange(self, message: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        self._write(message, deadline)
        try:
            return self._read(deadline)
        except ChildDied as exc:
            raise _death(exc.code) from None

    def receive(self) -> bytes:
        """The child's next reply, however long it takes (a chain child's steps after extraction)."""
        try:
            return self._read(None)
        except ChildDied as exc:
            raise _death(exc.code) from None

    def _write(self, payload: bytes, deadline: float) -> None:
        view = memoryview(FRAME_HEADER.pack(len(payload)) + payload)
        while view:
            try:
                view = view[os.write(self._in, view):]
                continue
            except BlockingIOError:
                pass
            except OSError as exc:  # BrokenPipeError: the child is gone
                raise ChildUnreachable(f"extraction process unreachable: {exc} ({self._exit_code_text()})") from exc
            self._wait(self._writable, deadline)

    def _read(self, deadline: float | None) -> bytes:
        (size,) = FRAME_HEADER.unpack(self._read_exact(FRAME_HEADER.size, deadline))
        return self._read_exact(size, deadline)

    def _read_exact(self, size: int, deadline: float | None) -> bytes:
        chunks, remaining = [], size
        while remaining:
            try:
                chunk = os.read(self._out, min(remaining, 1 << 20))
            except BlockingIOError:
                self._wait(self._readable, deadline)
                continue
            if not chunk:
                raise ChildDied(self._exit_code())
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    @staticmethod
    def _wait(poller: select.poll, deadline: float | None) -> None:
        if deadline is None:  # no limit: wait until the child answers or its pipe closes
            poller.poll()
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            raise ChildTimeout()

    def _exit_code(self) -> int | None:
        try:
            return self.process.wait(EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            return None

    def _exit_code_text(self) -> str:
        return describe_exit(self._exit_code())

    def _close_pipes(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass  # a non-blocking pipe with unflushed bytes; the child is gone anyway

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self._close_pipes()
        try:
            self.process.wait(SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass  # unkillable (stuck in the kernel); nothing more a parent can do

    def stop(self) -> None:
        # EOF on its stdin makes the child exit by itself.
        self._close_pipes()
        try:
            self.process.wait(SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
