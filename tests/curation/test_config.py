from dataclasses import dataclass

import pytest

from winnow.curation.config import RecipeError, config_from_mapping, config_to_mapping


@dataclass(frozen=True)
class Example:
    threshold: float | None = 0.5
    count: int = 3
    words: tuple[str, ...] = ("a",)
    flag: bool = False


def test_builds_and_coerces():
    cfg = config_from_mapping(Example, {"threshold": 1, "words": ["x", "y"], "flag": True}, "here")
    assert cfg == Example(threshold=1.0, count=3, words=("x", "y"), flag=True)
    assert config_to_mapping(cfg)["words"] == ["x", "y"]


def test_none_disables():
    assert config_from_mapping(Example, {"threshold": None}, "here").threshold is None


@pytest.mark.parametrize(
    "mapping, key",
    [({"count": 1.5}, "count"), ({"count": True}, "count"), ({"words": "abc"}, "words"), ({"flag": "yes"}, "flag"), ({"thresold": 1}, "thresold")],
)
def test_errors_name_the_key(mapping, key):
    with pytest.raises(RecipeError, match=f"here.*{key}"):
        config_from_mapping(Example, mapping, "here")
