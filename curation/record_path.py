"""The pure record path: records through a recipe's steps, one outcome each.

    start        ArchiveRecord | TextRecord | ReadFailure -> a document in flight, or an outcome
    run_batch    documents in flight through every step -> Kept | Rejected | Failed per record

Every step, extraction and language included, answers through the same
protocol (`curation.steps.BoundStep.run`), so the path knows no step by name.
Two modes:

- `filter` (default): a document leaves at the first step that rejects it;
  its rejected row carries the signals computed so far.
- `annotate` ("tag, then decide"): every step runs on every document that has
  text, so rejected rows carry every signal; the verdict is still the first
  rejection in step order, so the kept/rejected split equals `filter` mode's.
  `winnow select` can then re-apply other thresholds to the stored signals.

Nothing here imports Beam: the curation DoFn calls `run_batch`, counts the
outcomes and routes them; tests call it directly.
"""
from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from winnow.curation.archive import ArchiveRecord, ReadFailure
from winnow.curation.ids import document_id, domain_of
from winnow.curation.stages import STAGE_EXTRACT, STAGE_READ, STAGE_TRIAGE
from winnow.curation.steps import BoundStep
from winnow.curation.triage import EMPTY_PAYLOAD, Rejection, TriageConfig, triage
from winnow.curation.types import Document, StepResult, TextRecord

FILTER = "filter"
ANNOTATE = "annotate"
MODES = (FILTER, ANNOTATE)

MAX_TRACEBACK_CHARS = 4000
MAX_MESSAGE_CHARS = 2000

Item = ArchiveRecord | TextRecord | ReadFailure


@dataclass(frozen=True)
class Kept:
    identity: Mapping[str, Any]
    text: str
    language: str
    language_score: float
    signals: Mapping[str, Any]


@dataclass(frozen=True)
class Rejected:
    identity: Mapping[str, Any]
    stage: str
    reason: str
    detail: str
    text: str | None  # None when the record never had text (triage, decode, extract)
    language: str | None  # None when language ID had not run
    language_score: float | None
    signals: Mapping[str, Any]


@dataclass(frozen=True)
class Failed:
    identity: Mapping[str, Any]
    stage: str
    error_type: str
    message: str
    traceback: str | None


Outcome = Kept | Rejected | Failed


@dataclass
class InFlight:
    """A document between steps: what it is now and what is known of it."""

    identity: Mapping[str, Any]
    doc: Document
    has_text: bool  # False while the text is still HTML waiting for extraction
    language_known: bool = False
    signals: dict[str, Any] = field(default_factory=dict)
    verdict: tuple[str, str, str] | None = None  # (stage, reason, detail) of the first rejection


def identity_of(record: ArchiveRecord | TextRecord, source_name: str = "") -> dict[str, Any]:
    """The identity columns of a record (see `schemas.IDENTITY_FIELDS`)."""
    if isinstance(record, TextRecord):
        key = f"{record.source}#{record.position}"
        doc_id = record.id or document_id(key, record.url, record.date)
        return {
            "id": doc_id, "url": record.url, "domain": domain_of(record.url), "warc_record_id": None,
            "warc_date": record.date or None, "source": record.source,
            "source_name": record.source_name or source_name, "metadata": record.metadata,
        }
    return {
        "id": document_id(record.warc_record_id, record.url, record.date),
        "url": record.url,
        "domain": domain_of(record.url),
        "warc_record_id": record.warc_record_id,
        "warc_date": record.date,
        "source": record.source,
        "source_name": source_name,
        "metadata": None,
    }


def failure_of(identity: Mapping[str, Any], stage: str, exc: BaseException) -> Failed:
    return Failed(
        identity, stage, type(exc).__name__, str(exc)[:MAX_MESSAGE_CHARS],
        "".join(traceback.format_exception(exc))[-MAX_TRACEBACK_CHARS:],
    )


def _read_failure(failure: ReadFailure, source_name: str) -> Failed:
    # Readers of JSONL, Parquet and text have no byte offset; their message names the line or row,
    # so it keys the id and two bad lines of one file get two ids.
    position = failure.offset if failure.offset is not None else failure.message
    key = failure.warc_record_id or f"{failure.source}@{position}"
    identity = {
        "id": document_id(key, failure.url, None), "url": failure.url, "warc_record_id": failure.warc_record_id,
        "source": failure.source, "source_name": source_name,
    }
    at_offset = failure.offset is not None and "offset" not in failure.message
    message = f"{failure.message} (at byte offset {failure.offset})" if at_offset else failure.message
    return Failed(identity, STAGE_READ, failure.error_type, message, None)


def _rejection(identity: Mapping[str, Any], rejection: Rejection) -> Rejected:
    return Rejected(identity, rejection.stage, rejection.reason, rejection.detail or "", None, None, None, {})


