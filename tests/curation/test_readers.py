"""Readers for JSONL, Parquet and plain text: records, positions and malformed input."""
from __future__ import annotations

import gzip
import io
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from winnow.curation.archive import ReadFailure
from winnow.curation.readers import (
    FORMAT_JSONL,
    FORMAT_PARQUET,
    FORMAT_TEXT,
    FORMAT_WARC,
    ReaderOptions,
    detect_format,
    iter_jsonl,
    iter_parquet,
    iter_records,
    iter_text,
)
from winnow.curation.readers import common
from winnow.curation.types import TextRecord


def _records(items):
    return [i for i in items if isinstance(i, TextRecord)]


def _failures(items):
    return [i for i in items if isinstance(i, ReadFailure)]


@pytest.mark.parametrize(
    "path, fmt",
    [
        ("a/b.jsonl", FORMAT_JSONL),
        ("gs://bucket/x.JSONL.GZ", FORMAT_JSONL),
        ("x.jsonl.zst", FORMAT_JSONL),
        ("train-00000-of-00010.parquet", FORMAT_PARQUET),
        ("book.txt", FORMAT_TEXT),
        ("book.txt.gz", FORMAT_TEXT),
        ("CC-MAIN-1.warc.gz", FORMAT_WARC),
        ("x.warc.wet.gz", FORMAT_WARC),
    ],
)
def test_detect_format_by_extension(path, fmt):
    assert detect_format(path) == fmt


def test_detect_format_unknown_names_file_and_flag():
    with pytest.raises(ValueError, match=r"data/x\.csv.*--input-format"):
        detect_format("data/x.csv")


JSONL = (
    b'{"text": "first doc", "id": "a1", "url": "https://e.com/1", "date": "2024-01-01"}\n'
    b"\n"
    b"{not json}\n"
    b'{"text": 42}\n'
    b'["a", "list"]\n'
    b'{"body": "no text field"}\n'
    b'{"text": "bad \xff utf8"}\n'
    b'{"text": "last doc", "id": 7}\n'
)


def test_jsonl_keeps_good_lines_and_names_bad_ones():
    items = list(iter_jsonl(io.BytesIO(JSONL), "in/x.jsonl", ReaderOptions(source_name="web")))
    records = _records(items)
    assert [(r.text, r.id, r.position) for r in records] == [("first doc", "a1", "line 1"), ("last doc", "7", "line 8")]
    assert records[0].url == "https://e.com/1" and records[0].date == "2024-01-01"
    assert all(r.source == "in/x.jsonl" and r.source_name == "web" and not r.is_html for r in records)
    failures = _failures(items)
    assert [f.error_type for f in failures] == [
        common.ERROR_MALFORMED_JSON,
        common.ERROR_BAD_VALUE,
        common.ERROR_BAD_VALUE,
        common.ERROR_MISSING_FIELD,
        common.ERROR_UNDECODABLE,
    ]
    for failure, line in zip(failures, (3, 4, 5, 6, 7)):
        assert failure.message.startswith(f"in/x.jsonl: line {line}: ")
    # every non-blank line is exactly one item
    assert len(items) == 7


def test_jsonl_custom_columns_and_missing_named_column():
    data = b'{"content": "t", "doc_id": "d", "link": "u"}\n{"content": "t2"}\n'
    options = ReaderOptions(text_column="content", id_column="doc_id", url_column="link")
    items = list(iter_jsonl(io.BytesIO(data), "x.jsonl", options))
    assert (items[0].text, items[0].id, items[0].url) == ("t", "d", "u")
    assert isinstance(items[1], ReadFailure) and "no field 'doc_id'" in items[1].message


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_jsonl_compressed(suffix):
    raw = b"".join(b'{"text": "doc %d"}\n' % i for i in range(50))
    data = gzip.compress(raw) if suffix.endswith("gz") else zstandard.ZstdCompressor().compress(raw)
    records = list(iter_records(io.BytesIO(data), "x" + suffix, FORMAT_JSONL))
    assert [r.text for r in records] == [f"doc {i}" for i in range(50)]


