"""Gopher's repetition and quality rules (Rae et al. 2021, appendix A), as two steps.

Every rule decides as DataTrove 0.10.1's `GopherRepetitionFilter` and
`GopherQualityFilter` do (the code that produced FineWeb), and every signal
holds the number DataTrove compares with its threshold: words are spaCy's
English tokens, punctuation tokens included (`reference_units`). Defaults are
the published thresholds. Deliberate differences are named options, off by
default and in the built-in recipes; docs/filters.md lists them.

Both steps compute every signal before deciding, so a rejected document still
carries all its numbers and users can re-threshold from the Parquet columns.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from winnow.curation.filters import ngrams
from winnow.curation.filters import reference_units as ru
from winnow.curation.filters import text_units as tu
from winnow.curation.types import Document, Step, StepResult, StepSpec, Verdict, verdict_result

# ---------------------------------------------------------------------------
# gopher_repetition

GOPHER_EMPTY = "gopher_empty"
GOPHER_TOO_MANY_DUPLICATE_LINES = "gopher_too_many_duplicate_lines"
GOPHER_TOO_MANY_DUPLICATE_PARAGRAPHS = "gopher_too_many_duplicate_paragraphs"
GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_LINES = "gopher_too_much_text_in_duplicate_lines"
GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_PARAGRAPHS = "gopher_too_much_text_in_duplicate_paragraphs"
TOP_NGRAM_SIZES = (2, 3, 4)
DUPLICATE_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)
GOPHER_TOP_NGRAM_TOO_FREQUENT = {n: f"gopher_top_{n}gram_too_frequent" for n in TOP_NGRAM_SIZES}
GOPHER_TOO_MANY_DUPLICATE_NGRAMS = {n: f"gopher_too_many_duplicate_{n}grams" for n in DUPLICATE_NGRAM_SIZES}

REPETITION_REASONS = (
    GOPHER_EMPTY,
    GOPHER_TOO_MANY_DUPLICATE_LINES,
    GOPHER_TOO_MANY_DUPLICATE_PARAGRAPHS,
    GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_LINES,
    GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_PARAGRAPHS,
    *GOPHER_TOP_NGRAM_TOO_FREQUENT.values(),
    *GOPHER_TOO_MANY_DUPLICATE_NGRAMS.values(),
)

_REP = "gopher_repetition"
REPETITION_SIGNALS: tuple[tuple[str, str], ...] = (
    (f"{_REP}_text_chars", "int"),  # len(text): the denominator of every character fraction
    (f"{_REP}_dup_para_frac", "float"),
    (f"{_REP}_dup_para_char_frac", "float"),
    (f"{_REP}_dup_line_frac", "float"),
    (f"{_REP}_dup_line_char_frac", "float"),
    *((f"{_REP}_top_{n}gram_char_frac", "float") for n in TOP_NGRAM_SIZES),
    *((f"{_REP}_dup_{n}gram_char_frac", "float") for n in DUPLICATE_NGRAM_SIZES),
    (f"{_REP}_ngram_rules_skipped", "bool"),  # the text is in a script written without spaces
)

_PARAGRAPH_SPLIT_RE = re.compile(r"\n{2,}")


def split_lines(text: str) -> list[str]:
    """The pieces of `text` between runs of newlines, as `re.split(r"\n+", text)` gives them
    (an empty first or last piece kept), from one `str.split`: no regex scan."""
    parts = text.split("\n")
    if len(parts) < 3:
        return parts
    return [parts[0], *filter(None, parts[1:-1]), parts[-1]]


@dataclass(frozen=True)
class GopherRepetitionConfig:
    """Maximum fractions (Gopher / FineWeb numbers); None disables a rule.

    As in DataTrove, every character fraction is over the length of the whole
    text: duplicate lines and paragraphs count the characters of their repeats;
    a top n-gram counts its characters (words joined by spaces) times its count,
    even when it occurs once; duplicate n-grams count the characters of repeated
    n-grams found by a greedy left-to-right scan. Lines are the pieces between
    runs of newlines, whitespace-only ones included; paragraphs the pieces
    between runs of two or more newlines, unstripped.

    `skip_spaceless_scripts` (Winnow's option, off in the reference recipes):
    skip the n-gram rules for text in scripts written without spaces, where
    English tokens mean little. Decision only: the signals are stored either way.
    """

    max_dup_line_frac: float | None = 0.3  # largest fraction of lines that repeat another line
    max_dup_para_frac: float | None = 0.3  # largest fraction of paragraphs that repeat another paragraph
    max_dup_line_char_frac: float | None = 0.2  # largest fraction of characters in repeated lines
    max_dup_para_char_frac: float | None = 0.2  # largest fraction of characters in repeated paragraphs
    max_top_2gram_char_frac: float | None = 0.20  # largest fraction of characters in the most frequent 2-gram
    max_top_3gram_char_frac: float | None = 0.18  # largest fraction of characters in the most frequent 3-gram
    max_top_4gram_char_frac: float | None = 0.16  # largest fraction of characters in the most frequent 4-gram
    max_dup_5gram_char_frac: float | None = 0.15  # largest fraction of characters in repeated 5-grams
    max_dup_6gram_char_frac: float | None = 0.14  # largest fraction of characters in repeated 6-grams
    max_dup_7gram_char_frac: float | None = 0.13  # largest fraction of characters in repeated 7-grams
    max_dup_8gram_char_frac: float | None = 0.12  # largest fraction of characters in repeated 8-grams
    max_dup_9gram_char_frac: float | None = 0.11  # largest fraction of characters in repeated 9-grams
    max_dup_10gram_char_frac: float | None = 0.10  # largest fraction of characters in repeated 10-grams
    skip_spaceless_scripts: bool = False


def repetition_signals(text: str, language: str = "") -> dict[str, float | bool | int]:
    """Every gopher_repetition signal of `text`, as DataTrove computes them."""
    chars = len(text)
    per_char = max(chars, 1)
    paragraphs = _PARAGRAPH_SPLIT_RE.split(text.strip())
    dup_paras, dup_para_chars = tu.duplicate_stats(paragraphs)
    line_list = split_lines(text)
    dup_lines, dup_line_chars = tu.duplicate_stats(line_list)
    signals: dict[str, float | bool | int] = {
        f"{_REP}_text_chars": chars,
        f"{_REP}_dup_para_frac": dup_paras / len(paragraphs),
        f"{_REP}_dup_para_char_frac": dup_para_chars / per_char,
        f"{_REP}_dup_line_frac": dup_lines / len(line_list),
        f"{_REP}_dup_line_char_frac": dup_line_chars / per_char,
    }
    word_list = ngrams.words_of(ru.text_words(text).spaced if text else "")
    top = ngrams.top_ngram_chars_by_size(word_list, TOP_NGRAM_SIZES)
    for n in TOP_NGRAM_SIZES:
        signals[f"{_REP}_top_{n}gram_char_frac"] = top[n] / per_char
    duplicated = ngrams.duplicate_ngram_chars(word_list, DUPLICATE_NGRAM_SIZES)
    for n in DUPLICATE_NGRAM_SIZES:
        signals[f"{_REP}_dup_{n}gram_char_frac"] = duplicated[n] / per_char
    signals[f"{_REP}_ngram_rules_skipped"] = tu.is_spaceless(text, language)
    return signals


def _repetition_rules(config: GopherRepetitionConfig) -> tuple[tuple[str, float, str, bool], ...]:
    """(signal, maximum, reason, is an n-gram rule) for every enabled rule, in DataTrove's order."""
    candidates = [
        (f"{_REP}_dup_para_frac", config.max_dup_para_frac, GOPHER_TOO_MANY_DUPLICATE_PARAGRAPHS, False),
        (f"{_REP}_dup_para_char_frac", config.max_dup_para_char_frac, GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_PARAGRAPHS, False),
        (f"{_REP}_dup_line_frac", config.max_dup_line_frac, GOPHER_TOO_MANY_DUPLICATE_LINES, False),
        (f"{_REP}_dup_line_char_frac", config.max_dup_line_char_frac, GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_LINES, False),
    ]
    for n in TOP_NGRAM_SIZES:
        limit = getattr(config, f"max_top_{n}gram_char_frac")
        candidates.append((f"{_REP}_top_{n}gram_char_frac", limit, GOPHER_TOP_NGRAM_TOO_FREQUENT[n], True))
    for n in DUPLICATE_NGRAM_SIZES:
        limit = getattr(config, f"max_dup_{n}gram_char_frac")
        candidates.append((f"{_REP}_dup_{n}gram_char_frac", limit, GOPHER_TOO_MANY_DUPLICATE_NGRAMS[n], True))
    # DataTrove skips a rule whose threshold is falsy, so 0 disables it as None does.
    return tuple((name, limit, reason, ngram) for name, limit, reason, ngram in candidates if limit)


def decide_repetition(config: GopherRepetitionConfig, signals: Mapping[str, Any]) -> Verdict | None:
    """The first repetition rule whose signal is over its maximum."""
    if signals[f"{_REP}_text_chars"] == 0:
        return GOPHER_EMPTY, "empty text"
    skip_ngrams = config.skip_spaceless_scripts and signals[f"{_REP}_ngram_rules_skipped"]
    for name, limit, reason, ngram_rule in _repetition_rules(config):
        if ngram_rule and skip_ngrams:
            continue
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
    (f"{_Q}_word_count", "int"),  # tokens that are not pure punctuation, >= 0
    (f"{_Q}_token_count", "int"),  # all tokens, punctuation included: the symbol ratios' denominator
    (f"{_Q}_mean_word_length", "float"),  # of the non-symbol words; NaN without any
    (f"{_Q}_hash_word_ratio", "float"),  # '#' per token, >= 0 (may exceed 1)
    (f"{_Q}_ellipsis_word_ratio", "float"),  # '...' and '\u2026' per token, >= 0 (may exceed 1)
    (f"{_Q}_bullet_line_ratio", "float"),  # [0, 1]
    (f"{_Q}_ellipsis_line_ratio", "float"),  # [0, 1]
    (f"{_Q}_alpha_word_ratio", "float"),  # tokens with a letter / all tokens, [0, 1]
    (f"{_Q}_alpha_nonsymbol_word_ratio", "float"),  # non-symbol words with a letter / non-symbol words
    (f"{_Q}_stop_word_count", "int"),  # distinct stop words present (case-sensitive), >= 0
    (f"{_Q}_word_rules_skipped", "bool"),  # the text is in a script written without spaces
    (f"{_Q}_stop_word_rule_skipped", "bool"),  # no stop-word list for the document's language
)

