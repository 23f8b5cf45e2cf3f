"""A plain JSONL file read in line-aligned byte ranges gives exactly the whole-file records."""
from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winnow.curation.archive_ranges import ByteWindow, FileRange
from winnow.curation.readers import ReaderOptions
from winnow.curation.readers.jsonl import iter_jsonl
from winnow.curation.readers.text import iter_text
from winnow.curation.readers import line_ranges
from winnow.curation.readers.line_ranges import plan_line_ranges

OPTIONS = ReaderOptions(max_record_bytes=300)
TEXT_LINES = ReaderOptions(max_record_bytes=300, text_format="lines")
READERS = {"jsonl": (iter_jsonl, OPTIONS), "text lines": (iter_text, TEXT_LINES)}


def read_whole(data: bytes, reader: str = "jsonl") -> list:
    read, options = READERS[reader]
    return list(read(io.BytesIO(data), "big.jsonl", options))


def read_in_ranges(data: bytes, split_bytes: int, reader: str = "jsonl") -> tuple[list[FileRange], list]:
    read, options = READERS[reader]
    parts = plan_line_ranges("big.jsonl", len(data), io.BytesIO(data), split_bytes)
    items = []
    for part in parts:
        if part.whole:
            items += read_whole(data, reader)
            continue
        lines = io.BufferedReader(ByteWindow(io.BytesIO(data), part.start, part.end))
        items += read(lines, "big.jsonl", options, first_line=part.first_line, whole_file=False)
    return parts, items


LINE = st.one_of(
    st.builds(lambda n, t: json.dumps({"id": f"d{n}", "text": t}), st.integers(0, 10**6), st.text(max_size=60)),
    st.sampled_from(["", "   ", "{broken", "[1, 2]", '{"no_text": 1}', "x" * 400]),  # blank, bad, too long
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(LINE, min_size=1, max_size=40), split_bytes=st.integers(1, 800),
       bom=st.booleans(), crlf=st.booleans(), final_newline=st.booleans(), scan_chunk=st.sampled_from([1, 7, 64, 1 << 20]),
       reader=st.sampled_from(sorted(READERS)))
def test_line_ranges_read_every_line_once_at_its_line_number(lines, split_bytes, bom, crlf, final_newline, scan_chunk, reader):
    eol = "\r\n" if crlf else "\n"
    data = (("\ufeff" if bom else "") + eol.join(lines) + (eol if final_newline else "")).encode("utf-8")
    chunk, line_ranges._SCAN_CHUNK = line_ranges._SCAN_CHUNK, scan_chunk  # lines and cuts across scan pieces
    try:
        parts, items = read_in_ranges(data, split_bytes, reader)
    finally:
        line_ranges._SCAN_CHUNK = chunk
    assert items == read_whole(data, reader)  # same records and failures, same positions, same order
    if len(parts) > 1:
        assert parts[0].start == 0 and parts[-1].end == len(data)
        assert all(a.end == b.start for a, b in zip(parts, parts[1:]))  # the ranges tile the file
        assert all(data[p.start - 1:p.start] == b"\n" for p in parts[1:])  # each starts a line


def test_a_long_line_swallows_the_cuts_inside_it():
    data = b'{"text": "a"}\n' + b'{"text": "' + b"y" * 5000 + b'"}\n' + b'{"text": "b"}\n' * 3
    parts = plan_line_ranges("f.jsonl", len(data), io.BytesIO(data), 1000)
    assert [p.first_line for p in parts] == [1, 3]
    assert parts[1].start == data.index(b'{"text": "b"}')


def test_files_that_are_not_split():
    assert plan_line_ranges("f.jsonl.gz", 10**6, io.BytesIO(b"{}\n" * 10**5), 1000) == [FileRange("f.jsonl.gz")]
    blank = b"  \n\n \t\n" * 1000  # a whole-file read reports it as one EmptyFile failure; ranges cannot
    assert plan_line_ranges("f.jsonl", len(blank), io.BytesIO(blank), 100) == [FileRange("f.jsonl")]
    one_line = b'{"text": "' + b"z" * 5000 + b'"}'
    assert plan_line_ranges("f.jsonl", len(one_line), io.BytesIO(one_line), 100) == [FileRange("f.jsonl")]
    small = b'{"text": "a"}\n'
    assert plan_line_ranges("f.jsonl", len(small), io.BytesIO(small), 100) == [FileRange("f.jsonl")]
    with pytest.raises(ValueError, match="split_bytes"):
        plan_line_ranges("f.jsonl", 10, io.BytesIO(b""), 0)
