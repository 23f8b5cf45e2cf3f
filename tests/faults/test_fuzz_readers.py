"""Property tests for the non-archive readers (issue 21): JSONL, Parquet, text, and the label importer.

Each property feeds arbitrary bytes or arbitrary JSON structures (lone
surrogates, NULs, deep nesting, huge numbers), optionally compressed and cut
short, and checks what the pipeline relies on:

- the reader never raises and yields only TextRecord / ReadFailure;
- accounting: one item per line (JSONL, text lines) or per row (Parquet),
  each naming its position once, so `records_in` counts every input record;
- every record is storable (UTF-8-encodable fields, no NUL in text);
- memory stays bounded by the record size limit, whatever the input inflates to.

Runs are short in CI; for a longer hunt set WINNOW_FUZZ_EXAMPLES (see test_fuzz.py).
"""
from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winnow.curation.archive import ReadFailure
from winnow.curation.readers import ReaderOptions, iter_jsonl, iter_parquet, iter_text
from winnow.curation.readers.common import ERROR_EMPTY_FILE, clean_text
from winnow.curation.types import TextRecord
from tests.arrow_bytes import unvalidated_string_array

FUZZ_EXAMPLES = int(os.environ.get("WINNOW_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The memory property inflates megabytes per example: fewer of them.
FUZZ_HEAVY = settings(max_examples=max(5, FUZZ_EXAMPLES // 4), deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SUFFIXES = ("", ".gz", ".zst")

# Strings as hostile writers produce them: any character, lone surrogates and NULs included.
_ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]),
        st.just("\x00"),
        st.just("\n"),
    ),
    max_size=60,
)
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), _ANY_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_ANY_TEXT, inner, max_size=4)),
    max_leaves=12,
)
_ROW = st.fixed_dictionaries(
    {}, optional={"text": st.one_of(_ANY_TEXT, _JSON), "id": st.one_of(_ANY_TEXT, st.integers()), "url": _ANY_TEXT, "date": _JSON}
)
_SPECIAL_LINES = st.sampled_from([
    "[" * 50_000, '{"text": "x", "n": 1' + "0" * 5000 + "}", '{"text": "\\ud800"}', '{"text": "a\\u0000b"}', "", "   ", "\ufeff{}",
])


def compress(data: bytes, suffix: str) -> bytes:
    if suffix == ".gz":
        return gzip.compress(data, compresslevel=1)
    if suffix == ".zst":
        return zstandard.ZstdCompressor(level=1).compress(data)
    return data


def assert_storable(items: list) -> None:
    assert items and all(isinstance(i, (TextRecord, ReadFailure)) for i in items)
    for item in items:
        if isinstance(item, TextRecord):
            for value in (item.text, item.id, item.url, item.date, item.source):
                value.encode("utf-8")
            assert "\x00" not in item.text
        else:
            (item.message + item.url + item.warc_record_id).encode("utf-8")
            assert item.message.startswith(item.source)


def positions(items: list) -> list[int]:
    """Line numbers named by the items (records and per-line failures)."""
    found = []
    for item in items:
        where = item.position if isinstance(item, TextRecord) else item.message.removeprefix(item.source + ": ").split(": ")[0]
        if where.startswith("line "):
            found.append(int(where[5:]))
    return found