def start(item: Item, triage_config: TriageConfig, source_name: str = "") -> InFlight | Outcome:
    """Triage and decode a record into a document in flight, or its outcome when it ends here."""
    if isinstance(item, ReadFailure):
        return _read_failure(item, source_name)
    identity = identity_of(item, source_name)
    try:
        if isinstance(item, TextRecord):
            if not item.text.strip():
                return _rejection(identity, Rejection(STAGE_TRIAGE, EMPTY_PAYLOAD, "record has no text"))
            doc = Document(
                text=item.text, url=item.url, id=identity["id"], source=item.source,
                source_name=identity["source_name"], is_html=item.is_html,
            )
            return InFlight(identity, doc, has_text=not item.is_html)
        decoded = triage(item, triage_config)
    except Exception as exc:  # noqa: BLE001 - a bug on one record costs that record only
        return failure_of(identity, STAGE_TRIAGE, exc)
    if isinstance(decoded, Rejection):
        return _rejection(identity, decoded)
    is_html = decoded.kind == "html"
    doc = Document(
        text=decoded.content, url=item.url, id=identity["id"], source=item.source,
        source_name=source_name, is_html=is_html,
    )
    return InFlight(identity, doc, has_text=not is_html)


@dataclass(frozen=True)
class Untriaged:
    """A web archive record whose triage runs where its extraction runs: in the extraction child.

    When a record's first steps run in the extraction child (a chain, document_chain.py),
    the child calls `start` on the record itself, then extracts. The parent then never
    decodes the page, and pickles the raw payload (bytes) for the child instead of the
    decoded HTML (a string, encoded to UTF-8 on the way and decoded again on arrival):
    measured, 12% less CPU in the parent, whose one interpreter lock every worker
    thread shares. `start` is the same function wherever it runs, so every outcome
    is the one the parent would have computed; a child that is ended or dies before
    answering leaves the parent to triage the record itself (`run_per_document`).
    """

    item: ArchiveRecord
    triage_config: TriageConfig
    source_name: str

    def triaged(self) -> InFlight | Outcome:
        """`start` on the record: in the chain child, or in the parent when the child could not answer."""
        return start(self.item, self.triage_config, self.source_name)


def _rejected(state: InFlight, stage: str, reason: str, detail: str) -> Rejected:
    doc = state.doc
    return Rejected(
        state.identity, stage, reason, detail or "",
        doc.text if state.has_text else None,
        doc.language if state.language_known else None,
        float(doc.language_score) if state.language_known else None,
        dict(state.signals),
    )


def _apply(state: InFlight, step: BoundStep, result: Any, mode: str) -> Outcome | None:
    """Fold one step's result into the document; an outcome when the document leaves here."""
    if isinstance(result, BaseException):
        return failure_of(state.identity, step.name, result)
    state.signals.update(result.signals)
    changes: dict[str, Any] = {}
    if result.language is not None:
        changes.update(language=result.language, language_score=float(result.language_score or 0.0))
        state.language_known = True
    # A rejecting step's edit is kept only when the document goes on (annotate mode), so a
    # filter-mode rejected row shows the text the step rejected.
    if result.text is not None and (result.reason is None or mode == ANNOTATE):
        changes.update(text=result.text, is_html=False)
    if changes:
        state.doc = dataclasses.replace(state.doc, **changes)
    if result.reason is None:
        if step.name == STAGE_EXTRACT:
            state.has_text = True
        return None
    if mode == FILTER or not state.has_text:
        return _rejected(state, step.name, result.reason, result.detail)
    if state.verdict is None:
        state.verdict = (step.name, result.reason, result.detail)
    return None


def _finish(state: InFlight) -> Outcome:
    if state.verdict is not None:
        return _rejected(state, *state.verdict)
    doc = state.doc
    return Kept(state.identity, doc.text, doc.language, float(doc.language_score), dict(state.signals))


def run_batch(
    items: Sequence[Item],
    steps: Sequence[BoundStep],
    triage_config: TriageConfig | None = None,
    mode: str = FILTER,
    source_name: str = "",
) -> list[Outcome]:
    """Every record's outcome, in input order. Steps see the surviving documents as one batch."""
    if mode not in MODES:
        raise ValueError(f"unknown curation mode {mode!r}; expected one of {MODES}")
    config = triage_config or TriageConfig()
    groups = _step_groups(steps)
    # Per run of per-document steps, `chain_lengths` once per batch, not per document (None: a batch step).
    chains = [None if group[0].spec.batch else chain_lengths(group) for group in groups]
    defer = bool(chains) and chains[0] is not None and chains[0][0] > 1  # the first run starts with a chain
    slots: list[InFlight | Untriaged | Outcome] = [
        Untriaged(item, config, source_name) if defer and isinstance(item, ArchiveRecord) else start(item, config, source_name)
        for item in items
    ]
    for group, chained in zip(groups, chains):
        active = [
            i for i, s in enumerate(slots)
            if isinstance(s, Untriaged) or (isinstance(s, InFlight) and (mode == ANNOTATE or s.verdict is None))
        ]
        if not active:
            break
        if group[0].spec.batch:
            (step,) = group
            results = step.run([slots[i].doc for i in active])  # type: ignore[union-attr]
            for i, result in zip(active, results):
                ended = _apply(slots[i], step, result, mode)  # type: ignore[arg-type]
                if ended is not None:
                    slots[i] = ended
            continue
        for i in active:
            slots[i] = run_per_document(slots[i], group, mode, chained)  # type: ignore[arg-type]
    return [_finish(s) if isinstance(s, InFlight) else s for s in slots]


