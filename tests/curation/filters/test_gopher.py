"""gopher_repetition and gopher_quality: one document per rejection reason."""
from __future__ import annotations

import pytest

from winnow.curation.filters import gopher
from winnow.curation.filters.gopher import GopherQualityConfig, GopherRepetitionConfig

from .helpers import CLEAN_LINES, CLEAN_TEXT, filler_words, run

REP = "gopher_repetition"
Q = "gopher_quality"


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
    rule = "=" * 400  # symbols only: no words, so no n-gram repeats
    text = CLEAN_TEXT + "\n" + rule + "\n" + rule
    signals = assert_trips_only(REP, text, gopher.GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_LINES, "max_dup_line_char_frac")
    assert signals[f"{REP}_dup_line_char_frac"] == pytest.approx(400 / len(text))


def test_text_in_duplicate_paragraphs():
    # A repeated paragraph repeats its lines too, so the line-character rule
    # (checked first) must be off for the paragraph rule to be the one that fires.
    rule = "=" * 400
    text = "\n\n".join([*CLEAN_LINES, rule, rule])
    signals = assert_trips_only(
        REP,
        text,
        gopher.GOPHER_TOO_MUCH_TEXT_IN_DUPLICATE_PARAGRAPHS,
        "max_dup_para_char_frac",
        max_dup_line_char_frac=None,
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
    total = sum(map(len, words))
    signals = assert_trips_only(REP, " ".join(words), gopher.GOPHER_TOP_NGRAM_TOO_FREQUENT[n], field)
    times = 8 if n > 2 else 10
    assert signals[f"{REP}_top_{n}gram_char_frac"] == pytest.approx(times * sum(map(len, gram)) / total)


# Each n-gram size gets a character fraction between its threshold and the next
# smaller size's, so exactly one rule fires: (n, target fraction, (lo, hi]).
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
    gram = [f"g{w[1:]}" for w in filler_words(n, length=5)]  # distinct from the z-fillers
    gram_chars = sum(map(len, gram))
    n_fillers = round((2 * gram_chars / target - 2 * gram_chars) / 6)
    fillers = filler_words(n_fillers)
    half = n_fillers // 2
    words = gram + fillers[:half] + gram + fillers[half:]
    expected = 2 * gram_chars / sum(map(len, words))
    assert bounds[0] < expected <= bounds[1]
    signals = assert_trips_only(
        REP, " ".join(words), gopher.GOPHER_TOO_MANY_DUPLICATE_NGRAMS[n], f"max_dup_{n}gram_char_frac"
    )
    for m in range(5, 11):
        assert signals[f"{REP}_dup_{m}gram_char_frac"] == pytest.approx(expected if m <= n else 0.0)


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
    text = CLEAN_TEXT + "\n" + " ".join(["#"] * 17)  # 17 hashes, 160 words
    signals = assert_trips_only(Q, text, gopher.GOPHER_TOO_MANY_HASHES, "max_hash_word_ratio")
    assert signals[f"{Q}_hash_word_ratio"] == pytest.approx(17 / 160)


def test_too_many_ellipses():
    text = CLEAN_TEXT + "\nWell " + "... " * 17 + "fine."  # mid-line, so no ellipsis lines
    signals = assert_trips_only(Q, text, gopher.GOPHER_TOO_MANY_ELLIPSES, "max_ellipsis_word_ratio")
    assert signals[f"{Q}_ellipsis_word_ratio"] == pytest.approx(17 / 162)
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
    assert signals[f"{Q}_alpha_word_ratio"] == pytest.approx(160 / 205)


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
