"""FineWeb's own quality rules (Penedo et al. 2024), as step `fineweb`.

The rules decide as DataTrove 0.10.1's `FineWebQualityFilter` does: lines are
the non-blank pieces between newlines, unstripped; a line "ends in
punctuation" when it ends with one of DataTrove's terminal marks (Unicode
sentence terminals: no closing quote, apostrophe or ellipsis character);
duplicate-line characters are over the characters that are not newlines;
words are DataTrove's English tokens, punctuation included.

Options (off in the reference recipes): `extra_end_marks` adds endings to the
terminal marks (it changes a signal, so `select` cannot change it);
`line_punct_exclude_zero` (DataTrove's own switch) spares pages where no line
ends in punctuation; `skip_spaceless_scripts` (Winnow's) skips the
newline-per-word rule for scripts written without spaces. The last two are
decision only.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from winnow.curation.filters import reference_units as ru
from winnow.curation.filters import text_units as tu
from winnow.curation.types import Document, Step, StepResult, StepSpec, Verdict, verdict_result

FINEWEB_EMPTY = "fineweb_empty"
FINEWEB_FEW_LINES_END_IN_PUNCT = "fineweb_few_lines_end_in_punct"
FINEWEB_TOO_MANY_SHORT_LINES = "fineweb_too_many_short_lines"
FINEWEB_TOO_MUCH_TEXT_IN_DUPLICATE_LINES = "fineweb_too_much_text_in_duplicate_lines"
FINEWEB_TOO_MANY_NEWLINES_PER_WORD = "fineweb_too_many_newlines_per_word"

REASONS = (
    FINEWEB_EMPTY,
    FINEWEB_FEW_LINES_END_IN_PUNCT,
    FINEWEB_TOO_MANY_SHORT_LINES,
    FINEWEB_TOO_MUCH_TEXT_IN_DUPLICATE_LINES,
    FINEWEB_TOO_MANY_NEWLINES_PER_WORD,
)

SIGNALS: tuple[tuple[str, str], ...] = (
    ("fineweb_line_count", "int"),  # non-blank lines, >= 0
    ("fineweb_line_punct_ratio", "float"),  # [0, 1]
    ("fineweb_short_line_ratio", "float"),  # [0, 1]
    ("fineweb_dup_line_char_ratio", "float"),  # [0, 1]
    ("fineweb_newline_word_ratio", "float"),  # >= 0 (newlines / max(tokens, 1))
    ("fineweb_word_rules_skipped", "bool"),  # the text is in a script written without spaces
)


@dataclass(frozen=True)
class FineWebConfig:
    """FineWeb's published thresholds; None disables a rule."""

    min_line_punct_ratio: float | None = 0.12  # smallest fraction of lines that end in terminal punctuation
    short_line_max_chars: int = 30  # a line of at most this many characters counts as short
    max_short_line_ratio: float | None = 0.67  # largest fraction of short lines
    max_dup_line_char_ratio: float | None = 0.01  # largest fraction of characters in duplicate lines
    max_newline_word_ratio: float | None = 0.3  # most newlines per word
    extra_end_marks: tuple[str, ...] = ()  # endings counted as terminal punctuation besides FineWeb's
    line_punct_exclude_zero: bool = False  # spare pages where no line ends in punctuation (DataTrove's switch)
    skip_spaceless_scripts: bool = False  # skip the newline-per-word rule for scripts written without spaces

    def __post_init__(self) -> None:
        if self.short_line_max_chars < 0:
            raise ValueError(f"short_line_max_chars must be >= 0, got {self.short_line_max_chars}")
        if not all(isinstance(m, str) and m for m in self.extra_end_marks):
            raise ValueError(f"extra_end_marks must be non-empty strings, got {self.extra_end_marks!r}")
        object.__setattr__(self, "extra_end_marks", tuple(self.extra_end_marks))


def fineweb_signals(
    text: str, language: str, short_line_max_chars: int, extra_end_marks: Sequence[str] = ()
) -> tuple[int, dict[str, float | bool]]:
    """(number of non-blank lines, every fineweb signal)."""
    line_list = [line for line in text.split("\n") if line.strip()]
    n_lines = len(line_list)
    per_line = max(n_lines, 1)
    end_marks = ru.TERMINAL_PUNCTUATION + tuple(extra_end_marks)
    if all(len(mark) == 1 for mark in end_marks):
        # One set lookup per line instead of `endswith` trying some 140 marks in turn.
        mark_set = frozenset(end_marks)
        punct = sum(line[-1] in mark_set for line in line_list)
    else:
        punct = sum(1 for line in line_list if line.endswith(end_marks))
    short = sum(1 for line in line_list if len(line) <= short_line_max_chars)
    _, dup_chars = tu.duplicate_stats(line_list)
    # Newlines are not text: FineWeb measures duplicate characters against the rest.
    non_newline_chars = len(text) - text.count("\n")
    n_words = ru.word_count(text) if n_lines else 0
    return n_lines, {
        "fineweb_line_count": n_lines,
        "fineweb_line_punct_ratio": punct / per_line,
        "fineweb_short_line_ratio": short / per_line,
        "fineweb_dup_line_char_ratio": dup_chars / non_newline_chars if non_newline_chars else 0.0,
        "fineweb_newline_word_ratio": text.count("\n") / max(n_words, 1),
        "fineweb_word_rules_skipped": tu.is_spaceless(text, language),
    }


def decide(config: FineWebConfig, s: Mapping[str, Any]) -> Verdict | None:
    """FineWeb's rules in DataTrove's order, on the step's signals."""
    if s["fineweb_line_count"] == 0:
        return FINEWEB_EMPTY, "no non-blank lines"
    value = s["fineweb_line_punct_ratio"]
    if config.min_line_punct_ratio is not None and value < config.min_line_punct_ratio:
        if not (value == 0 and config.line_punct_exclude_zero):
            return FINEWEB_FEW_LINES_END_IN_PUNCT, f"{value:.3f} < {config.min_line_punct_ratio}"
    value = s["fineweb_short_line_ratio"]
    if config.max_short_line_ratio is not None and value > config.max_short_line_ratio:
        return FINEWEB_TOO_MANY_SHORT_LINES, f"{value:.3f} > {config.max_short_line_ratio}"
    value = s["fineweb_dup_line_char_ratio"]
    if config.max_dup_line_char_ratio is not None and value > config.max_dup_line_char_ratio:
        return FINEWEB_TOO_MUCH_TEXT_IN_DUPLICATE_LINES, f"{value:.3f} > {config.max_dup_line_char_ratio}"
    value = s["fineweb_newline_word_ratio"]
    skipped = config.skip_spaceless_scripts and s["fineweb_word_rules_skipped"]
    if config.max_newline_word_ratio is not None and not skipped and value > config.max_newline_word_ratio:
        return FINEWEB_TOO_MANY_NEWLINES_PER_WORD, f"{value:.3f} > {config.max_newline_word_ratio}"
    return None


def build(config: FineWebConfig) -> Step:
    """The fineweb step: all signals, then `decide`."""
    def step(doc: Document) -> StepResult:
        _, signals = fineweb_signals(doc.text, doc.language, config.short_line_max_chars, config.extra_end_marks)
        return verdict_result(signals, decide(config, signals))

    return step


FINEWEB_STEP = StepSpec(
    name="fineweb",
    config_type=FineWebConfig,
    build=build,
    signals=SIGNALS,
    reasons=REASONS,
    decide=decide,
    recompute_fields=("short_line_max_chars", "extra_end_marks"),
    description="FineWeb custom rules: line punctuation, short lines, duplicate-line characters, newlines per word.",
)