def expected_lines(data: bytes) -> list[int]:
    """Lines that are records: non-blank once decoded, or not UTF-8 (an error row each)."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    numbers = []
    for n, raw in enumerate(lines, start=1):
        if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            if raw.decode("utf-8").strip():
                numbers.append(n)
        except UnicodeDecodeError:
            numbers.append(n)
    return numbers


# --------------------------------------------------------------------------- JSONL


@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from(_SUFFIXES))
def test_jsonl_on_arbitrary_bytes_accounts_for_every_line(data, suffix):
    items = list(iter_jsonl(io.BytesIO(compress(data, suffix)), f"f.jsonl{suffix}"))
    assert_storable(items)
    found = positions(items)
    assert found == expected_lines(data), "one item per non-blank line, in order"
    if not found:
        assert [i.error_type for i in items] == [ERROR_EMPTY_FILE]


@FUZZ
@given(
    rows=st.lists(st.one_of(_ROW.map(lambda r: json.dumps(r)), _JSON.map(json.dumps), _SPECIAL_LINES), min_size=1, max_size=12),
    suffix=st.sampled_from(_SUFFIXES),
    cut=st.one_of(st.none(), st.floats(0, 1, exclude_max=True)),
)
def test_jsonl_on_arbitrary_structures_never_raises_and_cut_files_say_so(rows, suffix, cut):
    data = "\n".join(rows).encode("utf-8", "surrogatepass") + b"\n"
    packed = compress(data, suffix)
    if cut is not None and suffix:
        packed = packed[: int(cut * len(packed))]
    items = list(iter_jsonl(io.BytesIO(packed), f"f.jsonl{suffix}"))
    assert_storable(items)
    found = positions(items)
    assert len(found) == len(set(found)) and found == sorted(found)
    if cut is None or not suffix:
        assert found == expected_lines(data)
        for item in items:  # a well-formed object with a clean string text is always kept
            if isinstance(item, TextRecord):
                row = json.loads(rows[int(item.position[5:]) - 1].lstrip("\ufeff"))
                assert item.text == clean_text(row["text"])
    elif packed:
        assert isinstance(items[-1], ReadFailure) and items[-1].error_type in ("TruncatedFile", "UnreadableFile")


@FUZZ_HEAVY
@given(
    run=st.integers(0, 6 << 20), byte=st.sampled_from([b"\x00", b"a", b" ", b"\xff"]), suffix=st.sampled_from([".gz", ".zst"]),
    text_mode=st.booleans(),
)
def test_memory_stays_bounded_whatever_a_line_inflates_to(run, byte, suffix, text_mode):
    limit = 64 << 10
    out = io.BytesIO()
    if suffix == ".zst":
        writer = zstandard.ZstdCompressor(level=1).stream_writer(out, closefd=False)
    else:
        writer = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1)
    with writer:
        writer.write(b'{"text": "before"}\n')
        for _ in range(run // (1 << 20)):
            writer.write(byte * (1 << 20))
        writer.write(byte * (run % (1 << 20)) + b'\n{"text": "after"}\n')
    options = ReaderOptions(max_record_bytes=limit, text_format="lines")
    reader = iter_text if text_mode else iter_jsonl
    tracemalloc.start()
    try:
        items = list(reader(io.BytesIO(out.getvalue()), f"bomb.{'txt' if text_mode else 'jsonl'}{suffix}", options))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20, f"peak {peak >> 20} MiB for a {run >> 20} MiB line"
    assert_storable(items)
    assert "before" in items[0].text and "after" in items[-1].text  # the lines around it still count
    # The long line is one item: an error row when over the limit (even if blank: it is never read whole).
    assert len(items) == 2 + (run > limit or expected_lines(byte * min(run, 10)) != [])


# --------------------------------------------------------------------------- Parquet


_VALUE = st.one_of(
    st.none(),
    st.text(max_size=40).map(lambda t: t.encode("utf-8")),
    st.binary(max_size=40),
    st.sampled_from([b"a\x00b", b"\xed\xa0\x80", b"\xff\xfe", b""]),
)


def _decoded(value: bytes | None) -> str | None:
    try:
        return None if value is None else value.decode("utf-8")
    except UnicodeDecodeError:
        return None


@FUZZ
@given(texts=st.lists(_VALUE, min_size=1, max_size=40), ids=st.data(), group=st.integers(1, 16), dictionary=st.booleans())
def test_parquet_rows_each_become_one_item_and_bad_values_cost_their_row(texts, ids, group, dictionary):
    id_values = ids.draw(st.lists(_VALUE, min_size=len(texts), max_size=len(texts)))
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": unvalidated_string_array(texts), "id": unvalidated_string_array(id_values)}), buffer, row_group_size=group, use_dictionary=dictionary)
    items = list(iter_parquet(io.BytesIO(buffer.getvalue()), "f.parquet"))
    assert_storable(items)
    assert len(items) == len(texts), "one item per row"
    for row, (item, text, doc_id) in enumerate(zip(items, texts, id_values), start=1):
        good_id = doc_id is None or (_decoded(doc_id) is not None and "\x00" not in _decoded(doc_id))
        if _decoded(text) is not None and good_id:
            assert isinstance(item, TextRecord) and item.text == clean_text(_decoded(text)) and item.position == f"row {row}"
        else:
            assert isinstance(item, ReadFailure) and f"f.parquet: row {row}: " in item.message


@FUZZ
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=8)), min_size=1, max_size=4))
def test_damaged_parquet_never_raises(edits):
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": [f"doc {i}" for i in range(300)]}), buffer, row_group_size=50)
    data = bytearray(buffer.getvalue())
    for where, insert in edits:
        at = int(where * len(data))
        data[at : at + len(insert)] = insert
    items = list(iter_parquet(io.BytesIO(bytes(data)), "d.parquet"))
    assert_storable(items)
    assert len([i for i in items if isinstance(i, TextRecord)]) <= 300


# --------------------------------------------------------------------------- text


@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from(_SUFFIXES), lines=st.booleans(), cut=st.one_of(st.none(), st.floats(0, 1, exclude_max=True)))
def test_text_on_arbitrary_bytes(data, suffix, lines, cut):
    packed = compress(data, suffix)
    if cut is not None and suffix:
        packed = packed[: int(cut * len(packed))]
    options = ReaderOptions(text_format="lines" if lines else "file")
    items = list(iter_text(io.BytesIO(packed), f"f.txt{suffix}", options))
    assert_storable(items)
    if not lines:
        assert len(items) == 1, "a whole file is one record or one error"
    elif cut is None or not suffix:
        assert positions(items) == [n for n in expected_lines(data)]


# --------------------------------------------------------------------------- label import


@FUZZ
@given(
    lines=st.lists(st.one_of(_JSON.map(json.dumps), _ROW.map(json.dumps), _SPECIAL_LINES, st.text(max_size=40)), min_size=1, max_size=8),
    csv=st.booleans(),
)
def test_label_import_accepts_or_raises_one_labels_error(lines, csv):
    from winnow.review.labels import LabelsError, parse_label_file

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("labels.csv" if csv else "labels.jsonl")
        path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
        try:
            rows = parse_label_file(path, ["a", "b"])
        except LabelsError as exc:
            assert str(exc) and "\n" not in str(exc).strip() or str(path) in str(exc)
            return
        for row in rows:
            for value in row.values():
                if isinstance(value, str):
                    value.encode("utf-8")


@pytest.mark.parametrize("line", ["[" * 100_000, '{"id": "a", "label": "good", "note": "\\ud800"}', '{"id": 1' + "0" * 5000 + "}"])
def test_label_import_of_the_issues_lines_is_a_labels_error(tmp_path, line):
    from winnow.review.labels import LabelsError, parse_label_file

    path = tmp_path / "l.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(LabelsError, match="l.jsonl:1"):
        parse_label_file(path, ["a"])


@FUZZ
@given(data=st.binary(max_size=400), values=st.integers(1, 10))
def test_page_header_walk_on_arbitrary_bytes_ends_or_raises_its_error(data, values):
    from winnow.curation.readers.parquet_pages import PageHeaderError, page_sizes

    try:
        sizes = list(page_sizes(io.BytesIO(data), 0, values))
    except PageHeaderError:
        return
    assert all(size >= 0 for size in sizes)
