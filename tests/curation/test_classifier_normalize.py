"""The one-line text a fastText classifier trains on and scores."""
from __future__ import annotations

import pytest

from winnow.curation.classifier.normalize import Normalization, normalize_text


def test_every_whitespace_run_becomes_one_space_on_one_line():
    assert normalize_text("  Title\n\nFirst  para.\tTab\r\nlast\u00a0line  ") == "Title First para. Tab last line"


def test_case_and_punctuation_are_kept_by_default_as_dclm_scores():
    assert normalize_text("Hello, World!") == "Hello, World!"
    assert normalize_text("Hello, World!", Normalization(lowercase=True)) == "hello, world!"


def test_max_chars_caps_the_input_before_collapsing():
    assert normalize_text("abcdef ghij", Normalization(max_chars=4)) == "abcd"


def test_lone_surrogates_are_dropped_so_fasttext_accepts_the_text():
    line = normalize_text("ok \ud800 text")
    line.encode("utf-8")
    assert line == "ok  text"


def test_empty_text_is_an_empty_line():
    assert normalize_text(" \n\t ") == ""


def test_settings_round_trip_through_model_json_and_reject_bad_values():
    settings = Normalization(lowercase=True, max_chars=500)
    assert Normalization.from_json(settings.to_json(), "model.json") == settings
    with pytest.raises(ValueError, match="model.json"):
        Normalization.from_json({"lowercase": "yes"}, "model.json")
    with pytest.raises(ValueError, match="model.json"):
        Normalization.from_json({"unknown": 1}, "model.json")
    with pytest.raises(ValueError, match="max_chars"):
        Normalization(max_chars=0)
