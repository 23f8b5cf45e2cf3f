"""gopher_repetition and gopher_quality: one document per rejection reason."""
from __future__ import annotations

import pytest

from winnow.curation.filters import gopher
from winnow.curation.filters.gopher import GopherQualityConfig, GopherRepetitionConfig

from .helpers import CLEAN_LINES, CLEAN_TEXT, filler_words, run

REP = "gopher_repetition"
Q = "gopher_quality"
# A run of "=" is one token per "=" (spaCy), and DataTrove's top n-grams count symbol tokens:
# the line and paragraph tests turn the n-gram rules off to test their own rule alone.
NO_NGRAM_RULES = {
    **{f"max_top_{n}gram_char_frac": None for n in gopher.TOP_NGRAM_SIZES},
    **{f"max_dup_{n}gram_char_frac": None for n in gopher.DUPLICATE_NGRAM_SIZES},
}
NO_TOP_NGRAM_RULES = {f"max_top_{n}gram_char_frac": None for n in gopher.TOP_NGRAM_SIZES}


def assert_trips_only(step: str, text: str, reason: str, field: str, **extra) -> dict:
    """`text` is rejected for `reason`, and kept once the rule behind it (`field`) is disabled."""
    result = run(step, text, **extra)
    assert result.reason == reason, (result.reason, result.detail)
    relaxed = run(step, text, **{**extra, field: None})
    assert relaxed.kept, (relaxed.reason, relaxed.detail)
    return dict(result.signals)


def test_clean_text_is_kept_by_both_steps():
    assert run(REP, CLEAN_TEXT).kept
    result = run(Q, CLEAN_TEXT)
    assert result.kept
    assert result.signals[f"{Q}_word_count"] == len(CLEAN_TEXT.split())
    assert result.signals[f"{Q}_stop_word_count"] >= 2


# --- gopher_repetition ------------------------------------------------------


def test_duplicate_lines():
    text = CLEAN_TEXT + "\n" + "\n".join(["Yes."] * 6)  # 16 lines, 5 repeats
    signals = assert_trips_only(REP, text, gopher.GOPHER_TOO_MANY_DUPLICATE_LINES, "max_dup_line_frac")
    assert signals[f"{REP}_dup_line_frac"] == pytest.approx(5 / 16)


def test_duplicate_paragraphs():
    text = CLEAN_TEXT + "\n\n" + "\n\n".join(["Yes."] * 5)  # 6 paragraphs, 4 repeats; 15 lines, 4 repeats
    signals = assert_trips_only(REP, text, gopher.GOPHER_TOO_MANY_DUPLICATE_PARAGRAPHS, "max_dup_para_frac")
    assert signals[f"{REP}_dup_para_frac"] == pytest.approx(4 / 6)
    assert signals[f"{REP}_dup_line_frac"] == pytest.approx(4 / 15)


def test_text_in_duplicate_lines():
    rule = "=" * 400
    text = CLEAN_TEXT + "\n" + rule + "\n" + rule
    signals = assert_trips_only(
        REP, text, gopher.GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_LINES, "max_dup_line_char_frac", **NO_NGRAM_RULES
    )
    assert signals[f"{REP}_dup_line_char_frac"] == pytest.approx(400 / len(text))


def test_text_in_duplicate_paragraphs():
    # Paragraph rules come first (DataTrove's order); a repeated paragraph repeats its
    # lines too, so the line-character rule is off for the relaxed run to keep the text.
    rule = "=" * 400
    text = "\n\n".join([*CLEAN_LINES, rule, rule])
    signals = assert_trips_only(
        REP,
        text,
        gopher.GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_PARAGRAPHS,
        "max_dup_para_char_frac",
        max_dup_line_char_frac=None,
        **NO_NGRAM_RULES,
    )
    assert signals[f"{REP}_dup_para_char_frac"] == pytest.approx(400 / len(text))
    assert signals[f"{REP}_dup_para_frac"] == pytest.approx(1 / 12)


