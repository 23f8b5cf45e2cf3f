"""The small types every curation step shares: one step protocol.

A step is built once per worker from its frozen config (`StepSpec.build`) and
then called per document, or per batch of documents when `StepSpec.batch` is
set (models score many documents at once). It returns its signals (the numbers
its rules compare) and a verdict: `reason is None` keeps the document,
otherwise `reason` is one of the step's named constants. A step that edits the
text returns the new text; the language step also returns the language.

`StepSpec.decide` re-applies a step's rules to stored signals without
recomputing them (`winnow select`, and `mode: annotate` recipes). `prepare`
builds a shared resource once per pipeline (an n-gram index, say) that the
pipeline hands every worker as a side input; `build` then receives it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

SignalValue = int | float | bool | str | None
# (reason, detail) of a rule that rejects, as returned by `StepSpec.decide`.
Verdict = tuple[str, str]


@dataclass(frozen=True)
class Document:
    """What a step sees of a document."""

    text: str
    url: str = ""
    language: str = ""
    language_score: float = 0.0
    id: str = ""
    source: str = ""  # the input file the document came from
    source_name: str = ""  # the recipe's name for that input (web, books, wiki, ...)
    is_html: bool = False  # the text is HTML that the `extract` step turns into text


@dataclass(frozen=True)
class StepResult:
    """Signals, a verdict (None keeps) and, for editing steps, the replacement text."""

    signals: Mapping[str, SignalValue]
    reason: str | None = None
    text: str | None = None
    detail: str = ""
    # Set only by steps that identify the language (the `language` step).
    language: str | None = None
    language_score: float | None = None

    @property
    def kept(self) -> bool:
        return self.reason is None


def verdict_result(signals: Mapping[str, SignalValue], verdict: Verdict | None, text: str | None = None) -> StepResult:
    """The StepResult of a step whose verdict comes from its `decide` function."""
    if verdict is None:
        return StepResult(signals, text=text)
    reason, detail = verdict
    return StepResult(signals, reason=reason, detail=detail, text=text)


Step = Callable[[Document], StepResult]
BatchStep = Callable[[Sequence[Document]], list[StepResult]]
# Opens a path (local or any Beam filesystem) for binary reading; injected so curation stays Beam-free.
OpenBinary = Callable[[str], BinaryIO]


@dataclass(frozen=True)
class StepSpec:
    """Registry entry: how to configure, build and describe one step.

    `signals` lists `(column, kind)` with kind in {"int", "float", "bool", "str"};
    column names are globally unique (prefixed with the step name) because they
    become Parquet columns. `reasons` lists every reason the step can return.

    - `batch`: `build` returns a `BatchStep` (one result per document, in order).
    - `decide(config, row)`: the step's rules applied to a stored row (its
      signal columns plus `language`/`language_score`); None when the row
      passes. Steps without it cannot be re-decided by `winnow select`.
    - `edits_text`: the step may change the text.
    - `recompute_fields`: config fields that change the signals or the text
      (not only the verdict); `select` refuses a recipe that changes them.
    - `prepare(config, open_binary)`: a picklable resource built once per
      pipeline; when set, `build(config, resource)` receives it.
    """

    name: str
    config_type: type
    build: Callable[..., Step | BatchStep]
    signals: tuple[tuple[str, str], ...]
    reasons: tuple[str, ...]
    description: str = ""
    batch: bool = False
    decide: Callable[[Any, Mapping[str, Any]], Verdict | None] | None = None
    edits_text: bool = False
    recompute_fields: tuple[str, ...] = ()
    prepare: Callable[[Any, OpenBinary], Any] | None = None


@dataclass(frozen=True)
class TextRecord:
    """One record of a non-archive source (JSONL, Parquet, plain text), before any step.

    `position` says where it was in its file ("line 12", "row 7", or "" for a
    whole file), so an error row can name it. `is_html` routes it through
    extraction; plain text skips it.
    """

    text: str
    source: str
    position: str = ""
    id: str = ""  # from the input's id column; empty derives one from source and position
    url: str = ""
    date: str = ""
    is_html: bool = False
    source_name: str = ""
    metadata: str | None = None  # JSON object of the source's extra fields (curation.readers.metadata)
