"""The one strict loader: a mapping (a recipe section, a YAML file, command-line
overrides) to a frozen dataclass.

Every configuration in Winnow is a frozen dataclass, and every one is built
here: an unknown key is an error naming the nearest valid key, a value of the
wrong type is an error naming the key and the expected type, and the
dataclass's own checks (`__post_init__`) are reported with where the mapping
came from. A typo never falls back to a default.

A field's help text lives beside it, `field(default=..., metadata={"help": ...})`;
`field_help` reads it for the derived command-line flags and the generated
recipe reference (docs/recipes.md), so a key, its flag and its documentation
cannot disagree.

Standard library only: `curation/` and `training/` both import it.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from winnow.errors import ConfigurationError, unknown_key_message

T = TypeVar("T")
HELP = "help"
CHOICES = "choices"  # field metadata: the allowed values of a str field (flag choices, docs)


def matches(value: Any, annotation: Any) -> bool:
    """Whether `value` (as YAML or argparse gives it) fits the field type `annotation`."""
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (tuple, list, frozenset, set):
        if not isinstance(value, (list, tuple, set, frozenset)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
        inner = args[0] if args else Any
        return all(matches(v, inner) for v in value)
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            return False
        if not args:
            return True
        return all(matches(k, args[0]) and matches(v, args[1]) for k, v in value.items())
    if dataclasses.is_dataclass(annotation):
        return isinstance(value, (Mapping, annotation))
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def coerce(value: Any, annotation: Any, where: str = "", error: type[Exception] = ConfigurationError) -> Any:
    """Turn YAML lists into the tuple/frozenset the frozen dataclass declares, ints into
    floats, and a mapping given for a dataclass-typed field into that dataclass."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None) and matches(value, arg):
                return coerce(value, arg, where, error)
        return value
    if origin is tuple and isinstance(value, (list, tuple)):
        args = typing.get_args(annotation)
        inner = args[0] if args and (len(args) == 2 and args[-1] is Ellipsis) else None
        return tuple(coerce(v, inner, where, error) if inner is not None else v for v in value)
    if origin is frozenset and isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(value)
    if annotation is float and isinstance(value, int):
        return float(value)
    if dataclasses.is_dataclass(annotation) and isinstance(value, Mapping):
        return config_from_mapping(annotation, value, where, error)
    return value


def describe(annotation: Any) -> str:
    """A type as a reader writes it: `int | None`, `tuple[str, ...]`."""
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("collections.abc.", "").replace("NoneType", "None")


def config_from_mapping(
    cls: type[T], mapping: Mapping[str, Any] | None, where: str, error: type[Exception] = ConfigurationError,
) -> T:
    """Build `cls` from `mapping`, rejecting unknown keys and wrong types.

    `where` says where the mapping came from (e.g. "recipe fineweb, step
    gopher_quality") and starts every error message; `error` is the exception
    raised (a ConfigurationError subclass of the caller's).
    """
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        raise error(f"{where}: expected a mapping of keys to values, got {mapping!r} ({type(mapping).__name__})")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in mapping if k not in fields]
    if unknown:
        raise error(unknown_key_message(where, unknown, fields))
    kwargs = {name: checked_value(value, hints[name], name, where, error) for name, value in mapping.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, error) and str(exc).startswith(where):
            raise
        raise error(f"{where}: {exc}") from exc


def checked_value(value: Any, annotation: Any, key: str, where: str, error: type[Exception] = ConfigurationError) -> Any:
    """`value` converted to `annotation`, or `error` naming the key and the expected type."""
    if not matches(value, annotation):
        raise error(f"{where}: key {key!r} expects {describe(annotation)}, got {value!r} ({type(value).__name__})")
    return coerce(value, annotation, f"{where}, {key}", error)


def config_to_mapping(config: Any) -> dict[str, Any]:
    """The inverse of config_from_mapping, with YAML-friendly containers."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, (tuple, frozenset, set)):
            value = sorted(value) if isinstance(value, (frozenset, set)) else list(value)
        elif dataclasses.is_dataclass(value):
            value = config_to_mapping(value)
        out[f.name] = value
    return out


def field_help(f: dataclasses.Field) -> str:
    """The help text declared with the field (`metadata={"help": ...}`), or ''."""
    return str(f.metadata.get(HELP, ""))


def field_default(f: dataclasses.Field) -> Any:
    """The default of a field (calling its factory), or dataclasses.MISSING when required."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def flag_type(annotation: Any) -> Any:
    """The argparse `type` for a scalar field (None for a switch, or for a type no flag can spell)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return flag_type(options[0]) if len(options) == 1 else None
    if annotation in (int, float, str):
        return annotation
    return None


def add_field_flags(parser: Any, cls: type, names: typing.Iterable[str], helps: Mapping[str, str] | None = None) -> list[str]:
    """One `--name-with-dashes` flag per field in `names`, typed and documented from the
    dataclass; every flag defaults to None ("not given": the key keeps the value from the
    recipe, the YAML file or the dataclass). A bool field becomes a switch that sets True.
    Returns the argparse destinations (the field names)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    dests = []
    for name in names:
        f, annotation = fields[name], hints[name]
        text = (helps or {}).get(name) or field_help(f)
        default = field_default(f)
        if default is not dataclasses.MISSING and default is not None and not dataclasses.is_dataclass(default):
            text = f"{text} (default: {default})" if text else f"default: {default}"
        flag = "--" + name.replace("_", "-")
        if annotation is bool or annotation == (bool | None):
            parser.add_argument(flag, dest=name, action="store_true", default=None, help=text)
        else:
            kind = flag_type(annotation)
            if kind is None:
                raise TypeError(f"{cls.__name__}.{name}: {describe(annotation)} has no command-line form")
            choices = f.metadata.get(CHOICES)
            metavar = None if choices else name.upper()
            parser.add_argument(flag, dest=name, type=kind, default=None, choices=choices, metavar=metavar, help=text)
        dests.append(name)
    return dests
