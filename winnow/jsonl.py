"""JSON Lines read line by line, for the small local files of tasks, labels and reports.

Standard library only (no Beam, no torch), for use from every package. The
curation readers of corpus JSONL (`curation/readers/jsonl.py`) are different:
a bad line there is an error row and the rest of the file still counts.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def json_lines(lines: Iterable[str], source: object, error: type[ValueError] = ValueError) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of every non-blank line; the first line that is not
    JSON raises `error` naming `source` and the line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{source}:{number}: not valid JSON: {exc.msg}") from None
        yield number, value
