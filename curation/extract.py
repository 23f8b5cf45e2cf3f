"""Main-text extraction (trafilatura by default, or a faster engine: ENGINES), bounded in time and size.

With a timeout, each `Extractor` sends pages to one long-lived child process
(extract_pool.py). `timeout_s` is a bound on the CPU time the child spends on
one page, not on wall-clock time, so that the same page is kept or rejected
alike on a quiet and on a busy machine; a child that uses it up is ended and
replaced. A generous wall-clock backstop (extract_pool.wall_backstop_s) catches
a child that is wedged without using CPU. A child that dies is replaced too,
and either way the page becomes a Rejection, never an exception. The child is forked from a
preloaded forkserver, or, inside a daemonic process (a Dask worker), started as
a plain subprocess: see extract_pool.choose_isolation.
"""
from __future__ import annotations

import pickle
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from winnow.curation.extract_pool import (
    AUTO,
    Child,
    ChildDied,
    ChildOverCpu,
    ChildTimeout,
    ChildUnreachable,
    choose_isolation,
    describe_exit,
    start_child,
    warm_up,
)
from winnow.curation.extract_pool import wall_backstop_s as default_wall_backstop_s
from winnow.curation.extract_worker import (
    CHAIN_DOCUMENT,
    CHAIN_EXTRACT,
    REPLY_ERROR,
    REPLY_EXTRACTED,
    REPLY_NONE,
    REPLY_STATE,
    SEPARATOR,
    ExtractFunction,
    cpu_bound,
    preload_engines,
    run_resiliparse,
    run_trafilatura,
)
from winnow.curation.stages import STAGE_EXTRACT
from winnow.curation.triage import Rejection

__all__ = [
    "ENGINES", "EXTRACT_REASONS", "ExtractConfig", "Extractor", "describe_exit", "engine_function", "engine_kwargs",
    "extraction_f1", "trafilatura_kwargs", "warm_up",
]

NO_MAIN_TEXT = "no_main_text"
EXTRACTION_TIMEOUT = "extraction_timeout"
HTML_TOO_LARGE = "html_too_large"
EXTRACTION_CRASHED = "extraction_crashed"
EXTRACT_REASONS = (NO_MAIN_TEXT, EXTRACTION_TIMEOUT, HTML_TOO_LARGE, EXTRACTION_CRASHED)

_SURROGATES = re.compile("[\ud800-\udfff]")

# Extraction engines (ExtractConfig.engine). Each is one module-level function of
# extract_worker, run in the same bounded child with the same outputs and reasons.
TRAFILATURA = "trafilatura"  # FineWeb's extractor and settings (the default)
TRAFILATURA_FAST = "trafilatura_fast"  # the same with trafilatura's fast=True (no fallback extractors)
RESILIPARSE = "resiliparse"  # Resiliparse extract_plain_text(main_content=True): several times faster
ENGINES = (TRAFILATURA, TRAFILATURA_FAST, RESILIPARSE)
# Extractor isolation for code that already runs in an extraction child (document_chain.ChildChain):
# the engine runs in this process under the CPU bound, whose signal ends this process.
INLINE = "inline"


@dataclass(frozen=True)
class ExtractConfig:
    favor_precision: bool = True  # FineWeb settings
    include_comments: bool = False  # keep the comment section of a page
    include_tables: bool = True  # keep the text of tables
    deduplicate: bool = False  # trafilatura's removal of repeated segments within a page
    timeout_s: float | None = 1.0  # CPU seconds per document (not wall-clock); None = no bound (in-process)
    max_html_bytes: int = 2_000_000  # larger HTML is rejected before parsing
    min_text_chars: int = 1  # shorter extractions are rejected as no_main_text
    engine: str = TRAFILATURA  # trafilatura (FineWeb's), trafilatura_fast, or resiliparse (fastest; fineweb-fast's)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"ExtractConfig.engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ValueError(f"ExtractConfig.timeout_s must be > 0 or None, got {self.timeout_s!r}")
        if self.max_html_bytes <= 0:
            raise ValueError(f"ExtractConfig.max_html_bytes must be > 0, got {self.max_html_bytes!r}")


