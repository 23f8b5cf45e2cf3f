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
import inspect
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from winnow.core.errors import ConfigurationError, unknown_key_message

T = TypeVar("T")
HELP = "help"
CHOICES = "choices"  # field metadata: the allowed values of a str field (flag choices, docs)
_TRAILING_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$")
_FIELD = re.compile(r"^\s+(\w+)\s*:\s*[^=#]+=")


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


def comment_help(cls: type) -> dict[str, str]:
    """Field name -> the comment written after it in the class body, or on the comment
    lines just above it (for dataclasses whose fields are documented that way)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    helps: dict[str, str] = {}
    above: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        match = _TRAILING_COMMENT.match(line) or _FIELD.match(line)
        if match and match.group(1) not in helps:
            text = match.group(2).strip() if match.re is _TRAILING_COMMENT else ""
            text = text or " ".join(above)
            if text:
                helps[match.group(1)] = text
        above = []
    return helps


def docstring_help(cls: type) -> dict[str, str]:
    """Field name -> the sentence a class docstring gives it ("`key`: what it does.")."""
    doc = " ".join((inspect.getdoc(cls) or "").split())
    helps: dict[str, str] = {}
    for match in re.finditer(r"`(\w+)`(?: \([^)]*\))?(?::| (?=[a-z]))\s*([^.;]+(?:\.(?=\S)[^.;]*)*[.;]?)", doc):
        helps.setdefault(match.group(1), match.group(2))
    return helps


def field_meanings(cls: type) -> dict[str, str]:
    """Field name -> what it means, for its flag's help and docs/recipes.md alike: the
    field's `metadata={"help": ...}`, else the comment beside or above it, else the class
    docstring's sentence about it."""
    meanings = {**docstring_help(cls), **comment_help(cls)}
    for f in dataclasses.fields(cls):
        if field_help(f):
            meanings[f.name] = field_help(f)
    return meanings


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
        # `str | dict[str, Any]` is a str on the command line: the mapping form is YAML's only.
        spelled = [kind for kind in (flag_type(a) for a in typing.get_args(annotation) if a is not type(None)) if kind is not None]
        return spelled[0] if len(spelled) == 1 else None
    if annotation in (int, float, str):
        return annotation
    return None


def _list_item_type(annotation: Any) -> Any:
    """The argparse `type` of each value of a `tuple[X, ...]` field (or `tuple[X, ...] | None`), else None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _list_item_type(options[0]) if len(options) == 1 else None
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return flag_type(args[0])
    return None


def _shown(default: Any) -> str:
    return " ".join(map(str, default)) if isinstance(default, (tuple, list)) else str(default)


def add_field_flags(
    parser: Any, cls: type, names: typing.Iterable[str], helps: Mapping[str, str] | None = None,
    required: typing.Collection[str] = (),
) -> list[str]:
    """One `--name-with-dashes` flag per field in `names`, typed and documented from the
    dataclass (`field_meanings`: the same text as docs/recipes.md); every flag defaults to
    None ("not given": the key keeps the value from the recipe, the YAML file or the
    dataclass). A bool field becomes a switch that sets True; a `tuple[X, ...]` field takes
    one or more values. Fields in `required` must be given. Returns the argparse
    destinations (the field names)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    meanings = field_meanings(cls)
    dests = []
    for name in names:
        f, annotation = fields[name], hints[name]
        text = (helps or {}).get(name) or meanings.get(name, "")
        default = field_default(f)
        if name not in required and default not in (dataclasses.MISSING, None, "") and not dataclasses.is_dataclass(default):
            text = f"{text} (default: {_shown(default)})" if text else f"default: {_shown(default)}"
        flag = "--" + name.replace("_", "-")
        if annotation is bool or annotation == (bool | None):
            parser.add_argument(flag, dest=name, action="store_true", default=None, help=text)
            dests.append(name)
            continue
        kind, nargs = flag_type(annotation), None
        if kind is None and _list_item_type(annotation) is not None:
            kind, nargs = _list_item_type(annotation), "+"
        if kind is None:
            raise TypeError(f"{cls.__name__}.{name}: {describe(annotation)} has no command-line form")
        choices = f.metadata.get(CHOICES)
        metavar = None if choices else name.upper()
        parser.add_argument(flag, dest=name, type=kind, nargs=nargs, default=None, choices=choices, metavar=metavar,
                            required=name in required, help=text)
        dests.append(name)
    return dests


def given_flags(args: Any, names: typing.Iterable[str]) -> dict[str, Any]:
    """The fields whose flags `add_field_flags` declared and the command line set (not None),
    as a mapping for `config_from_mapping`."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