def _step_groups(steps: Sequence[BoundStep]) -> list[list[BoundStep]]:
    """Each batch step alone; consecutive per-document steps together.

    A document goes through a run of per-document steps before the next
    document starts, so the words and lines one filter splits are still in
    the small per-text caches of `filters.text_units` when the next filter
    asks for them (step after step over the whole batch would evict them).
    """
    groups: list[list[BoundStep]] = []
    for step in steps:
        if step.spec.batch or not groups or groups[-1][0].spec.batch:
            groups.append([step])
        else:
            groups[-1].append(step)
    return groups


def run_per_document(
    state: InFlight | Untriaged, group: Sequence[BoundStep], mode: str, chained: Sequence[int] | None = None
) -> InFlight | Outcome:
    """One document through a run of per-document steps: the document, or its outcome when it leaves.

    A step offering `run_chain` (extraction with a chain, document_chain.py)
    takes the document through itself and the chained steps after it in its
    child process, which runs this same function on the same steps; an
    `Untriaged` record (only ever handed over with such a step first: `run_batch`)
    is triaged there first.
    `chained`: `chain_lengths(group)`, when the caller has it already.
    """
    chained = chain_lengths(group) if chained is None else chained
    position = 0
    while position < len(group):
        step, length = group[position], chained[position]
        if length > 1:
            reply = step.fn.run_chain(state, mode, length)
            if isinstance(reply, InFlight):
                state = reply
                position += length
                continue
            if not isinstance(reply, Rejection):
                return reply  # the document's outcome
            if isinstance(state, Untriaged):
                # The child was ended or died before answering: triage here, as without a chain.
                # A record that triage rejects never reached an extraction, so its outcome is triage's.
                state = state.triaged()
                if not isinstance(state, InFlight):
                    return state
            # The child was ended or died: the extraction's own Rejection, applied as if the step had answered it.
            ended = _apply(state, step, StepResult({}, reason=reply.reason, detail=reply.detail), mode)
        else:
            ended = _apply(state, step, step.run_one(state.doc), mode)
        if ended is not None:
            return ended
        position += 1
    return state


def chain_lengths(group: Sequence[BoundStep]) -> list[int]:
    """For each step of `group`, how many steps from it on its child runs (0 or 1: none): those that
    are its chained recipe steps, in order (a caller may have built a chain and run fewer or other steps)."""
    lengths = []
    for position, step in enumerate(group):
        length = 0
        for bound, recipe_step in zip(group[position:], getattr(step.fn, "chained", ())):
            if bound.name != recipe_step.name or bound.config != recipe_step.config:
                break
            length += 1
        lengths.append(length)
    return lengths


def run_record(item: Item, steps: Sequence[BoundStep], triage_config: TriageConfig | None = None, mode: str = FILTER, source_name: str = "") -> Outcome:
    """One record's outcome (a batch of one)."""
    return run_batch([item], steps, triage_config, mode, source_name)[0]


# --- outcomes as table rows (the columns of schemas.document/rejected/error_schema)

KEPT_TABLE = "kept"
REJECTED_TABLE = "rejected"
ERRORS_TABLE = "errors"


def table_of(outcome: Outcome) -> str:
    if isinstance(outcome, Kept):
        return KEPT_TABLE
    return REJECTED_TABLE if isinstance(outcome, Rejected) else ERRORS_TABLE


def counter_name(outcome: Outcome) -> str:
    """The counter an outcome increments: kept, rejected.<stage>.<reason>, errors.<stage>."""
    if isinstance(outcome, Kept):
        return "kept"
    if isinstance(outcome, Rejected):
        return f"rejected.{outcome.stage}.{outcome.reason}"
    return f"errors.{outcome.stage}"


def outcome_row(outcome: Outcome, signal_names: Sequence[str], keep_rejected_text: bool = True) -> dict[str, Any]:
    """The Parquet row of an outcome; every signal column is present (None when not computed)."""
    if isinstance(outcome, Failed):
        identity = outcome.identity
        return {
            "id": identity["id"], "url": identity.get("url"), "warc_record_id": identity.get("warc_record_id"),
            "source": identity.get("source"), "source_name": identity.get("source_name"), "stage": outcome.stage,
            "error_type": outcome.error_type, "error_message": outcome.message, "traceback": outcome.traceback,
        }
    row = dict(outcome.identity)
    if isinstance(outcome, Rejected):
        row.update(stage=outcome.stage, reason=outcome.reason, detail=outcome.detail)
        row["text"] = outcome.text if keep_rejected_text else None
    else:
        row["text"] = outcome.text
    row["language"] = outcome.language
    row["language_score"] = outcome.language_score
    row.update({name: outcome.signals.get(name) for name in signal_names})
    return row