def trafilatura_kwargs(config: ExtractConfig) -> dict[str, Any]:
    """The one place the trafilatura settings are decided."""
    kwargs = {
        "favor_precision": config.favor_precision,
        "include_comments": config.include_comments,
        "include_tables": config.include_tables,
        "deduplicate": config.deduplicate,
        "output_format": "txt",
        "with_metadata": False,
    }
    if config.engine == TRAFILATURA_FAST:
        kwargs["fast"] = True  # skip the readability/jusText fallbacks
    return kwargs


def resiliparse_kwargs(config: ExtractConfig) -> dict[str, Any]:
    """extract_plain_text settings: main content only, as text a language model should see.

    Alt texts, form fields and <noscript> are page furniture, not running text;
    comments follow `include_comments` as they do for trafilatura. List items
    keep their bullet ('•'), as trafilatura's keep '-', so the Gopher
    bullet-line rule still sees lists (without bullets the shingle F1 is 0.004
    higher, docs/benchmarks.md, but that rule would go blind). Resiliparse
    has no table or precision switch: `include_tables`, `favor_precision` and
    `deduplicate` apply to the trafilatura engines only.
    """
    return {
        "main_content": True,
        "comments": config.include_comments,
        "alt_texts": False,
        "form_fields": False,
        "noscript": False,
        "links": False,
        "list_bullets": True,
        "preserve_formatting": True,
    }


def engine_function(engine: str) -> ExtractFunction:
    """The extract_worker function that runs `engine` (a module-level function, as the child needs)."""
    functions: dict[str, ExtractFunction] = {
        TRAFILATURA: run_trafilatura, TRAFILATURA_FAST: run_trafilatura, RESILIPARSE: run_resiliparse,
    }
    return functions[engine]


def engine_kwargs(config: ExtractConfig) -> dict[str, Any]:
    """The settings `engine_function(config.engine)` receives (JSON-serialisable: they cross to the child)."""
    return resiliparse_kwargs(config) if config.engine == RESILIPARSE else trafilatura_kwargs(config)


