"""Main-text extraction with trafilatura, bounded in time and size.

trafilatura can run for seconds (or hang) on pathological pages, and Beam calls
DoFns from worker threads, where `signal.alarm` is unavailable. So with a
timeout the extraction runs in one long-lived child process per `Extractor`:
the parent sends the HTML as UTF-8 bytes over a pipe and waits at most
`timeout_s` for the text. A child that overruns is killed and replaced; one
that dies is replaced too. Children are forked from a forkserver that has
already imported trafilatura, so a restart costs milliseconds, not an import.
"""
from __future__ import annotations

import multiprocessing
import re
import signal
import sys
import threading
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from winnow.curation.triage import Rejection

STAGE_EXTRACT = "extract"
NO_MAIN_TEXT = "no_main_text"
EXTRACTION_TIMEOUT = "extraction_timeout"
HTML_TOO_LARGE = "html_too_large"
EXTRACTION_CRASHED = "extraction_crashed"
EXTRACT_REASONS = (NO_MAIN_TEXT, EXTRACTION_TIMEOUT, HTML_TOO_LARGE, EXTRACTION_CRASHED)

# Child -> parent reply tags (first byte of the reply).
_REPLY_TEXT = b"T"
_REPLY_NONE = b"N"
_REPLY_ERROR = b"E"
# Sent once by a child when it is ready: the time it takes to start must not
# count against the first document's timeout, or a slow start would time out,
# restart, and time out again.
_READY = b"R"
# Parent -> child: url and html travel in one message, split at the first NUL
# (URLs never contain a raw NUL; we strip it from them to be sure).
_SEPARATOR = b"\x00"
# Seconds to wait for a child to start and for a graceful shutdown.
_STARTUP_TIMEOUT_S = 60.0
_SHUTDOWN_TIMEOUT_S = 2.0
# How long to wait for a child whose pipe closed to be reaped, so its exit code can be reported.
_EXIT_WAIT_S = 0.5

_SURROGATES = re.compile("[\ud800-\udfff]")

_PRELOAD_LOCK = threading.Lock()
_preloaded = False


@dataclass(frozen=True)
class ExtractConfig:
    favor_precision: bool = True  # FineWeb settings
    include_comments: bool = False
    include_tables: bool = True
    deduplicate: bool = False
    timeout_s: float | None = 1.0  # per document; None = no bound (in-process)
    max_html_bytes: int = 2_000_000  # larger HTML is rejected before parsing
    min_text_chars: int = 1  # shorter extractions are rejected as no_main_text

    def __post_init__(self) -> None:
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ValueError(f"ExtractConfig.timeout_s must be > 0 or None, got {self.timeout_s!r}")
        if self.max_html_bytes <= 0:
            raise ValueError(f"ExtractConfig.max_html_bytes must be > 0, got {self.max_html_bytes!r}")


def trafilatura_kwargs(config: ExtractConfig) -> dict[str, Any]:
    """The one place the trafilatura settings are decided."""
    return {
        "favor_precision": config.favor_precision,
        "include_comments": config.include_comments,
        "include_tables": config.include_tables,
        "deduplicate": config.deduplicate,
        "output_format": "txt",
        "with_metadata": False,
    }


def _run_trafilatura(html: str, url: str, kwargs: dict[str, Any]) -> str | None:
    import trafilatura

    return trafilatura.extract(html, url=url or None, **kwargs)


ExtractFunction = Callable[[str, str, dict[str, Any]], "str | None"]


def _child_main(conn, kwargs: dict[str, Any], function: ExtractFunction) -> None:
    """Child loop: receive `url NUL html`, reply with a tagged UTF-8 text; exit on EOF."""
    import trafilatura  # noqa: F401 - imported before the first request so it is not timed

    conn.send_bytes(_READY)
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        url, _, html = message.partition(_SEPARATOR)
        try:
            text = function(html.decode("utf-8", "replace"), url.decode("utf-8", "replace"), kwargs)
        except Exception as exc:  # noqa: BLE001 - reported to the parent as EXTRACTION_CRASHED
            reply = _REPLY_ERROR + f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
        else:
            reply = _REPLY_NONE if text is None else _REPLY_TEXT + text.encode("utf-8", "surrogatepass")
        conn.send_bytes(reply)


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


def _preload_modules() -> list[str]:
    """Modules the forkserver imports once, so that each (re)started child is a cheap fork.

    Besides trafilatura this includes the main module: multiprocessing
    re-imports it in every child, and in a Beam worker (`python -m
    apache_beam.runners.worker.sdk_worker_main`) that would cost seconds of
    imports per restart. With the main module preloaded its imports are cached.
    """
    modules = ["trafilatura", __name__]
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


def _context():
    """A forkserver context preloaded with trafilatura (spawn where forkserver is missing)."""
    global _preloaded
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    with _PRELOAD_LOCK:
        if not _preloaded:
            # Only effective before the forkserver starts; later children import it themselves.
            ctx.set_forkserver_preload(_preload_modules())
            _preloaded = True
    return ctx


