"""The small types every curation step shares.

A step is built once per worker from its frozen config (`StepSpec.build`) and
then called per document. It returns its signals (the numbers its rules compare)
and a verdict: `reason is None` keeps the document, otherwise `reason` is one of
the step's named constants. A step that edits the text returns the new text.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SignalValue = int | float | bool | str | None


@dataclass(frozen=True)
class Document:
    """What a step sees of a document."""

    text: str
    url: str = ""
    language: str = ""
    language_score: float = 0.0


@dataclass(frozen=True)
class StepResult:
    """Signals, a verdict (None keeps) and, for editing steps, the replacement text."""

    signals: Mapping[str, SignalValue]
    reason: str | None = None
    text: str | None = None
    detail: str = ""

    @property
    def kept(self) -> bool:
        return self.reason is None


Step = Callable[[Document], StepResult]


@dataclass(frozen=True)
class StepSpec:
    """Registry entry: how to configure, build and describe one step.

    `signals` lists `(column, kind)` with kind in {"int", "float", "bool", "str"};
    column names are globally unique (prefixed with the step name) because they
    become Parquet columns. `reasons` lists every reason the step can return.
    """

    name: str
    config_type: type
    build: Callable[[Any], Step]
    signals: tuple[tuple[str, str], ...]
    reasons: tuple[str, ...]
    description: str = ""
