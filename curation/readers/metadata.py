"""A source record's extra fields, kept beside the document as one JSON object (the `metadata` column).

JSONL and Parquet sources often carry more than text, id and url: tags,
scores, a nested `meta` object. Every field that does not fill a document
column (the text, id, url and date fields) travels with the document as the
JSON text of an object `{field: value}`, in the source's field order. One
string column holds any mix of types across files and lines, where typed
columns would need every file to agree.

Values that JSON cannot hold exactly are encoded by fixed rules, so a record
never fails for a value JSON could not otherwise express:

* NaN and infinities become `null` (pandas' `to_json` convention: Parquet
  written from pandas stores missing floats as NaN);
* bytes become their base64 text;
* dates, times and timestamps their ISO 8601 text, decimals and durations
  their `str()`, map entries `[key, value]` pairs;
* a string holding a lone surrogate (a JSON escape like "\\ud800") makes the
  whole object ASCII-escaped, so the column stays valid UTF-8 and parses back
  to the same value.

A value of any other type, or one nested too deeply to encode, is a
`MetadataError` naming the field; the reader turns it into an error row.
"""
from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from winnow.core.errors import InputError


class MetadataError(InputError):
    """A field's value cannot be written as JSON; the message names the field."""


def _convert(value: Any) -> Any:
    """json.dumps's `default`: the JSON form of the non-JSON types sources hold."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, datetime.timedelta)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)  # sorted: the same set always gives the same text
    raise TypeError(f"a value of type {type(value).__name__} has no JSON form")


def _finite(value: Any, depth: int = 0) -> Any:
    """`value` with every non-finite float replaced by None (only walked when dumping found one)."""
    if depth > 1000:
        raise RecursionError("metadata nested too deeply")
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, depth + 1) for v in value]
    return value


def _dumps(fields: Mapping[str, Any]) -> str:
    try:
        text = json.dumps(fields, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_convert)
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise
        text = json.dumps(_finite(fields), ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_convert)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: \u-escapes keep the value and the UTF-8
        text = json.dumps(json.loads(text), ensure_ascii=True, separators=(",", ":"))
    return text


def encode_metadata(fields: Mapping[str, Any]) -> str | None:
    """The JSON text of `fields` (None when there are none); MetadataError naming a field that cannot be encoded."""
    if not fields:
        return None
    try:
        return _dumps(fields)
    except (TypeError, ValueError, RecursionError):
        for name, value in fields.items():  # find the field to name it
            try:
                _dumps({name: value})
            except (TypeError, ValueError, RecursionError) as exc:
                what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                raise MetadataError(f"field {name!r} cannot be kept as metadata: {what}") from None
        raise MetadataError("the extra fields cannot be kept as metadata") from None


def metadata_fields(row: Mapping[str, Any], used: Sequence[str], wanted: Sequence[str] | None) -> dict[str, Any]:
    """The fields of `row` kept as metadata: `wanted` (those present, in that order), or when None,
    every field not in `used` (the fields that fill document columns), in the row's order."""
    if wanted is not None:
        return {name: row[name] for name in wanted if name in row}
    skip = set(used)
    return {name: value for name, value in row.items() if name not in skip}
