"""Extraction and the per-document steps after it, run together in the extraction child.

Extraction already runs in a child process per worker (extract_pool.py), so
that a page can be bounded in CPU time and killed. Language ID and the
filters used to run afterwards in the parent, in Beam's worker threads, where
they share one interpreter lock: with a fast engine the parent became the
bottleneck and a 2-core machine ran at little more than one core. A chain
sends the whole document in flight to the child instead, which takes it
through extraction (under the same CPU bound) and the run of per-document
steps that follows, and answers with the document or its outcome. Every
worker's steps then run in their own process.

Nothing about a document changes: the child runs the record path's own
`run_per_document` on the same steps built from the same recipe steps, and
an extraction that is ended or crashes is reported by the parent exactly as
before (`Extractor.run_chain` returns that Rejection). The child tells the
parent when the extraction is done (REPLY_EXTRACTED), so the wall-clock
backstop bounds the extraction only, as before: the steps after it have no
time limit, as they had none in the worker, and a long filter run on a huge
text never turns into a timeout on a busy machine. One difference in what can
be reported: a crash of the whole child process (a segfault in a C extension)
while a *later* step runs is reported as `extraction_crashed` ("in the steps
after it"), because the parent only sees the process die; without a chain
that crash would have ended the whole worker.

`steps.build_steps` decides which steps a child runs (`steps.chain_length`)
and starts the child with them; `ChildChain` is the child's handler.
"""
from __future__ import annotations

import base64
import os
import pickle
import traceback
from collections.abc import Callable
from typing import Any

from winnow.curation import record_path
from winnow.curation.extract import INLINE, Extractor
from winnow.curation.extract_pool import CHAIN_PRELOAD_ENV
from winnow.curation.extract_worker import CHAIN_EXTRACT, REPLY_ERROR, REPLY_STATE, ExtractFunction, handle
from winnow.curation.stages import STAGE_EXTRACT
from winnow.curation.steps import EXTRACT_STEP, BoundStep, ExtractStep, build_steps


# Steps after extraction built ahead in the fork server, by chain payload (see chain_preload.py).
_BUILT_AHEAD: dict[bytes, list[BoundStep]] = {}


def build_ahead_from_environment() -> None:
    """In the fork server: build the steps of every chain payload in CHAIN_PRELOAD_ENV, once."""
    for encoded in filter(None, os.environ.get(CHAIN_PRELOAD_ENV, "").split(",")):
        payload = base64.b64decode(encoded)
        _, *rest = pickle.loads(payload)
        _BUILT_AHEAD[payload] = build_steps(rest)


class ChildChain:
    """In the extraction child: extraction under the CPU bound, then the chained steps."""

    def __init__(
        self, payload: bytes, function: ExtractFunction, kwargs: dict[str, Any], cpu_limit_s: float | None,
        extracted: Callable[[], None] = lambda: None,
    ):
        self._function, self._kwargs, self._cpu_limit_s = function, kwargs, cpu_limit_s
        self._extracted = extracted  # tells the parent the extraction is done (extract_worker.REPLY_EXTRACTED)
        extract_config, *rest = pickle.loads(payload)  # steps.chain_payload: the extract step first
        extractor = Extractor(extract_config.config, extract_fn=function, isolation=INLINE)
        self._steps = [
            BoundStep(STAGE_EXTRACT, EXTRACT_STEP, extract_config.config, ExtractStep(extract_config.config, extractor)),
            *(_BUILT_AHEAD.get(payload) or build_steps(rest)),  # forked with them built, or build them
        ]

    def handle(self, message: bytes) -> bytes:
        """A pickled request (extract_worker.CHAIN_*) -> its reply.

        (CHAIN_DOCUMENT, document in flight, mode, n): the document (or an
        untriaged web archive record, triaged here first) through the
        first n chained steps -> REPLY_STATE + the pickled document or its outcome,
        after a REPLY_EXTRACTED frame as soon as the extraction is done: the
        parent's wall-clock backstop is for the extraction only (as it was before
        the chain), so a long filter run on a huge text never becomes a timeout.
        (CHAIN_EXTRACT, `url NUL html`): the engine alone, as a child without a chain answers.
        """
        try:
            kind, *request = pickle.loads(message)
            if kind == CHAIN_EXTRACT:
                return handle(request[0], self._function, self._kwargs, self._cpu_limit_s)
            state, mode, length = request
            if isinstance(state, record_path.Untriaged):  # the parent left the record's triage to this child
                state = state.triaged()
                if not isinstance(state, record_path.InFlight):  # triage's outcome: nothing to extract
                    return REPLY_STATE + pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
            result: Any = record_path.run_per_document(state, self._steps[:1], mode)  # the extraction
            self._extracted()
            if isinstance(result, record_path.InFlight) and length > 1:
                result = record_path.run_per_document(result, self._steps[1:length], mode)
            return REPLY_STATE + pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - the parent reports it as this document's extraction crash
            return REPLY_ERROR + f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}".encode("utf-8", "replace")