GOPHER_STOP_WORDS_EN = ("the", "be", "to", "of", "and", "that", "have", "with")
# Lines starting with one of these (after leading whitespace) are bullet lines, as in DataTrove.
GOPHER_BULLETS = ("\u2022", "-")
GOPHER_ELLIPSES = ("...", "\u2026")
# `alpha_ratio_over` settings.
ALPHA_OVER_TOKENS = "tokens"
ALPHA_OVER_WORDS = "words"


def _default_stop_words() -> dict[str, tuple[str, ...]]:
    return {"en": GOPHER_STOP_WORDS_EN}


@dataclass(frozen=True)
class GopherQualityConfig:
    """Gopher quality thresholds; None disables a rule.

    As in DataTrove: the word-count and mean-length rules count tokens that are
    not pure punctuation; the '#' and ellipsis ratios and the letter ratio
    divide by all tokens, punctuation included; lines are `str.splitlines()`,
    blank ones included; a bullet line starts with '\u2022' or '-'; the stop-word
    rule counts distinct stop words, matched case-sensitively.

    `stop_words` maps a language code to its stop-word list; documents in a
    language without a list skip the stop-word rule. `default_language` is
    assumed for documents without a language label.

    Options (Winnow's, off in the reference recipes, decision only):
    `alpha_ratio_over: words` reads the Gopher paper's "80% of words contain an
    alphabetic character" over words that are not pure symbols instead of all
    tokens; `skip_spaceless_scripts` skips the word rules for scripts written
    without spaces.
    """

    min_words: int | None = 50  # fewest words (tokens that are not pure punctuation)
    max_words: int | None = 100_000  # most words
    min_mean_word_length: float | None = 3.0  # shortest mean word length, in characters
    max_mean_word_length: float | None = 10.0  # longest mean word length, in characters
    max_hash_word_ratio: float | None = 0.1  # most '#' symbols per token
    max_ellipsis_word_ratio: float | None = 0.1  # most ellipses per token
    max_bullet_line_ratio: float | None = 0.9  # largest fraction of lines that start with a bullet
    max_ellipsis_line_ratio: float | None = 0.3  # largest fraction of lines that end with an ellipsis
    min_alpha_word_ratio: float | None = 0.8  # smallest fraction of tokens with an alphabetic character
    min_stop_words: int | None = 2  # fewest distinct stop words of the page's language
    stop_words: Mapping[str, tuple[str, ...]] = field(default_factory=_default_stop_words)
    default_language: str = "en"
    alpha_ratio_over: str = ALPHA_OVER_TOKENS  # what min_alpha_word_ratio divides by: tokens (DataTrove) or words
    skip_spaceless_scripts: bool = False

    def __post_init__(self) -> None:
        if self.alpha_ratio_over not in (ALPHA_OVER_TOKENS, ALPHA_OVER_WORDS):
            raise ValueError(f"alpha_ratio_over must be {ALPHA_OVER_TOKENS!r} or {ALPHA_OVER_WORDS!r}, got {self.alpha_ratio_over!r}")