def _interleave(gram: list[str], times: int, fillers: list[str]) -> list[str]:
    """`gram` inserted `times` times, evenly spread between distinct filler words."""
    chunk = len(fillers) // times
    out: list[str] = []
    for i in range(times):
        out.extend(fillers[i * chunk : (i + 1) * chunk])
        out.extend(gram)
    out.extend(fillers[times * chunk :])
    return out


@pytest.mark.parametrize(
    "n, gram, field",
    [
        (2, ["extraordinarily", "comprehensive"], "max_top_2gram_char_frac"),
        # Long-short-long: the 3-gram covers twice the characters of any of its 2-grams.
        (3, ["abcdefghij", "x", "klmnopqrst"], "max_top_3gram_char_frac"),
        (4, ["abcdefghij", "x", "y", "klmnopqrst"], "max_top_4gram_char_frac"),
    ],
)
def test_top_ngram(n, gram, field):
    words = _interleave(gram, 8 if n > 2 else 10, filler_words(100))
    text = " ".join(words)
    signals = assert_trips_only(REP, text, gopher.GOPHER_TOP_NGRAM_TOO_FREQUENT[n], field)
    times = 8 if n > 2 else 10
    # DataTrove: the n-gram's words joined by spaces, times its count, over the whole text.
    expected = times * (sum(map(len, gram)) + n - 1) / len(text)
    assert signals[f"{REP}_top_{n}gram_char_frac"] == pytest.approx(expected)


def test_top_ngram_counts_a_single_occurrence():
    """With no repeated 2-gram, the first 2-gram still counts once (Counter.most_common)."""
    text = "Extraordinarily comprehensive documentation"
    signals = run(REP, text).signals
    assert signals[f"{REP}_top_2gram_char_frac"] == pytest.approx(len("Extraordinarily comprehensive") / len(text))


# Each n-gram size gets a character fraction between its threshold and the next
# smaller size's, so exactly one duplicate-n-gram rule fires: (n, target fraction, (lo, hi]).
DUP_CASES = [
    (5, 0.17, (0.15, 0.20)),
    (6, 0.145, (0.14, 0.15)),
    (7, 0.135, (0.13, 0.14)),
    (8, 0.125, (0.12, 0.13)),
    (9, 0.115, (0.11, 0.12)),
    (10, 0.105, (0.10, 0.11)),
]


