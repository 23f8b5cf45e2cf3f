"""Gopher's repetition and quality rules (Rae et al. 2021, appendix A), as two steps.

Defaults are the published numbers, which FineWeb also uses (see REFERENCE.md).
Both steps compute every signal before deciding, so a rejected document still
carries all its numbers and users can re-threshold from the Parquet columns.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from winnow.curation.filters import text_units as tu
from winnow.curation.types import Document, Step, StepResult, StepSpec, Verdict, verdict_result

# ---------------------------------------------------------------------------
# gopher_repetition

GOPHER_TOO_MANY_DUPLICATE_LINES = "gopher_too_many_duplicate_lines"
GOPHER_TOO_MANY_DUPLICATE_PARAGRAPHS = "gopher_too_many_duplicate_paragraphs"
GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_LINES = "gopher_too_much_text_in_duplicate_lines"
GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_PARAGRAPHS = "gopher_too_much_text_in_duplicate_paragraphs"
TOP_NGRAM_SIZES = (2, 3, 4)
DUPLICATE_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)
GOPHER_TOP_NGRAM_TOO_FREQUENT = {n: f"gopher_top_{n}gram_too_frequent" for n in TOP_NGRAM_SIZES}
GOPHER_TOO_MANY_DUPLICATE_NGRAMS = {n: f"gopher_too_many_duplicate_{n}grams" for n in DUPLICATE_NGRAM_SIZES}

REPETITION_REASONS = (
    GOPHER_TOO_MANY_DUPLICATE_LINES,
    GOPHER_TOO_MANY_DUPLICATE_PARAGRAPHS,
    GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_LINES,
    GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_PARAGRAPHS,
    *GOPHER_TOP_NGRAM_TOO_FREQUENT.values(),
    *GOPHER_TOO_MANY_DUPLICATE_NGRAMS.values(),
)

_REP = "gopher_repetition"
REPETITION_SIGNALS: tuple[tuple[str, str], ...] = (
    (f"{_REP}_dup_line_frac", "float"),
    (f"{_REP}_dup_para_frac", "float"),
    (f"{_REP}_dup_line_char_frac", "float"),
    (f"{_REP}_dup_para_char_frac", "float"),
    *((f"{_REP}_top_{n}gram_char_frac", "float") for n in TOP_NGRAM_SIZES),
    *((f"{_REP}_dup_{n}gram_char_frac", "float") for n in DUPLICATE_NGRAM_SIZES),
    (f"{_REP}_ngram_rules_skipped", "bool"),
)


@dataclass(frozen=True)
class GopherRepetitionConfig:
    """Maximum fractions (Gopher / FineWeb numbers); None disables a rule.

    Character fractions of lines and paragraphs are over the characters of the
    text; n-gram fractions are over the characters of its words, counting each
    word once however many repeated n-grams cover it.
    """

    max_dup_line_frac: float | None = 0.3
    max_dup_para_frac: float | None = 0.3
    max_dup_line_char_frac: float | None = 0.2
    max_dup_para_char_frac: float | None = 0.2
    max_top_2gram_char_frac: float | None = 0.20
    max_top_3gram_char_frac: float | None = 0.18
    max_top_4gram_char_frac: float | None = 0.16
    max_dup_5gram_char_frac: float | None = 0.15
    max_dup_6gram_char_frac: float | None = 0.14
    max_dup_7gram_char_frac: float | None = 0.13
    max_dup_8gram_char_frac: float | None = 0.12
    max_dup_9gram_char_frac: float | None = 0.11
    max_dup_10gram_char_frac: float | None = 0.10


def repetition_signals(text: str, language: str = "") -> dict[str, float | bool]:
    """Every gopher_repetition signal of `text` (fractions in [0, 1])."""
    line_list = [line.strip() for line in tu.lines(text)]
    para_list = [p.strip() for p in tu.paragraphs(text)]
    text_chars = len(text)
    dup_lines, dup_line_chars = tu.duplicate_stats(line_list)
    dup_paras, dup_para_chars = tu.duplicate_stats(para_list)
    signals: dict[str, float | bool] = {
        f"{_REP}_dup_line_frac": dup_lines / len(line_list) if line_list else 0.0,
        f"{_REP}_dup_para_frac": dup_paras / len(para_list) if para_list else 0.0,
        f"{_REP}_dup_line_char_frac": dup_line_chars / text_chars if text_chars else 0.0,
        f"{_REP}_dup_para_char_frac": dup_para_chars / text_chars if text_chars else 0.0,
    }
    # N-grams of words mean nothing for scripts without spaces: skip, and say so.
    skipped = tu.is_spaceless(text, language)
    signals[f"{_REP}_ngram_rules_skipped"] = skipped
    word_list = [] if skipped else tu.words(text)
    ids = tu.word_ids(word_list)
    char_lengths = np.fromiter(map(len, word_list), dtype=np.int64, count=len(word_list))
    total = int(char_lengths.sum())
    for n in TOP_NGRAM_SIZES:
        signals[f"{_REP}_top_{n}gram_char_frac"] = tu.top_ngram_char_fraction(ids, char_lengths, n, total)
    duplicated = tu.duplicate_ngram_char_fractions(ids, char_lengths, DUPLICATE_NGRAM_SIZES, total)
    for n in DUPLICATE_NGRAM_SIZES:
        signals[f"{_REP}_dup_{n}gram_char_frac"] = duplicated[n]
    return signals


def _repetition_rules(config: GopherRepetitionConfig) -> tuple[tuple[str, float, str], ...]:
    """(signal, maximum, reason) for every enabled rule, in decision order."""
    candidates = [
        (f"{_REP}_dup_line_frac", config.max_dup_line_frac, GOPHER_TOO_MANY_DUPLICATE_LINES),
        (f"{_REP}_dup_para_frac", config.max_dup_para_frac, GOPHER_TOO_MANY_DUPLICATE_PARAGRAPHS),
        (f"{_REP}_dup_line_char_frac", config.max_dup_line_char_frac, GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_LINES),
        (f"{_REP}_dup_para_char_frac", config.max_dup_para_char_frac, GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_PARAGRAPHS),
    ]
    for n in TOP_NGRAM_SIZES:
        limit = getattr(config, f"max_top_{n}gram_char_frac")
        candidates.append((f"{_REP}_top_{n}gram_char_frac", limit, GOPHER_TOP_NGRAM_TOO_FREQUENT[n]))
    for n in DUPLICATE_NGRAM_SIZES:
        limit = getattr(config, f"max_dup_{n}gram_char_frac")
        candidates.append((f"{_REP}_dup_{n}gram_char_frac", limit, GOPHER_TOO_MANY_DUPLICATE_NGRAMS[n]))
    return tuple((name, limit, reason) for name, limit, reason in candidates if limit is not None)


def decide_repetition(config: GopherRepetitionConfig, signals: Mapping[str, Any]) -> Verdict | None:
    """The first repetition rule whose signal is over its maximum."""
    for name, limit, reason in _repetition_rules(config):
        if signals[name] > limit:
            return reason, f"{name}={signals[name]:.3f} > {limit}"
    return None


def build_repetition(config: GopherRepetitionConfig) -> Step:
    """The gopher_repetition step: all signals, then `decide_repetition`."""
    def step(doc: Document) -> StepResult:
        signals = repetition_signals(doc.text, doc.language)
        return verdict_result(signals, decide_repetition(config, signals))

    return step


# ---------------------------------------------------------------------------
# gopher_quality

GOPHER_BELOW_MIN_WORDS = "gopher_below_min_words"
GOPHER_ABOVE_MAX_WORDS = "gopher_above_max_words"
GOPHER_MEAN_WORD_LENGTH_TOO_SHORT = "gopher_mean_word_length_too_short"
GOPHER_MEAN_WORD_LENGTH_TOO_LONG = "gopher_mean_word_length_too_long"
GOPHER_TOO_MANY_HASHES = "gopher_too_many_hashes"
GOPHER_TOO_MANY_ELLIPSES = "gopher_too_many_ellipses"
GOPHER_TOO_MANY_BULLET_LINES = "gopher_too_many_bullet_lines"
GOPHER_TOO_MANY_ELLIPSIS_LINES = "gopher_too_many_ellipsis_lines"
GOPHER_TOO_FEW_ALPHA_WORDS = "gopher_too_few_alpha_words"
GOPHER_TOO_FEW_STOP_WORDS = "gopher_too_few_stop_words"

QUALITY_REASONS = (
    GOPHER_BELOW_MIN_WORDS,
    GOPHER_ABOVE_MAX_WORDS,
    GOPHER_MEAN_WORD_LENGTH_TOO_SHORT,
    GOPHER_MEAN_WORD_LENGTH_TOO_LONG,
    GOPHER_TOO_MANY_HASHES,
    GOPHER_TOO_MANY_ELLIPSES,
    GOPHER_TOO_MANY_BULLET_LINES,
    GOPHER_TOO_MANY_ELLIPSIS_LINES,
    GOPHER_TOO_FEW_ALPHA_WORDS,
    GOPHER_TOO_FEW_STOP_WORDS,
)

_Q = "gopher_quality"
QUALITY_SIGNALS: tuple[tuple[str, str], ...] = (
    (f"{_Q}_word_count", "int"),  # >= 0
    (f"{_Q}_mean_word_length", "float"),  # >= 0
    (f"{_Q}_hash_word_ratio", "float"),  # >= 0 (may exceed 1)
    (f"{_Q}_ellipsis_word_ratio", "float"),  # >= 0 (may exceed 1)
    (f"{_Q}_bullet_line_ratio", "float"),  # [0, 1]
    (f"{_Q}_ellipsis_line_ratio", "float"),  # [0, 1]
    (f"{_Q}_alpha_word_ratio", "float"),  # [0, 1]
    (f"{_Q}_stop_word_count", "int"),  # >= 0
    (f"{_Q}_word_rules_skipped", "bool"),
    (f"{_Q}_stop_word_rule_skipped", "bool"),
)

GOPHER_STOP_WORDS_EN = ("the", "be", "to", "of", "and", "that", "have", "with")


def _default_stop_words() -> dict[str, tuple[str, ...]]:
    return {"en": GOPHER_STOP_WORDS_EN}


@dataclass(frozen=True)
class GopherQualityConfig:
    """Gopher quality thresholds; None disables a rule.

    `stop_words` maps a language code to its stop-word list; documents in other
    languages skip the stop-word rule. `default_language` is assumed for
    documents without a language label.
    """

    min_words: int | None = 50
    max_words: int | None = 100_000
    min_mean_word_length: float | None = 3.0
    max_mean_word_length: float | None = 10.0
    max_hash_word_ratio: float | None = 0.1
    max_ellipsis_word_ratio: float | None = 0.1
    max_bullet_line_ratio: float | None = 0.9
    max_ellipsis_line_ratio: float | None = 0.3
    min_alpha_word_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: Mapping[str, tuple[str, ...]] = field(default_factory=_default_stop_words)
    default_language: str = "en"


def quality_signals(
    text: str, language: str, stop_words: Mapping[str, frozenset[str]], default_language: str = "en"
) -> dict[str, int | float | bool]:
    """Every gopher_quality signal of `text`; `stop_words` values are lower-case sets."""
    word_list = tu.words(text)
    n_words = len(word_list)
    per_word = max(n_words, 1)
    line_list = tu.lines(text)
    n_lines = max(len(line_list), 1)
    # Most words pass the fast C test isalpha; only the rest need the regex. map() over C
    # methods keeps the per-word loop out of the interpreter (these two were a tenth of all filter time).
    alpha_words = sum(map(str.isalpha, word_list))
    alpha_words += sum(map(tu.has_letter, itertools.filterfalse(str.isalpha, word_list)))
    lang = tu.normalise_language(language) or tu.normalise_language(default_language)
    stops = stop_words.get(lang)
    stop_count = sum(map(stops.__contains__, map(str.lower, word_list))) if stops is not None else 0
    return {
        f"{_Q}_word_count": n_words,
        f"{_Q}_mean_word_length": sum(map(len, word_list)) / n_words if n_words else 0.0,
        f"{_Q}_hash_word_ratio": text.count("#") / per_word,
        f"{_Q}_ellipsis_word_ratio": (text.count("...") + text.count("\u2026")) / per_word,
        f"{_Q}_bullet_line_ratio": sum(1 for line in line_list if line.lstrip().startswith(tu.BULLETS)) / n_lines,
        f"{_Q}_ellipsis_line_ratio": sum(1 for line in line_list if line.rstrip().endswith(tu.ELLIPSES)) / n_lines,
        f"{_Q}_alpha_word_ratio": alpha_words / n_words if n_words else 0.0,
        f"{_Q}_stop_word_count": stop_count,
        f"{_Q}_word_rules_skipped": tu.is_spaceless(text, language),
        f"{_Q}_stop_word_rule_skipped": stops is None,
    }


def _quality_rules(config: GopherQualityConfig) -> list[tuple[str, str, float, str, bool]]:
    """(signal, kind of bound, bound, reason, is a word rule) of every enabled rule, in decision order."""
    rules = [
        (f"{_Q}_word_count", "min", config.min_words, GOPHER_BELOW_MIN_WORDS, True),
        (f"{_Q}_word_count", "max", config.max_words, GOPHER_ABOVE_MAX_WORDS, True),
        (f"{_Q}_mean_word_length", "min", config.min_mean_word_length, GOPHER_MEAN_WORD_LENGTH_TOO_SHORT, True),
        (f"{_Q}_mean_word_length", "max", config.max_mean_word_length, GOPHER_MEAN_WORD_LENGTH_TOO_LONG, True),
        (f"{_Q}_hash_word_ratio", "max", config.max_hash_word_ratio, GOPHER_TOO_MANY_HASHES, True),
        (f"{_Q}_ellipsis_word_ratio", "max", config.max_ellipsis_word_ratio, GOPHER_TOO_MANY_ELLIPSES, True),
        (f"{_Q}_bullet_line_ratio", "max", config.max_bullet_line_ratio, GOPHER_TOO_MANY_BULLET_LINES, False),
        (f"{_Q}_ellipsis_line_ratio", "max", config.max_ellipsis_line_ratio, GOPHER_TOO_MANY_ELLIPSIS_LINES, False),
        (f"{_Q}_alpha_word_ratio", "min", config.min_alpha_word_ratio, GOPHER_TOO_FEW_ALPHA_WORDS, True),
    ]
    return [r for r in rules if r[2] is not None]


def decide_quality(config: GopherQualityConfig, signals: Mapping[str, Any]) -> Verdict | None:
    """Gopher's quality rules in order; word rules are skipped for scripts without spaces."""
    skip_words = signals[f"{_Q}_word_rules_skipped"]
    for name, bound, limit, reason, word_rule in _quality_rules(config):
        if word_rule and skip_words:
            continue
        value = signals[name]
        if (value < limit) if bound == "min" else (value > limit):
            relation = "<" if bound == "min" else ">"
            return reason, f"{name}={value:.3f} {relation} {limit}"
    if (
        config.min_stop_words is not None
        and not skip_words
        and not signals[f"{_Q}_stop_word_rule_skipped"]
        and signals[f"{_Q}_stop_word_count"] < config.min_stop_words
    ):
        return GOPHER_TOO_FEW_STOP_WORDS, f"{signals[f'{_Q}_stop_word_count']} < {config.min_stop_words}"
    return None


def build_quality(config: GopherQualityConfig) -> Step:
    """The gopher_quality step: all signals, then `decide_quality`."""
    stop_words = {
        tu.normalise_language(lang): frozenset(w.lower() for w in words) for lang, words in config.stop_words.items()
    }

    def step(doc: Document) -> StepResult:
        signals = quality_signals(doc.text, doc.language, stop_words, config.default_language)
        return verdict_result(signals, decide_quality(config, signals))

    return step


GOPHER_REPETITION_STEP = StepSpec(
    name="gopher_repetition",
    config_type=GopherRepetitionConfig,
    build=build_repetition,
    signals=REPETITION_SIGNALS,
    reasons=REPETITION_REASONS,
    decide=decide_repetition,
    description="Gopher repetition rules: duplicate lines/paragraphs and repeated n-grams.",
)

GOPHER_QUALITY_STEP = StepSpec(
    name="gopher_quality",
    config_type=GopherQualityConfig,
    build=build_quality,
    signals=QUALITY_SIGNALS,
    reasons=QUALITY_REASONS,
    decide=decide_quality,
    recompute_fields=("stop_words", "default_language"),
    description="Gopher quality rules: word count and length, symbols, bullets, letters, stop words.",
)