class Extractor:
    """trafilatura extraction with a per-document time bound; build once per worker.

    `extract_fn(html, url, trafilatura_kwargs) -> text | None` replaces the
    trafilatura call (tests use it to simulate hangs and crashes); it must be a
    module-level function so the child process can import it. `isolation` is
    "auto", "forkserver" or "subprocess" (see extract_pool.choose_isolation).
    `wall_backstop_s` overrides the wall-clock backstop for a wedged child
    (default: extract_pool.wall_backstop_s(timeout_s)).
    """

    def __init__(
        self, config: ExtractConfig, extract_fn: ExtractFunction | None = None, isolation: str = AUTO,
        wall_backstop_s: float | None = None, chain: bytes | None = None,
    ):
        self.config = config
        self._kwargs = engine_kwargs(config)
        self._function = extract_fn or engine_function(config.engine)
        self._child: Child | None = None
        self._lock = threading.Lock()
        self._chain = chain
        self.restarts = 0  # children replaced after a timeout or crash (for metrics)
        if config.timeout_s is None:
            self.isolation = None
        else:
            self.isolation = INLINE if isolation == INLINE else choose_isolation(isolation)
        self._in_process = self.isolation in (None, INLINE)  # the engine runs here, not in a child
        if wall_backstop_s is None and config.timeout_s is not None:
            wall_backstop_s = default_wall_backstop_s(config.timeout_s)
        self.wall_backstop_s = wall_backstop_s
        if self._in_process:
            preload_engines()  # load once here, not on the first document
        else:
            self._start()

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
        if self._in_process:
            try:
                with cpu_bound(self.config.timeout_s if self.isolation == INLINE else None):
                    text = self._function(html, url, self._kwargs)
            except Exception as exc:  # noqa: BLE001 - becomes a Rejection the pipeline records
                return Rejection(STAGE_EXTRACT, EXTRACTION_CRASHED, f"{type(exc).__name__}: {exc}")
            return self._judge(text)
        message = url.replace("\x00", "").encode("utf-8", "surrogatepass") + SEPARATOR + data
        if self._chain is not None:
            message = pickle.dumps((CHAIN_EXTRACT, message), protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            reply = self._exchange(message)
        if isinstance(reply, Rejection):
            return reply
        tag, body = reply[:1], reply[1:]
        if tag == REPLY_ERROR:
            return Rejection(STAGE_EXTRACT, EXTRACTION_CRASHED, body.decode("utf-8", "replace"))
        if tag == REPLY_NONE:
            return self._judge(None)
        return self._judge(body.decode("utf-8", "surrogatepass"))

    def run_chain(self, state: Any, mode: str, length: int) -> Any:
        """A document in flight through the first `length` steps of the child's chain (extraction first).

        Returns what the child's `document_chain.ChildChain` answered (the
        document still in flight, or its outcome), or a Rejection when the
        child was ended or died on the way (timeout, crash): the extraction's
        own result, exactly as `extract` reports it.
        """
        if self._chain is None:
            raise RuntimeError("run_chain needs an Extractor started with a chain")
        with self._lock:
            reply = self._exchange(pickle.dumps((CHAIN_DOCUMENT, state, mode, length), protocol=pickle.HIGHEST_PROTOCOL))
            if reply == REPLY_EXTRACTED:
                reply = self._receive_after_extraction()
        if isinstance(reply, Rejection):
            return reply
        tag, body = reply[:1], reply[1:]
        if tag == REPLY_STATE:
            return pickle.loads(body)
        return Rejection(STAGE_EXTRACT, EXTRACTION_CRASHED, body.decode("utf-8", "replace"))

    def _judge(self, text: str | None) -> str | Rejection:
        if text is None or len(text.strip()) < self.config.min_text_chars:
            found = 0 if text is None else len(text.strip())
            return Rejection(
                STAGE_EXTRACT, NO_MAIN_TEXT,
                f"extracted {found} characters, need at least {self.config.min_text_chars}",
            )
        return text

    def _exchange(self, message: bytes) -> bytes | Rejection:
        """The child's reply to one request, or the Rejection when it was ended or died (then replaced)."""
        if self._child is None or not self._child.is_alive():
            failure = self._restart()
            if failure:
                return Rejection(STAGE_EXTRACT, EXTRACTION_CRASHED, failure)
        child = self._child
        assert child is not None, "extraction child must exist after a successful restart"
        failure = child.wait_ready()
        if failure:
            self._restart()
            return Rejection(STAGE_EXTRACT, EXTRACTION_CRASHED, failure)
        try:
            reply = child.exchange(message, self.wall_backstop_s)
        except ChildOverCpu:
            # The detail holds only configured numbers: the same page gets the same row on any machine.
            self._restart()
            return Rejection(
                STAGE_EXTRACT, EXTRACTION_TIMEOUT, f"extraction ran longer than {self.config.timeout_s} CPU seconds"
            )
        except ChildTimeout:
            self._restart()
            return Rejection(
                STAGE_EXTRACT, EXTRACTION_TIMEOUT,
                f"extraction ran longer than the {self.wall_backstop_s} s wall-clock backstop "
                "without using its CPU seconds (the extraction process was wedged)",
            )
        except ChildDied as exc:
            self._restart()
            return Rejection(STAGE_EXTRACT, EXTRACTION_CRASHED, f"extraction process died ({exc})")
        except ChildUnreachable as exc:
            self._restart()
            return Rejection(STAGE_EXTRACT, EXTRACTION_CRASHED, str(exc))
        return reply

    def _receive_after_extraction(self) -> bytes | Rejection:
        """A chain child's reply once its extraction is done: no wall-clock limit, as the steps
        after extraction had none in the worker; a child that dies meanwhile is replaced."""
        assert self._child is not None, "a chain child answered, so it exists"
        try:
            return self._child.receive()
        except (ChildDied, ChildOverCpu) as exc:
            self._restart()
            return Rejection(
                STAGE_EXTRACT, EXTRACTION_CRASHED,
                f"extraction process died after the extraction, in the steps after it ({exc or type(exc).__name__})",
            )

    def _start(self) -> str | None:
        """Start a child; returns why that failed (the page is rejected, the next one retries)."""
        try:
            self._child = start_child(self.isolation, self._kwargs, self._function, self.config.timeout_s, self._chain)
        except ChildUnreachable as exc:
            self._child = None
            return str(exc)
        return None

    def _restart(self) -> str | None:
        if self._child is not None:
            self._child.kill()
            self.restarts += 1
        return self._start()

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

