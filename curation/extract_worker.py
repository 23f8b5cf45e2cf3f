"""The extraction child: turns `url NUL html` requests into tagged text replies.

Two kinds of child run the same request handler (see extract_pool.py):

- a multiprocessing forkserver child, which talks over a `Connection`
  (`connection_loop`);
- a plain subprocess, `python -m winnow.curation.extract_worker`, which talks
  over its stdin/stdout with length-prefixed frames (`main`). It is not a
  multiprocessing child, so a daemonic process (a Dask worker under a nanny)
  may start it.

Each request runs under a CPU-time bound (`cpu_bound`): an ITIMER_PROF timer
armed for `cpu_limit_s` seconds of this process's own CPU time, whose SIGPROF
keeps its default action and so terminates the child, even inside C code
(lxml) and whatever `except` clauses the extractor has. The parent reads
"killed by SIGPROF" as an extraction timeout. CPU time, unlike wall-clock
time, does not grow when other processes compete for the cores, so the same
page is bounded the same way on a quiet and on a busy machine.

A child started with a `chain` (document_chain.py) runs more than the
engine: each request is a pickled document in flight, which the child takes
through extraction (under the same CPU bound) and the per-document steps
after it, and the reply is REPLY_STATE + the pickled result. Language ID and
the filters then run in as many processes as there are extraction children,
instead of in the parent's GIL-bound worker threads.

Subprocess protocol (every frame is a 4-byte big-endian length, then the bytes):
    parent -> child   one JSON init frame {"kwargs", "function", "parent_pid", "cpu_limit_s", "chain"},
                      then requests `url NUL html` (UTF-8), or with a chain pickled requests
    child -> parent   READY once it has imported the engines (and built the chain's steps), then
                      one reply per request: tag byte + body
EOF on stdin makes the child exit.
"""
from __future__ import annotations

import base64
import contextlib
import importlib
import json
import os
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

# Child -> parent reply tags (first byte of the reply).
REPLY_TEXT = b"T"
REPLY_NONE = b"N"
REPLY_ERROR = b"E"
REPLY_STATE = b"S"  # a chain child's reply: the pickled document in flight or its outcome
# A chain child's first frame for a document, sent as soon as its extraction is done: the
# wall-clock backstop bounds the extraction only, never the steps after it (see document_chain.py).
REPLY_EXTRACTED = b"X"
# A chain child's requests are pickled tuples whose first item says what they ask:
CHAIN_EXTRACT = "extract"  # (CHAIN_EXTRACT, `url NUL html`): the engine alone, a plain reply
CHAIN_DOCUMENT = "document"  # (CHAIN_DOCUMENT, document in flight, mode, steps): REPLY_STATE
# Sent once by a child when it is ready: the time it takes to start must not
# count against the first document's timeout, or a slow start would time out,
# restart, and time out again.
READY = b"R"
# Parent -> child: url and html travel in one message, split at the first NUL
# (URLs never contain a raw NUL; the parent strips it from them to be sure).
SEPARATOR = b"\x00"
FRAME_HEADER = struct.Struct(">I")
WORKER_MODULE = __name__ if __name__ != "__main__" else "winnow.curation.extract_worker"
# How often an orphaned subprocess checks that its parent is still there.
_PARENT_CHECK_S = 1.0
# Delivered when a request has used its CPU seconds; its default action ends the child.
CPU_LIMIT_SIGNAL = signal.SIGPROF

ExtractFunction = Callable[[str, str, dict[str, Any]], "str | None"]
Handler = Callable[[bytes], bytes]


def run_trafilatura(html: str, url: str, kwargs: dict[str, Any]) -> str | None:
    import trafilatura

    return trafilatura.extract(html, url=url or None, **kwargs)


def run_resiliparse(html: str, url: str, kwargs: dict[str, Any]) -> str | None:
    """Resiliparse's main-content text (engine `resiliparse`); `kwargs` are extract_plain_text's."""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, **kwargs) or None


def preload_engines() -> None:
    """Import every engine's library before READY, so no first document pays for it."""
    import resiliparse.extract.html2text  # noqa: F401
    import trafilatura  # noqa: F401


def arm_cpu_limit_signal() -> None:
    """Give SIGPROF its default action (terminate) in this child, whatever it inherited."""
    signal.signal(CPU_LIMIT_SIGNAL, signal.SIG_DFL)


