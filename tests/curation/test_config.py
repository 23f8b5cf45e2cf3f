from dataclasses import dataclass

import pytest

from winnow.core.config_loader import config_to_mapping
from winnow.curation.config import RecipeError, config_from_mapping


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


# --- the one loader (core/config_loader.py), shared by curation and training ---------------

from dataclasses import field  # noqa: E402

from winnow.core import config_loader  # noqa: E402
from winnow.core.errors import ConfigurationError, WinnowError  # noqa: E402


@dataclass(frozen=True)
class Inner:
    pages: int = 240
    seed: int = 0

    def __post_init__(self) -> None:
        if self.pages < 1:
            raise ValueError(f"pages must be positive, got {self.pages}")


@dataclass(frozen=True)
class Outer:
    sample: Inner | None = None
    rate: float = field(default=0.1, metadata={"help": "how often"})
    mode: str = field(default="a", metadata={"help": "which one", "choices": ("a", "b")})


def test_unknown_key_names_the_nearest_valid_one():
    with pytest.raises(RecipeError) as error:
        config_from_mapping(Example, {"thresold": 1}, "recipe r, step s")
    assert "recipe r, step s: unknown key(s) ['thresold'] (did you mean 'threshold'?)" in str(error.value)
    assert isinstance(error.value, ConfigurationError) and error.value.exit_code == 2


def test_a_nested_mapping_builds_the_nested_dataclass_with_its_own_checks():
    assert config_loader.config_from_mapping(Outer, {"sample": {"pages": 3}}, "w").sample == Inner(pages=3)
    with pytest.raises(ConfigurationError, match="w, sample: unknown key.*'page'.*did you mean 'pages'"):
        config_loader.config_from_mapping(Outer, {"sample": {"page": 3}}, "w")
    with pytest.raises(ConfigurationError, match="w, sample: pages must be positive"):
        config_loader.config_from_mapping(Outer, {"sample": {"pages": 0}}, "w")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "0.1", True])
def test_a_float_must_be_a_finite_number(value):
    with pytest.raises(ConfigurationError, match="key 'rate' expects float"):
        config_loader.config_from_mapping(Outer, {"rate": value}, "w")


def test_not_a_mapping_is_an_error_naming_where():
    with pytest.raises(WinnowError, match="w: expected a mapping"):
        config_loader.config_from_mapping(Outer, ["rate", 1], "w")


def test_flags_are_derived_from_the_fields():
    import argparse

    parser = argparse.ArgumentParser()
    assert config_loader.add_field_flags(parser, Outer, ["rate", "mode"]) == ["rate", "mode"]
    rate, mode = parser._option_string_actions["--rate"], parser._option_string_actions["--mode"]
    assert rate.help == "how often (default: 0.1)" and rate.type is float and rate.default is None
    assert mode.choices == ("a", "b")
    assert parser.parse_args([]).rate is None  # not given: the recipe's or the default value stays
    assert parser.parse_args(["--rate", "0.5"]).rate == 0.5
