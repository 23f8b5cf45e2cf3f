"""The built-in recipes carry the published thresholds (REFERENCE.md), field by field."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from winnow.curation.config import config_from_mapping
from winnow.curation.filters import FILTER_STEPS

RECIPES_DIR = Path(__file__).resolve().parents[3] / "recipes"

GOPHER_REPETITION = {
    "max_dup_line_frac": 0.3,
    "max_dup_para_frac": 0.3,
    "max_dup_line_char_frac": 0.2,
    "max_dup_para_char_frac": 0.2,
    "max_top_2gram_char_frac": 0.20,
    "max_top_3gram_char_frac": 0.18,
    "max_top_4gram_char_frac": 0.16,
    "max_dup_5gram_char_frac": 0.15,
    "max_dup_6gram_char_frac": 0.14,
    "max_dup_7gram_char_frac": 0.13,
    "max_dup_8gram_char_frac": 0.12,
    "max_dup_9gram_char_frac": 0.11,
    "max_dup_10gram_char_frac": 0.10,
}
GOPHER_QUALITY = {
    "min_words": 50,
    "max_words": 100_000,
    "min_mean_word_length": 3,
    "max_mean_word_length": 10,
    "max_hash_word_ratio": 0.1,
    "max_ellipsis_word_ratio": 0.1,
    "max_bullet_line_ratio": 0.9,
    "max_ellipsis_line_ratio": 0.3,
    "min_alpha_word_ratio": 0.8,
    "min_stop_words": 2,
}
C4_FINEWEB = {
    "filter_no_terminal_punct": False,
    "min_words_per_line": 3,
    "min_sentences": 5,
    "max_word_length": 1000,
    "max_page_length": None,
    "drop_lorem_ipsum": True,
    "drop_curly_bracket": True,
    "drop_javascript_lines": True,
    "drop_policy_lines": True,
    "remove_citations": True,
}
C4_PAPER = {
    **C4_FINEWEB,
    "filter_no_terminal_punct": True,
    "min_words_per_line": 5,
    "min_sentences": 3,
    "max_page_length": 190_000,
}
FINEWEB = {
    "min_line_punct_ratio": 0.12,
    "short_line_max_chars": 30,
    "max_short_line_ratio": 0.67,
    "max_dup_line_char_ratio": 0.01,
    "max_newline_word_ratio": 0.3,
}
EXPECTED = {
    "fineweb": {
        "url_filter": {"min_soft_word_hits": 2},
        "gopher_repetition": GOPHER_REPETITION,
        "gopher_quality": GOPHER_QUALITY,
        "c4": C4_FINEWEB,
        "fineweb": FINEWEB,
        "pii": {"redact_emails": True, "redact_ipv4": True},
    },
    "c4": {"c4": C4_PAPER},
    "gopher": {"gopher_repetition": GOPHER_REPETITION, "gopher_quality": GOPHER_QUALITY},
}
STEP_ORDER = {
    "fineweb": ["extract", "language", "url_filter", "gopher_repetition", "gopher_quality", "c4", "fineweb", "pii"],
    "c4": ["extract", "language", "c4"],
    "gopher": ["extract", "language", "gopher_repetition", "gopher_quality"],
}
LANGUAGE = {"fineweb": ([["en"], 0.65]), "c4": ([["en"], 0.99]), "gopher": ([["en"], 0.65])}


def load(name: str) -> tuple[dict, list[tuple[str, dict]]]:
    recipe = yaml.safe_load((RECIPES_DIR / f"{name}.yaml").read_text())
    steps = []
    for entry in recipe["steps"]:
        assert isinstance(entry, dict) and len(entry) == 1, entry
        ((step, params),) = entry.items()
        steps.append((step, params or {}))
    return recipe, steps


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_thresholds_are_the_published_numbers(name):
    recipe, steps = load(name)
    assert recipe["name"] == name
    assert recipe["description"].strip()
    assert [step for step, _ in steps] == STEP_ORDER[name]
    configs = {
        step: config_from_mapping(FILTER_STEPS[step].config_type, params, f"recipe {name}, step {step}")
        for step, params in steps
        if step in FILTER_STEPS
    }
    assert set(configs) == set(EXPECTED[name])
    for step, fields in EXPECTED[name].items():
        for field, value in fields.items():
            assert getattr(configs[step], field) == value, f"{name}.{step}.{field}"
        # The published numbers are written out, not left to defaults.
        written = dict(steps)[step]
        assert set(fields) <= set(written), f"{name}.{step} omits {sorted(set(fields) - set(written))}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_extract_and_language(name):
    _, steps = load(name)
    params = dict(steps)
    assert params["extract"]["favor_precision"] is True
    assert params["extract"]["include_comments"] is False
    keep, min_score = LANGUAGE[name]
    assert params["language"]["keep"] == keep
    assert params["language"]["min_score"] == min_score


def test_fineweb_gopher_stop_words():
    _, steps = load("fineweb")
    config = config_from_mapping(FILTER_STEPS["gopher_quality"].config_type, dict(steps)["gopher_quality"], "t")
    assert set(config.stop_words["en"]) == {"the", "be", "to", "of", "and", "that", "have", "with"}


@pytest.mark.parametrize("step", sorted(s for s in FILTER_STEPS if s in dict(load("fineweb")[1])))
def test_config_defaults_match_the_fineweb_recipe(step):
    """Config defaults are the FineWeb numbers, so `step: {}` reproduces FineWeb."""
    _, steps = load("fineweb")
    written = config_from_mapping(FILTER_STEPS[step].config_type, dict(steps)[step], "t")
    default = FILTER_STEPS[step].config_type()
    for field, value in vars(default).items():
        if field == "stop_words":
            assert {k: tuple(v) for k, v in getattr(written, field).items()} == value
        else:
            assert getattr(written, field) == value, field
