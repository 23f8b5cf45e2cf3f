"""Strict construction of frozen config dataclasses from recipe mappings.

Unknown keys and wrong types are errors that name the key: a typo in a recipe
must never silently fall back to a default.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class RecipeError(ValueError):
    """A recipe or step configuration is invalid; the message names the key."""


def _matches(value: Any, annotation: Any) -> bool:
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (tuple, list, frozenset, set):
        if not isinstance(value, (list, tuple, set, frozenset)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
        inner = args[0] if args else Any
        return all(_matches(v, inner) for v in value)
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            return False
        if not args:
            return True
        return all(_matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items())
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def _coerce(value: Any, annotation: Any) -> Any:
    """Turn YAML lists into the tuple/frozenset the frozen dataclass declares."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None) and _matches(value, arg):
                return _coerce(value, arg)
        return value
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if origin is frozenset and isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(value)
    if annotation is float and isinstance(value, int):
        return float(value)
    return value


def config_from_mapping(cls: type[T], mapping: Mapping[str, Any] | None, where: str) -> T:
    """Build `cls` from `mapping`, rejecting unknown keys and wrong types.

    `where` says where the mapping came from (e.g. "recipe fineweb, step gopher_quality")
    and starts every error message.
    """
    mapping = dict(mapping or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(fields)}")
    kwargs = {}
    for name, value in mapping.items():
        annotation = hints[name]
        if not _matches(value, annotation):
            raise RecipeError(
                f"{where}: key {name!r} expects {_describe(annotation)}, got {value!r} ({type(value).__name__})"
            )
        kwargs[name] = _coerce(value, annotation)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{where}: {exc}") from exc


def config_to_mapping(config: Any) -> dict[str, Any]:
    """The inverse of config_from_mapping, with YAML-friendly containers."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, (tuple, frozenset, set)):
            value = sorted(value) if isinstance(value, (frozenset, set)) else list(value)
        out[f.name] = value
    return out


def _describe(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
