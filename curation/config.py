"""Strict construction of frozen config dataclasses from recipe mappings.

Unknown keys and wrong types are errors that name the key (and the nearest
valid one): a typo in a recipe must never silently fall back to a default. The
loader itself is Winnow's one loader (core/config_loader.py); this module
gives it the curation side's error type. `config_to_mapping` (the inverse) is
imported from the loader itself.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from winnow.core import config_loader
from winnow.core.errors import ConfigurationError

T = TypeVar("T")


class RecipeError(ConfigurationError):
    """A recipe or step configuration is invalid; the message names the key."""


def config_from_mapping(cls: type[T], mapping: Mapping[str, Any] | None, where: str) -> T:
    """Build `cls` from `mapping`, rejecting unknown keys and wrong types (RecipeError).

    `where` says where the mapping came from (e.g. "recipe fineweb, step gopher_quality")
    and starts every error message.
    """
    return config_loader.config_from_mapping(cls, mapping, where, RecipeError)

