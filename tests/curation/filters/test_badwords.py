"""The C4 bad-words page rule over per-language lists the test writes itself (no list ships with Winnow)."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winnow.curation.config import RecipeError, config_from_mapping
from winnow.curation.filters import FILTER_STEPS
from winnow.curation.filters.badwords import C4_BADWORDS, BadWordsConfig, decide, prepare
from winnow.curation.types import Document

SPEC = FILTER_STEPS["c4_badwords"]


def _open(path):
    return open(path, "rb")


@pytest.fixture()
def words_dir(tmp_path):
    d = tmp_path / "lists"
    d.mkdir()
    # Placeholder "bad" words: the rule is about matching, not about any real list.
    (d / "en.txt").write_text("# comment\nzorble\nfoo bar\n\nGrunk\n")
    (d / "de.json").write_text(json.dumps(["quatsch"]))
    (d / "zh.txt").write_text("坏词\n")
    (d / "README.md").write_text("not a list")
    return d


def _step(**kw):
    config = BadWordsConfig(**kw)
    return config, SPEC.build(config, prepare(config, _open))


def test_whole_token_match_only(words_dir):
    _, step = _step(words_dir=str(words_dir))
    hit = step(Document("What a ZORBLE day. Zorble again!", language="en"))
    assert hit.reason == C4_BADWORDS and hit.signals == {"c4_badwords_count": 2, "c4_badwords_checked": True}
    assert "2 listed" in hit.detail
    assert step(Document("zorbles and unzorble are other words", language="en")).kept
    assert step(Document("say foo bar now", language="en")).reason == C4_BADWORDS  # phrases
    assert step(Document("say foo, bar now", language="en")).kept
    assert step(Document("grunk", language="en")).signals["c4_badwords_count"] == 1  # lists are lowercased


def test_per_language_lists_and_unchecked_languages(words_dir):
    _, step = _step(words_dir=str(words_dir))
    assert step(Document("Das ist Quatsch.", language="de")).reason == C4_BADWORDS
    assert step(Document("Das ist zorble.", language="de")).kept  # the English list does not apply to German
    unlisted = step(Document("zorble", language="fr"))
    assert unlisted.kept and unlisted.signals["c4_badwords_checked"] is False
    assert step(Document("zorble", language="")).reason == C4_BADWORDS  # default_language en
    assert step(Document("zorble", language="en-US")).reason == C4_BADWORDS


def test_spaceless_languages_match_substrings(words_dir):
    _, step = _step(words_dir=str(words_dir))
    assert step(Document("这是一个坏词的例子", language="zh")).reason == C4_BADWORDS
    assert step(Document("这是一个好例子", language="zh")).kept


def test_words_file_is_the_fallback_and_languages_filter(tmp_path, words_dir):
    fallback = tmp_path / "all.txt"
    fallback.write_text("blarg\n")
    _, step = _step(words_dir=str(words_dir), words_file=str(fallback), languages=("en",))
    assert step(Document("blarg", language="fr")).reason == C4_BADWORDS
    assert step(Document("quatsch", language="de")).kept  # de was not loaded: fallback applies
    assert step(Document("blarg quatsch", language="de")).signals["c4_badwords_count"] == 1


def test_min_matches_and_decide_agree(words_dir):
    config, step = _step(words_dir=str(words_dir), min_matches=2)
    one = step(Document("zorble", language="en"))
    assert one.kept and decide(config, {**one.signals, "language": "en"}) is None
    two = step(Document("zorble zorble", language="en"))
    assert (two.reason, two.detail) == decide(config, {**two.signals, "language": "en"})


def test_missing_lists_are_clear_errors(tmp_path, words_dir):
    with pytest.raises(RecipeError, match="words_dir"):
        config_from_mapping(BadWordsConfig, {}, "step c4_badwords")
    with pytest.raises(ValueError, match="not found"):
        _step(words_dir=str(tmp_path / "nope"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no word lists"):
        _step(words_dir=str(empty))
    with pytest.raises(ValueError, match=r"'xx'.*xx\.json and .*xx\.txt"):
        _step(words_dir=str(words_dir), languages=("xx",))
    (tmp_path / "blank.txt").write_text("\n# only a comment\n")
    with pytest.raises(ValueError, match="blank.txt: the word list is empty"):
        _step(words_file=str(tmp_path / "blank.txt"))
    (words_dir / "fr.json").write_text('{"not": "a list"}')
    with pytest.raises(ValueError, match="fr.json: expected a JSON array"):
        _step(words_dir=str(words_dir))


def test_remote_dir_needs_languages():
    with pytest.raises(ValueError, match="set 'languages'"):
        _step(words_dir="gs://bucket/lists")


@settings(max_examples=80, deadline=None)
@given(text=st.text(max_size=300), language=st.sampled_from(["", "en", "de", "zh", "ja", "xx"]))
def test_arbitrary_text(tmp_path_factory, text, language):
    d = tmp_path_factory.mktemp("bw")
    (d / "en.txt").write_text("a\n.*\n[\n")  # regex metacharacters must be escaped
    _, step = _step(words_dir=str(d))
    result = step(Document(text, language=language))
    assert set(result.signals) == {c for c, _ in SPEC.signals}
    assert result.signals["c4_badwords_count"] >= 0 and result.reason in (None, C4_BADWORDS)