def warm_up() -> None:
    """Start the extraction fork server now, so that importing trafilatura in it
    overlaps with whatever the caller does next (e.g. building a Beam pipeline)
    instead of delaying the first document. Safe to call more than once."""
    ctx = _context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class _Child:
    """One extraction worker process and its pipe."""

    def __init__(self, kwargs: dict[str, Any], function: ExtractFunction):
        ctx = _context()
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_child_main, args=(child_conn, kwargs, function), daemon=True)
        self.process.start()
        child_conn.close()
        self.ready = False

    def wait_ready(self) -> str | None:
        """Wait for the child's ready message; returns why it failed, or None."""
        if self.ready:
            return None
        try:
            if not self.conn.poll(_STARTUP_TIMEOUT_S):
                return f"extraction process did not start within {_STARTUP_TIMEOUT_S} s"
            message = self.conn.recv_bytes()
        except (OSError, EOFError) as exc:
            return f"extraction process died while starting (exit code {self.process.exitcode}): {exc}"
        if message != _READY:
            return f"extraction process sent {message[:20]!r} instead of its ready message"
        self.ready = True
        return None

    def exit_code(self) -> int | None:
        """The exit code of a child whose pipe just closed (it is exiting; reap it briefly first)."""
        self.process.join(_EXIT_WAIT_S)
        return self.process.exitcode

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(_SHUTDOWN_TIMEOUT_S)
        self.conn.close()

    def stop(self) -> None:
        # Closing our end makes the child's recv raise EOFError, so it exits by itself.
        self.conn.close()
        self.process.join(_SHUTDOWN_TIMEOUT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(_SHUTDOWN_TIMEOUT_S)


class Extractor:
    """trafilatura extraction with a per-document time bound; build once per worker.

    `extract_fn(html, url, trafilatura_kwargs) -> text | None` replaces the
    trafilatura call (tests use it to simulate hangs and crashes); it must be a
    module-level function so the child process can import it.
    """

    def __init__(self, config: ExtractConfig, extract_fn: ExtractFunction | None = None):
        self.config = config
        self._kwargs = trafilatura_kwargs(config)
        self._function = extract_fn or _run_trafilatura
        self._child: _Child | None = None
        self._lock = threading.Lock()
        self.restarts = 0  # children replaced after a timeout or crash (for metrics)
        if config.timeout_s is None:
            import trafilatura  # noqa: F401 - load once here, not on the first document
        else:
            self._child = _Child(self._kwargs, self._function)

    def extract(self, html: str, url: str = "") -> str | Rejection:
        """The main text of `html`, or a Rejection with stage "extract"."""
        try:
            data = html.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates cannot cross the pipe as UTF-8, and lxml stops parsing at them:
            # both paths see them as U+FFFD instead, so they agree and keep the rest of the page.
            html = _SURROGATES.sub("\ufffd", html)
            data = html.encode("utf-8")
        if len(data) > self.config.max_html_bytes:
            return Rejection(
                STAGE_EXTRACT, HTML_TOO_LARGE, f"HTML is {len(data)} bytes, limit {self.config.max_html_bytes}"
            )
        if self.config.timeout_s is None:
            try:
                text = self._function(html, url, self._kwargs)
            except Exception as exc:  # noqa: BLE001 - becomes a Rejection the pipeline records
                return Rejection(STAGE_EXTRACT, EXTRACTION_CRASHED, f"{type(exc).__name__}: {exc}")
            return self._judge(text)
        message = url.replace("\x00", "").encode("utf-8", "surrogatepass") + _SEPARATOR + data
        with self._lock:
            return self._extract_in_child(message)

    def _judge(self, text: str | None) -> str | Rejection:
        if text is None or len(text.strip()) < self.config.min_text_chars:
            found = 0 if text is None else len(text.strip())
            return Rejection(
                STAGE_EXTRACT, NO_MAIN_TEXT,
                f"extracted {found} characters, need at least {self.config.min_text_chars}",
            )
        return text

    def _extract_in_child(self, message: bytes) -> str | Rejection:
        if self._child is None or not self._child.process.is_alive():
            self._restart()
        child = self._child
        assert child is not None, "extraction child must exist after a restart"
        failure = child.wait_ready()
        if failure:
            self._restart()
            return Rejection(STAGE_EXTRACT, EXTRACTION_CRASHED, failure)
        try:
            child.conn.send_bytes(message)
            ready = child.conn.poll(self.config.timeout_s)
        except (OSError, EOFError) as exc:
            self._restart()
            return Rejection(STAGE_EXTRACT, EXTRACTION_CRASHED, f"extraction process unreachable: {exc}")
        if not ready:
            self._restart()
            return Rejection(
                STAGE_EXTRACT, EXTRACTION_TIMEOUT, f"extraction took longer than {self.config.timeout_s} s"
            )
        try:
            reply = child.conn.recv_bytes()
        except (OSError, EOFError):
            code = child.exit_code()
            self._restart()
            return Rejection(STAGE_EXTRACT, EXTRACTION_CRASHED, f"extraction process died ({describe_exit(code)})")
        tag, body = reply[:1], reply[1:]
        if tag == _REPLY_ERROR:
            return Rejection(STAGE_EXTRACT, EXTRACTION_CRASHED, body.decode("utf-8", "replace"))
        if tag == _REPLY_NONE:
            return self._judge(None)
        return self._judge(body.decode("utf-8", "surrogatepass"))

    def _restart(self) -> None:
        if self._child is not None:
            self._child.kill()
            self.restarts += 1
        self._child = _Child(self._kwargs, self._function)

    def close(self) -> None:
        """Stop the child process; the Extractor can still be used (it restarts one)."""
        with self._lock:
            if self._child is not None:
                self._child.stop()
                self._child = None

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _shingles(text: str, n: int = 4) -> Counter:
    tokens = text.split()
    if len(tokens) < n:
        # Short texts count as one shingle so they are not ignored entirely.
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def extraction_f1(predicted: str, truth: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of 4-token shingle multisets (article-extraction-benchmark metric).

    Two empty texts agree perfectly; an empty side against a non-empty one scores 0.
    """
    pred, gold = _shingles(predicted), _shingles(truth)
    if not pred and not gold:
        return 1.0, 1.0, 1.0
    overlap = sum((pred & gold).values())
    precision = overlap / sum(pred.values()) if pred else 0.0
    recall = overlap / sum(gold.values()) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1