@contextlib.contextmanager
def cpu_bound(cpu_limit_s: float | None) -> Iterator[None]:
    """End this process once the block has used `cpu_limit_s` seconds of its CPU time (None: no bound).

    ITIMER_PROF counts user and system time of the whole process, and only
    while it runs: time spent waiting for a core on a busy machine is not
    counted. Disarmed on the way out, so the reply is never cut short.
    """
    if cpu_limit_s is None:
        yield
        return
    signal.setitimer(signal.ITIMER_PROF, cpu_limit_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def handle(message: bytes, function: ExtractFunction, kwargs: dict[str, Any], cpu_limit_s: float | None = None) -> bytes:
    """One request -> one reply; an exception in `function` becomes an error reply, and
    using more than `cpu_limit_s` CPU seconds ends the process (see `cpu_bound`)."""
    url, _, html = message.partition(SEPARATOR)
    try:
        with cpu_bound(cpu_limit_s):
            text = function(html.decode("utf-8", "replace"), url.decode("utf-8", "replace"), kwargs)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as EXTRACTION_CRASHED
        return REPLY_ERROR + f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
    return REPLY_NONE if text is None else REPLY_TEXT + text.encode("utf-8", "surrogatepass")


def make_handler(
    function: ExtractFunction, kwargs: dict[str, Any], cpu_limit_s: float | None, chain: bytes | None = None,
    send: Callable[[bytes], None] | None = None,
) -> Handler:
    """This child's request handler: the engine alone, or with a chain the steps after it too
    (`send` writes a frame to the parent before the reply: REPLY_EXTRACTED).

    Called before READY, so loading the chain's models is not timed against the first document.
    """
    if chain is None:
        return lambda message: handle(message, function, kwargs, cpu_limit_s)
    from winnow.curation.document_chain import ChildChain  # the steps' imports, only where they run

    assert send is not None, "a chain child reports the end of each extraction"
    return ChildChain(chain, function, kwargs, cpu_limit_s, lambda: send(REPLY_EXTRACTED)).handle


def function_spec(function: ExtractFunction) -> str:
    """`module:qualname` of a module-level function, as a subprocess can import it."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", "")
    if module == "__main__":
        # `python -m pkg.mod` runs pkg.mod as __main__; the child can import it by its real name.
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        module = spec.name if spec is not None and spec.name else None
    if not module or not qualname or "<" in qualname:
        raise ValueError(
            f"extract_fn {function!r} must be a module-level function importable by name "
            "(the extraction process imports it)"
        )
    return f"{module}:{qualname}"


def resolve_function(spec: str) -> ExtractFunction:
    module_name, _, qualname = spec.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def ignore_ctrl_c() -> None:
    """A terminal's Ctrl-C reaches every process of its group; the parent decides what
    stops (and ends this child), so the child does not die mid-request with a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def connection_loop(
    conn, kwargs: dict[str, Any], function: ExtractFunction, cpu_limit_s: float | None = None, chain: bytes | None = None
) -> None:
    """Forkserver child loop over a multiprocessing Connection; exits on EOF."""
    ignore_ctrl_c()
    preload_engines()  # before the first request, so it is not timed
    handler = make_handler(function, kwargs, cpu_limit_s, chain, conn.send_bytes)

    arm_cpu_limit_signal()
    conn.send_bytes(READY)
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        conn.send_bytes(handler(message))


def _read_exact(fd: int, size: int) -> bytes | None:
    """Blocking read of exactly `size` bytes; None on EOF."""
    chunks, remaining = [], size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> bytes | None:
    header = _read_exact(fd, FRAME_HEADER.size)
    if header is None:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    return _read_exact(fd, size) if size else b""


def write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(FRAME_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def _exit_when_orphaned(parent_pid: int) -> None:
    # A parent killed with SIGKILL cannot close our stdin if we are stuck in a
    # pathological page; without this the child would hang on forever.
    while True:
        time.sleep(_PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            os._exit(1)


def _private_pipes() -> tuple[int, int]:
    """Keep the protocol fds to ourselves: stray prints go to stderr, stray reads see EOF."""
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return in_fd, out_fd


def main() -> int:
    """Subprocess entry point: init frame, READY, then one reply per request until EOF."""
    ignore_ctrl_c()
    in_fd, out_fd = _private_pipes()
    init = read_frame(in_fd)
    if init is None:
        return 0
    config = json.loads(init.decode("utf-8"))
    threading.Thread(target=_exit_when_orphaned, args=(int(config["parent_pid"]),), daemon=True).start()
    function = resolve_function(config["function"])
    kwargs = config["kwargs"]
    cpu_limit_s = config.get("cpu_limit_s")
    chain = base64.b64decode(config["chain"]) if config.get("chain") else None
    preload_engines()  # before READY, so it is not timed
    handler = make_handler(function, kwargs, cpu_limit_s, chain, lambda frame: write_frame(out_fd, frame))

    arm_cpu_limit_signal()
    write_frame(out_fd, READY)
    while True:
        message = read_frame(in_fd)
        if message is None:
            return 0
        write_frame(out_fd, handler(message))


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (KeyboardInterrupt, BrokenPipeError):
        # Ctrl-C reaches the whole process group, and the parent handles it; a
        # closed pipe means the parent is gone. Neither deserves a traceback.
        raise SystemExit(1)