@pytest.mark.parametrize("n, target, bounds", DUP_CASES)
def test_duplicate_ngrams(n, target, bounds):
    # An n-gram of 5-letter words, twice, between distinct 6-letter fillers. DataTrove counts the
    # repeat only (not the first occurrence), its words joined without spaces, over the whole text.
    gram = [f"g{w[1:]}" for w in filler_words(n, length=5)]  # distinct from the z-fillers
    gram_chars = sum(map(len, gram))
    n_fillers = round((gram_chars / target - 2 * gram_chars - 2 * n + 1) / 7)
    fillers = filler_words(n_fillers)
    half = n_fillers // 2
    text = " ".join(gram + fillers[:half] + gram + fillers[half:])
    assert bounds[0] < gram_chars / len(text) <= bounds[1]
    # Two occurrences make the top 3-gram fraction at least 1.2 times the 5-gram one: top rules off.
    signals = assert_trips_only(
        REP, text, gopher.GOPHER_TOO_MANY_DUPLICATE_NGRAMS[n], f"max_dup_{n}gram_char_frac", **NO_TOP_NGRAM_RULES
    )
    for m in range(5, 11):
        # The greedy scan finds the repeat's first m-gram, jumps m words, and repeats while m-grams fit.
        expected = (n // m) * m * 5 / len(text) if m <= n else 0.0
        assert signals[f"{REP}_dup_{m}gram_char_frac"] == pytest.approx(expected), m


def test_duplicate_ngrams_join_words_without_spaces():
    """find_all_duplicate joins an n-gram's words with no separator: "ab c" repeats "a bc"."""
    first = "aa bb cc dd eeee"
    second = "a abb cc dd eeee"  # the same 5-gram once the spaces are gone
    text = " ".join([first, "filler words in between these two runs", second])
    signals = run(REP, text).signals
    assert signals[f"{REP}_dup_5gram_char_frac"] == pytest.approx(len(second.replace(" ", "")) / len(text))


def test_repetition_signals_present_when_rejected():
    text = CLEAN_TEXT + "\n" + "\n".join(["Yes."] * 6)
    result = run(REP, text)
    assert not result.kept
    assert set(result.signals) == {name for name, _ in gopher.REPETITION_SIGNALS}


# --- gopher_quality ---------------------------------------------------------


def test_below_min_words():
    signals = assert_trips_only(Q, "The cat sat with the dog and ate.", gopher.GOPHER_BELOW_MIN_WORDS, "min_words")
    assert signals[f"{Q}_word_count"] == 8


def test_above_max_words():
    copies = 100_000 // len(CLEAN_TEXT.split()) + 1
    text = "\n".join([CLEAN_TEXT] * copies)
    signals = assert_trips_only(Q, text, gopher.GOPHER_ABOVE_MAX_WORDS, "max_words")
    assert signals[f"{Q}_word_count"] == copies * len(CLEAN_TEXT.split()) > 100_000


def test_mean_word_length_too_short():
    text = "It is a day to be at the sea and so on. " * 5  # 12 words of 27 letters per sentence
    signals = assert_trips_only(Q, text, gopher.GOPHER_MEAN_WORD_LENGTH_TOO_SHORT, "min_mean_word_length")
    assert signals[f"{Q}_mean_word_length"] == pytest.approx(27 / 12)


def test_mean_word_length_too_long():
    sentence = (
        "The internationalization of telecommunications infrastructure and "
        "extraordinarily comprehensive documentation. "
    )
    signals = assert_trips_only(Q, sentence * 6, gopher.GOPHER_MEAN_WORD_LENGTH_TOO_LONG, "max_mean_word_length")
    assert signals[f"{Q}_mean_word_length"] == pytest.approx(101 / 9)


def test_too_many_hashes():
    # DataTrove divides by every token: CLEAN_TEXT's 160 words and 18 punctuation marks, and the 22 hashes.
    text = CLEAN_TEXT + "\n" + " ".join(["#"] * 22)
    signals = assert_trips_only(Q, text, gopher.GOPHER_TOO_MANY_HASHES, "max_hash_word_ratio")
    assert signals[f"{Q}_token_count"] == 200
    assert signals[f"{Q}_word_count"] == 160  # pure-symbol tokens are not words for the count
    assert signals[f"{Q}_hash_word_ratio"] == pytest.approx(22 / 200)


def test_too_many_ellipses():
    text = CLEAN_TEXT + "\nWell " + "... " * 21 + "fine."  # mid-line, so no ellipsis lines
    signals = assert_trips_only(Q, text, gopher.GOPHER_TOO_MANY_ELLIPSES, "max_ellipsis_word_ratio")
    # 178 tokens of CLEAN_TEXT, "Well", 21 "...", "fine", ".".
    assert signals[f"{Q}_token_count"] == 202
    assert signals[f"{Q}_ellipsis_word_ratio"] == pytest.approx(21 / 202)
    assert signals[f"{Q}_ellipsis_line_ratio"] == 0.0


def test_too_many_bullet_lines():
    text = "\n".join("\u2022 " + line for line in CLEAN_LINES)
    signals = assert_trips_only(Q, text, gopher.GOPHER_TOO_MANY_BULLET_LINES, "max_bullet_line_ratio")
    assert signals[f"{Q}_bullet_line_ratio"] == 1.0


def test_too_many_ellipsis_lines():
    lines = [line[:-1] + "..." if i < 4 else line for i, line in enumerate(CLEAN_LINES)]
    signals = assert_trips_only(Q, "\n".join(lines), gopher.GOPHER_TOO_MANY_ELLIPSIS_LINES, "max_ellipsis_line_ratio")
    assert signals[f"{Q}_ellipsis_line_ratio"] == pytest.approx(0.4)


def test_too_few_alpha_words():
    text = CLEAN_TEXT + "\n" + " ".join(str(1000 + i) for i in range(45)) + "."
    signals = assert_trips_only(Q, text, gopher.GOPHER_TOO_FEW_ALPHA_WORDS, "min_alpha_word_ratio")
    # DataTrove counts punctuation tokens in the denominator: 160 words with letters of 178 + 45 + 1 tokens.
    assert signals[f"{Q}_alpha_word_ratio"] == pytest.approx(160 / 224)
    # The Gopher paper's reading (alpha_ratio_over: words) sees only the 45 numbers as letterless words.
    assert signals[f"{Q}_alpha_nonsymbol_word_ratio"] == pytest.approx(160 / 205)
    assert run(Q, text, alpha_ratio_over="words").reason == gopher.GOPHER_TOO_FEW_ALPHA_WORDS


def test_alpha_ratio_over_words_spares_punctuation_heavy_prose():
    text = CLEAN_TEXT + "\n" + " , ".join(["yes"] * 30) + "."
    assert run(Q, text).reason == gopher.GOPHER_TOO_FEW_ALPHA_WORDS
    assert run(Q, text, alpha_ratio_over="words").kept


NO_STOP_WORDS = (
    "Quiet rivers run past green hills. Farmers grow wheat, barley, oats. "
    "Bright lanterns glow above narrow streets. Children laugh while dogs chase pigeons. "
    "Old sailors mend nets beside wooden boats. Bakers sell warm loaves every morning. "
    "Tourists photograph ancient towers near this harbour. Musicians play lively tunes during festivals. "
    "Gardeners plant roses along stone walls. Students read novels inside busy libraries. "
    "Cyclists climb steep roads toward mountain villages. Painters capture golden light over calm lakes."
)


def test_too_few_stop_words():
    signals = assert_trips_only(Q, NO_STOP_WORDS, gopher.GOPHER_TOO_FEW_STOP_WORDS, "min_stop_words")
    assert signals[f"{Q}_stop_word_count"] == 0
    assert signals[f"{Q}_word_count"] >= 50


def test_stop_word_rule_uses_the_document_language():
    german = run(Q, NO_STOP_WORDS, language="de")
    assert german.kept
    assert german.signals[f"{Q}_stop_word_rule_skipped"] is True
    custom = run(Q, NO_STOP_WORDS, language="de", stop_words={"de": ("rivers", "hills")})
    assert custom.signals[f"{Q}_stop_word_rule_skipped"] is False
    assert custom.signals[f"{Q}_stop_word_count"] == 2
    assert custom.kept


def test_quality_config_defaults_are_the_published_numbers():
    config = GopherQualityConfig()
    assert (config.min_words, config.max_words) == (50, 100_000)
    assert set(config.stop_words["en"]) == {"the", "be", "to", "of", "and", "that", "have", "with"}
    assert GopherRepetitionConfig().max_dup_10gram_char_frac == 0.10


def test_split_lines_is_the_newline_run_split():
    import random
    import re

    from winnow.curation.filters import gopher

    rng = random.Random(4)
    samples = ["", "\n", "\n\n", "a", "a\n", "\na", "a\n\n\nb", "\n\na\n\nb\n\n"]
    samples += ["".join(rng.choice("ab\n ") for _ in range(rng.randint(0, 12))) for _ in range(500)]
    for text in samples:
        assert gopher.split_lines(text) == re.split(r"\n+", text), repr(text)
