import textwrap

import pytest

from winnow.curation.config import RecipeError
from winnow.curation.extract import ExtractConfig
from winnow.curation.langid import LanguageConfig
from winnow.curation.recipe import builtin_recipe_names, load_recipe, with_defaults


def write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_builtin_recipes_load():
    names = builtin_recipe_names()
    assert {"extract", "fineweb", "c4", "gopher"} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        assert recipe.name == name
        assert recipe.description
        assert recipe.steps[0].name == "extract"


def test_extract_recipe_keeps_every_language():
    recipe = load_recipe("extract")
    assert recipe.step_names() == ["extract", "language"]
    language = recipe.config_of("language")
    assert language.keep is None and language.min_score == 0.0
    extract = recipe.config_of("extract")
    assert extract.favor_precision is True and extract.include_comments is False


def test_unknown_step_is_named(tmp_path):
    path = write(tmp_path, """
        name: x
        steps:
          - extract: {}
          - gopher_qualty: {}
    """)
    with pytest.raises(RecipeError, match="gopher_qualty"):
        load_recipe(path)


def test_unknown_key_is_named(tmp_path):
    path = write(tmp_path, """
        name: x
        steps:
          - extract: {timeout: 3}
    """)
    with pytest.raises(RecipeError, match=r"step 1 \(extract\).*'timeout'"):
        load_recipe(path)


def test_wrong_type_is_named(tmp_path):
    path = write(tmp_path, """
        name: x
        steps:
          - language: {min_score: "high"}
    """)
    with pytest.raises(RecipeError, match="min_score"):
        load_recipe(path)


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, """
        name: x
        stpes: []
    """)
    with pytest.raises(RecipeError, match="stpes"):
        load_recipe(path)


def test_extract_must_come_first(tmp_path):
    path = write(tmp_path, """
        name: x
        steps:
          - language: {}
          - extract: {}
    """)
    with pytest.raises(RecipeError, match="first"):
        load_recipe(path)


def test_duplicate_step(tmp_path):
    path = write(tmp_path, """
        name: x
        steps: [extract, extract]
    """)
    with pytest.raises(RecipeError, match="twice"):
        load_recipe(path)


def test_missing_recipe():
    with pytest.raises(RecipeError, match="unknown recipe"):
        load_recipe("no-such-recipe")
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe("missing.yaml")


def test_defaults_fill_extract_and_language(tmp_path):
    path = write(tmp_path, """
        name: bare
        steps:
          - pii: {}
    """)
    steps = with_defaults(load_recipe(path))
    assert [s.name for s in steps] == ["extract", "language", "pii"]
    assert steps[0].config == ExtractConfig()
    assert steps[1].config == LanguageConfig()


def test_fingerprint_changes_with_a_setting(tmp_path):
    a = load_recipe(write(tmp_path, "name: a\nsteps:\n  - extract: {timeout_s: 1.0}\n"))
    b = load_recipe(write(tmp_path, "name: a\nsteps:\n  - extract: {timeout_s: 2.0}\n"))
    assert a.curation_fingerprint() != b.curation_fingerprint()


def test_typos_name_the_nearest_step_key_and_section(tmp_path):
    cases = {
        "steps:\n  - gopher_qualty: {}\n": "unknown step 'gopher_qualty' (did you mean gopher_quality?)",
        "steps:\n  - gopher_quality: {min_word: 3}\n": "(gopher_quality): unknown key(s) ['min_word'] (did you mean 'min_words'?)",
        "stepz:\n  - extract: {}\n": "top level: unknown key(s) ['stepz'] (did you mean 'steps'?)",
        "steps:\n  - language: {min_score: high}\n": "(language): key 'min_score' expects float, got 'high'",
    }
    for text, message in cases.items():
        path = tmp_path / "r.yaml"
        path.write_text(text)
        with pytest.raises(RecipeError) as error:
            load_recipe(str(path))
        assert message in str(error.value), str(error.value)


def test_every_builtin_recipe_passes_the_whole_recipe_check():
    from winnow.sections import check_recipe

    for name in builtin_recipe_names():
        check_recipe(load_recipe(name), stages=("input", "curate", "dedup"))
    assert check_recipe(load_recipe("demo"), stages=("input", "curate", "train", "evaluate")) == []
