"""JSON Lines read line by line, for the small local files of tasks, labels and reports.

Standard library only (no Beam, no torch), for use from every package. The
curation readers of corpus JSONL (`curation/readers/jsonl.py`) are different:
a bad line there is an error row and the rest of the file still counts.

Here the first bad line raises `error` (a ValueError the commands print as one
line): invalid JSON, JSON nested too deeply for the parser (RecursionError),
an integer with more digits than Python converts, and a string holding a lone
surrogate escape (`"\\ud800"`), which no UTF-8 file, SQLite row or Parquet
column can store.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_lines(lines: Iterable[str], source: object, error: type[ValueError] = ValueError) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of every non-blank line; the first line that is not
    usable JSON raises `error` naming `source` and the line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{source}:{number}: not valid JSON: {exc.msg}") from None
        except RecursionError:
            raise error(f"{source}:{number}: JSON nested too deeply to parse") from None
        except ValueError as exc:  # an integer longer than sys.get_int_max_str_digits()
            raise error(f"{source}:{number}: unparsable JSON value: {exc}") from None
        if _has_lone_surrogate(value):
            raise error(f"{source}:{number}: a string holds a lone surrogate escape (like \\ud800), which cannot be stored")
        yield number, value


def _has_lone_surrogate(value: Any) -> bool:
    """True when any string in `value` (keys included) holds a lone surrogate; iterative, so no depth limit."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
