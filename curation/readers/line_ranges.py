"""Reading one large uncompressed JSONL (or `--text-format lines`) file as byte ranges that end at line ends.

A local run keeps a plain-text record with the worker thread that read its
file (shuffling records costs memory, see docs/reliability.md), so one large
JSONL file kept one worker busy however many the machine had. Split at line
ends, its ranges go to every worker.

Range k starts just after the first newline at or after byte k x split - 1
(range 0 at byte 0) and ends where range k+1 starts, so the ranges tile the
file and every line is read by exactly one range. The plan counts the
newlines before each start, so every record keeps its whole-file position
("line N") and so its id. Compressed files (.gz, .zst) cannot be entered
mid-stream and are read whole.

A whole-file read reports a file without records as one EmptyFile failure.
A range cannot know that about the file, so only files with a printable
non-space ASCII byte are split: the line holding it is a record or a failure
whichever range reads it, and no range reports EmptyFile.
"""
from __future__ import annotations

import re
from typing import BinaryIO

from winnow.curation.archive_ranges import FileRange
from winnow.curation.readers.common import is_compressed

_SCAN_CHUNK = 1 << 20
_PRINTABLE = re.compile(rb"[\x21-\x7e]")


def plan_line_ranges(path: str, size: int, stream: BinaryIO, split_bytes: int) -> list[FileRange]:
    """Ranges of about `split_bytes` that end at line ends, each with the number of its first line.

    One scan of the file (newline counts in 1 MiB pieces). A file of at most
    `split_bytes`, or without a printable byte (see the module docstring), is one whole-file read.
    """
    if split_bytes <= 0:
        raise ValueError(f"split_bytes must be positive, got {split_bytes}")
    if size <= split_bytes or is_compressed(path):
        return [FileRange(path)]
    starts = [(0, 1)]  # (byte offset, number of the line starting there)
    cut = 1  # range k starts after the first newline at or after byte cut x split_bytes - 1
    offset = newlines = 0
    printable = False
    while True:
        chunk = stream.read(_SCAN_CHUNK)
        if not chunk:
            break
        printable = printable or _PRINTABLE.search(chunk) is not None
        while cut * split_bytes - 1 < offset + len(chunk):
            found = chunk.find(b"\n", max(cut * split_bytes - 1 - offset, 0))
            if found < 0:
                break  # the line goes on into the next chunk
            start = offset + found + 1
            starts.append((start, newlines + chunk.count(b"\n", 0, found) + 2))
            # A line longer than a range swallows the cuts inside it.
            cut = max(cut + 1, -(-(start + 1) // split_bytes))
        newlines += chunk.count(b"\n")
        offset += len(chunk)
    starts = [(start, line) for start, line in starts if start < offset]
    if len(starts) < 2 or not printable:
        return [FileRange(path)]
    ends = [start for start, _ in starts[1:]] + [offset]
    return [FileRange(path, start, end, line) for (start, line), end in zip(starts, ends)]