def quality_signals(
    text: str, language: str, stop_words: Mapping[str, frozenset[str]], default_language: str = "en"
) -> dict[str, int | float | bool]:
    """Every gopher_quality signal of `text`; `stop_words` values are sets matched case-sensitively."""
    units = ru.text_words(text)
    n_tokens = units.word_count
    per_token = max(n_tokens, 1)
    n_symbols, n_no_letter, symbol_chars = units.symbol_tokens, units.letterless_words, units.symbol_chars
    n_alpha = n_tokens - n_symbols - n_no_letter
    n_words = n_tokens - n_symbols
    # The words joined by single spaces: their characters are the rest.
    word_chars = len(units.spaced) - max(n_tokens - 1, 0) - symbol_chars
    line_list = text.splitlines()
    per_line = max(len(line_list), 1)
    lang = tu.normalise_language(language) or tu.normalise_language(default_language)
    stops = stop_words.get(lang)
    return {
        f"{_Q}_word_count": n_words,
        f"{_Q}_token_count": n_tokens,
        f"{_Q}_mean_word_length": word_chars / n_words if n_words else float("nan"),
        f"{_Q}_hash_word_ratio": text.count("#") / per_token,
        f"{_Q}_ellipsis_word_ratio": (text.count("...") + text.count("\u2026")) / per_token,
        f"{_Q}_bullet_line_ratio": sum(line.lstrip().startswith(GOPHER_BULLETS) for line in line_list) / per_line,
        f"{_Q}_ellipsis_line_ratio": sum(line.rstrip().endswith(GOPHER_ELLIPSES) for line in line_list) / per_line,
        f"{_Q}_alpha_word_ratio": n_alpha / per_token,
        f"{_Q}_alpha_nonsymbol_word_ratio": n_alpha / n_words if n_words else 0.0,
        f"{_Q}_stop_word_count": units.distinct_present(stops) if stops is not None else 0,
        f"{_Q}_word_rules_skipped": tu.is_spaceless(text, language),
        f"{_Q}_stop_word_rule_skipped": stops is None,
    }


