"""fineweb: one document per rejection reason."""
from __future__ import annotations

import pytest

from winnow.curation.filters import fineweb

from .helpers import CLEAN_LINES, CLEAN_TEXT, run


def assert_trips_only(text: str, reason: str, field: str) -> dict:
    result = run("fineweb", text)
    assert result.reason == reason, (result.reason, result.detail)
    relaxed = run("fineweb", text, **{field: None})
    assert relaxed.kept, (relaxed.reason, relaxed.detail)
    return dict(result.signals)


def test_clean_text_is_kept():
    result = run("fineweb", CLEAN_TEXT)
    assert result.kept
    assert result.signals["fineweb_line_punct_ratio"] == 1.0
    # DataTrove counts spaCy tokens, punctuation included: 160 words plus 18 commas and full stops.
    assert result.signals["fineweb_newline_word_ratio"] == pytest.approx(9 / 178)


def test_empty():
    result = run("fineweb", " \n\n \t\n")
    assert result.reason == fineweb.FINEWEB_EMPTY


def test_few_lines_end_in_punctuation():
    # 8 long lines, 1 of them terminated: 1/8 = 0.125 passes, 1/9 = 0.111 fails.
    lines = [line.rstrip(".") for line in CLEAN_LINES[:9]]
    lines[0] += "."
    signals = assert_trips_only("\n".join(lines), fineweb.FINEWEB_FEW_LINES_END_IN_PUNCT, "min_line_punct_ratio")
    assert signals["fineweb_line_punct_ratio"] == pytest.approx(1 / 9)
    assert run("fineweb", "\n".join(lines[:8])).kept


def test_too_many_short_lines():
    # 3 long lines and 7 short ones that each add several words (the newline rule stays quiet).
    short = [f"Chapter {i} has short words." for i in range(7)]
    text = "\n".join([*CLEAN_LINES[:3], *short])
    signals = assert_trips_only(text, fineweb.FINEWEB_TOO_MANY_SHORT_LINES, "max_short_line_ratio")
    assert signals["fineweb_short_line_ratio"] == pytest.approx(0.7)


def test_too_much_text_in_duplicate_lines():
    text = CLEAN_TEXT + "\n" + CLEAN_LINES[0]
    signals = assert_trips_only(text, fineweb.FINEWEB_TOO_MUCH_TEXT_IN_DUPLICATE_LINES, "max_dup_line_char_ratio")
    assert signals["fineweb_dup_line_char_ratio"] == pytest.approx(len(CLEAN_LINES[0]) / (len(text) - 10))


def test_too_many_newlines_per_word():
    # Long terminated lines of few long words: more than 0.3 newlines per word.
    lines = [f"Interdisciplinary {w}-internationalization." for w in ("alpha", "beta", "gamma", "delta", "omega")]
    text = "\n\n".join(lines)
    signals = assert_trips_only(text, fineweb.FINEWEB_TOO_MANY_NEWLINES_PER_WORD, "max_newline_word_ratio")
    # Tokens per line: "Interdisciplinary", the hyphenated word split in three, "." (5 tokens).
    assert signals["fineweb_newline_word_ratio"] == pytest.approx(8 / 25)


def test_terminal_marks_are_datatroves_and_extra_end_marks_adds_more():
    """DataTrove's marks have no closing quote, apostrophe or ellipsis character, and no trailing space."""
    lines = [line[:-1] + "\u201d" for line in CLEAN_LINES]  # every line ends in a closing quote
    text = "\n".join(lines)
    result = run("fineweb", text)
    assert result.reason == fineweb.FINEWEB_FEW_LINES_END_IN_PUNCT
    assert result.signals["fineweb_line_punct_ratio"] == 0.0
    assert run("fineweb", text, extra_end_marks=("\u201d",)).kept
    spaced = "\n".join(line + " " for line in CLEAN_LINES)
    assert run("fineweb", spaced).reason == fineweb.FINEWEB_FEW_LINES_END_IN_PUNCT


def test_line_punct_exclude_zero_spares_pages_without_any_terminated_line():
    text = "\n".join(line[:-1] for line in CLEAN_LINES)
    assert run("fineweb", text).reason == fineweb.FINEWEB_FEW_LINES_END_IN_PUNCT
    assert run("fineweb", text, line_punct_exclude_zero=True).kept