def test_jsonl_truncated_gzip_keeps_earlier_lines_and_reports_rest():
    rng = random.Random(0)
    raw = b"".join(b'{"text": "doc %d %s"}\n' % (i, rng.randbytes(100).hex().encode()) for i in range(200))
    data = gzip.compress(raw)
    data = data[: len(data) // 2]
    items = list(iter_jsonl(io.BytesIO(data), "cut.jsonl.gz"))
    assert len(_records(items)) > 0
    last = items[-1]
    assert isinstance(last, ReadFailure) and last.error_type == common.ERROR_TRUNCATED
    assert last.message.startswith("cut.jsonl.gz: after line ")


def test_jsonl_empty_file_is_an_error():
    items = list(iter_jsonl(io.BytesIO(b"\n\n"), "empty.jsonl"))
    assert len(items) == 1 and items[0].error_type == common.ERROR_EMPTY_FILE and "empty.jsonl" in items[0].message


def _parquet_bytes(table: pa.Table) -> io.BytesIO:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    buf.seek(0)
    return buf


def test_parquet_any_schema_with_default_and_named_columns():
    table = pa.table(
        {"text": ["a", None, "c"], "id": ["1", "2", "3"], "url": ["u1", "u2", "u3"], "extra": [1, 2, 3]}
    )
    items = list(iter_parquet(_parquet_bytes(table), "shard.parquet", ReaderOptions(source_name="wiki")))
    assert [(i.text, i.id, i.url, i.position) for i in _records(items)] == [("a", "1", "u1", "row 1"), ("c", "3", "u3", "row 3")]
    (bad,) = _failures(items)
    assert bad.message.startswith("shard.parquet: row 2: ") and "null" in bad.message
    assert all(r.source_name == "wiki" for r in _records(items))

    renamed = pa.table({"content": ["x"], "key": [5]})
    (rec,) = iter_parquet(_parquet_bytes(renamed), "r.parquet", ReaderOptions(text_column="content", id_column="key"))
    assert (rec.text, rec.id) == ("x", "5")


def test_parquet_missing_column_names_the_columns():
    (item,) = iter_parquet(_parquet_bytes(pa.table({"body": ["x"]})), "s.parquet")
    assert item.error_type == common.ERROR_MISSING_COLUMN
    assert "s.parquet" in item.message and "'text'" in item.message and "body" in item.message


def test_parquet_not_parquet_and_empty():
    (item,) = iter_parquet(io.BytesIO(b"this is not parquet at all"), "junk.parquet")
    assert item.error_type == common.ERROR_UNREADABLE and item.message.startswith("junk.parquet: ")
    empty = pa.table({"text": pa.array([], pa.string())})
    (item,) = iter_parquet(_parquet_bytes(empty), "e.parquet")
    assert item.error_type == common.ERROR_EMPTY_FILE


def test_parquet_non_seekable_stream_is_buffered():
    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self._inner = io.BytesIO(data)

        def readable(self):
            return True

        def seekable(self):
            return False

        def readinto(self, b):
            return self._inner.readinto(b)

    data = _parquet_bytes(pa.table({"text": ["p", "q"]})).getvalue()
    assert [r.text for r in iter_parquet(io.BufferedReader(Pipe(data)), "pipe.parquet")] == ["p", "q"]


def test_text_one_document_per_file_with_encoding_fallback():
    (rec,) = iter_text(io.BytesIO("Chapter 1\n\nIt was a dark night.".encode()), "books/a.txt", ReaderOptions(source_name="books"))
    assert rec.text.startswith("Chapter 1") and rec.position == "" and rec.source_name == "books"
    latin = ("Le garçon était très fatigué après la journée. " * 20).encode("latin-1")
    (rec,) = iter_text(io.BytesIO(latin), "books/fr.txt")
    assert "garçon" in rec.text


def test_text_file_errors():
    (item,) = iter_text(io.BytesIO(b"  \n "), "blank.txt")
    assert item.error_type == common.ERROR_EMPTY_FILE and "blank.txt" in item.message
    (item,) = iter_text(io.BytesIO(b"x" * 100), "big.txt", ReaderOptions(max_record_bytes=10))
    assert item.error_type == common.ERROR_TOO_LARGE


def test_text_lines_mode():
    data = b"one doc\n\nsecond \xff bad\r\nthird doc\r\n"
    items = list(iter_text(io.BytesIO(data), "l.txt", ReaderOptions(text_format="lines")))
    assert [(i.text, i.position) for i in _records(items)] == [("one doc", "line 1"), ("third doc", "line 4")]
    (bad,) = _failures(items)
    assert bad.message.startswith("l.txt: line 3: ")


def test_iter_records_rejects_archive_format():
    with pytest.raises(ValueError, match="x.warc"):
        iter_records(io.BytesIO(b""), "x.warc", FORMAT_WARC)


def test_reader_options_validate():
    with pytest.raises(ValueError, match="text format"):
        ReaderOptions(text_format="paragraphs")