def _quality_rules(config: GopherQualityConfig) -> list[tuple[str, str, float, str, bool]]:
    """(signal, kind of bound, bound, reason, is a word rule) of every enabled rule, in DataTrove's order."""
    alpha = f"{_Q}_alpha_word_ratio" if config.alpha_ratio_over == ALPHA_OVER_TOKENS else f"{_Q}_alpha_nonsymbol_word_ratio"
    rules = [
        (f"{_Q}_word_count", "min", config.min_words, GOPHER_BELOW_MIN_WORDS, True),
        (f"{_Q}_word_count", "max", config.max_words, GOPHER_ABOVE_MAX_WORDS, True),
        (f"{_Q}_mean_word_length", "min", config.min_mean_word_length, GOPHER_MEAN_WORD_LENGTH_TOO_SHORT, True),
        (f"{_Q}_mean_word_length", "max", config.max_mean_word_length, GOPHER_MEAN_WORD_LENGTH_TOO_LONG, True),
        (f"{_Q}_hash_word_ratio", "max", config.max_hash_word_ratio, GOPHER_TOO_MANY_HASHES, True),
        (f"{_Q}_ellipsis_word_ratio", "max", config.max_ellipsis_word_ratio, GOPHER_TOO_MANY_ELLIPSES, True),
        (f"{_Q}_bullet_line_ratio", "max", config.max_bullet_line_ratio, GOPHER_TOO_MANY_BULLET_LINES, False),
        (f"{_Q}_ellipsis_line_ratio", "max", config.max_ellipsis_line_ratio, GOPHER_TOO_MANY_ELLIPSIS_LINES, False),
        (alpha, "min", config.min_alpha_word_ratio, GOPHER_TOO_FEW_ALPHA_WORDS, True),
    ]
    # DataTrove skips a rule whose threshold is falsy, so 0 disables it as None does.
    return [(name, kind, bound, reason, word) for name, kind, bound, reason, word in rules if bound]


def decide_quality(config: GopherQualityConfig, signals: Mapping[str, Any]) -> Verdict | None:
    """Gopher's quality rules in DataTrove's order (a NaN mean word length fails no bound, as in numpy)."""
    skip_words = config.skip_spaceless_scripts and signals[f"{_Q}_word_rules_skipped"]
    for name, bound, limit, reason, word_rule in _quality_rules(config):
        if word_rule and skip_words:
            continue
        value = signals[name]
        if (value < limit) if bound == "min" else (value > limit):
            relation = "<" if bound == "min" else ">"
            return reason, f"{name}={value:.3f} {relation} {limit}"
    if (
        config.min_stop_words
        and not skip_words
        and not signals[f"{_Q}_stop_word_rule_skipped"]
        and signals[f"{_Q}_stop_word_count"] < config.min_stop_words
    ):
        return GOPHER_TOO_FEW_STOP_WORDS, f"{signals[f'{_Q}_stop_word_count']} < {config.min_stop_words}"
    return None


def build_quality(config: GopherQualityConfig) -> Step:
    """The gopher_quality step: all signals, then `decide_quality`."""
    stop_words = {tu.normalise_language(lang): frozenset(words) for lang, words in config.stop_words.items()}

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
