"""Every step on arbitrary text: never raises, declares exactly what it returns, signals in range."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from winnow.curation.filters import FILTER_STEPS
from winnow.curation.types import Document, StepResult



def _default_step(spec):
    """The step with its default config, or None when it needs a resource (an n-gram index,
    a word list, a model) that its own tests build."""
    if spec.prepare is not None:
        return None
    try:
        return spec.build(spec.config_type())
    except (TypeError, ValueError, FileNotFoundError):
        return None


STEPS = {name: step for name, spec in FILTER_STEPS.items() if (step := _default_step(spec)) is not None}
KINDS = {"int": int, "float": float, "bool": bool, "str": str}
# Ratios that are per word rather than shares, so they may exceed 1.
UNBOUNDED = {
    "gopher_quality_hash_word_ratio",
    "gopher_quality_ellipsis_word_ratio",
    "gopher_quality_mean_word_length",
    "fineweb_newline_word_ratio",
    # A top n-gram's characters times its count: overlapping occurrences ("a a a a") exceed the text.
    "gopher_repetition_top_2gram_char_frac",
    "gopher_repetition_top_3gram_char_frac",
    "gopher_repetition_top_4gram_char_frac",
}
# NaN when there is nothing to average (no words that are not pure punctuation), as numpy gives DataTrove.
NAN_WITHOUT_WORDS = {"gopher_quality_mean_word_length"}

any_char = st.characters(exclude_categories=("Cs",))
tricky = st.sampled_from(
    list(" \n\n\t\r.!?\"'#\u2026\u2022-*{}[]1234567890:@/aZ")
    + list("\u00e9\u0301\u4e2d\u6587\u3002\u0e44\u0e17\u0e22\u0915\u093f")
    + ["...", "[1]", "[edit]", "lorem ipsum", "javascript", "cookie policy", "a@example.com", "8.8.8.8", "::1",
       "2001:4860::1", "the ", "of ", "and "]
)
texts = st.one_of(
    st.text(alphabet=any_char, max_size=400),
    st.lists(tricky, max_size=200).map("".join),
    st.text(alphabet=st.sampled_from(" \t\n\r\x0b\x0c\u00a0\u2028\u3000"), max_size=50),
    st.just(""),
)
languages = st.one_of(st.sampled_from(["", "en", "zh", "ja", "th", "de", "en-US", "__label__en"]), st.text(max_size=6))
urls = st.one_of(
    st.just(""), st.text(alphabet=any_char, max_size=60), st.text(max_size=40).map(lambda s: "http://" + s)
)


def check_result(name: str, result: StepResult) -> None:
    spec = FILTER_STEPS[name]
    assert isinstance(result, StepResult)
    assert set(result.signals) == {column for column, _ in spec.signals}, name
    assert result.reason is None or result.reason in spec.reasons, (name, result.reason)
    assert result.text is None or isinstance(result.text, str)
    for column, kind in spec.signals:
        value = result.signals[column]
        if kind == "float":
            assert isinstance(value, (int, float)) and not isinstance(value, bool), column
        else:
            assert type(value) is KINDS[kind], (column, value)
        if column in NAN_WITHOUT_WORDS and result.signals["gopher_quality_word_count"] == 0:
            assert math.isnan(value), (column, value)
        elif kind in ("int", "float"):
            assert math.isfinite(value) and value >= 0, (column, value)
            if kind == "float" and column not in UNBOUNDED:
                assert value <= 1.0, (column, value)


@settings(max_examples=100, deadline=None)
@given(text=texts, language=languages, url=urls)
def test_every_step_accepts_arbitrary_text(text, language, url):
    doc = Document(text, url=url, language=language)
    for name, step in STEPS.items():
        check_result(name, step(doc))


@settings(max_examples=100, deadline=None)
@given(text=texts)
def test_c4_output_is_made_of_input_lines(text):
    result = STEPS["c4"](Document(text))
    if result.kept and result.text is not None:
        assert len(result.text) <= len(text)
        assert result.signals["c4_chars_removed"] == len(text) - len(result.text)


def test_registry_contract():
    columns = [column for spec in FILTER_STEPS.values() for column, _ in spec.signals]
    assert len(columns) == len(set(columns)), "signal columns must be globally unique"
    for name, spec in FILTER_STEPS.items():
        assert spec.name == name
        assert all(column.startswith(name + "_") for column, _ in spec.signals), name
        if name == "decontaminate":  # the issue fixes the reason name `contaminated`
            assert spec.reasons == ("contaminated",)
        else:
            assert all(reason.startswith(name.split("_")[0] + "_") for reason in spec.reasons), name
        assert len(spec.reasons) == len(set(spec.reasons))
        assert all(kind in KINDS for _, kind in spec.signals)
