"""ReadSources on the DirectRunner: every format, folders, inference, and the records_in counter."""
from __future__ import annotations

import gzip
import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline

from winnow.curation.archive import ArchiveRecord, ReadFailure
from winnow.curation.readers import ReaderOptions
from winnow.curation.types import TextRecord
from winnow.pipelines.read_sources import ReadSources, expand_pattern, plan_file


# Filled by a module-level function, which Beam pickles by reference (the runner is in-process).
_COLLECTED: list = []


def _collect(item) -> None:
    _COLLECTED.append(item)


def _run(patterns, input_format=None, options=ReaderOptions(), split_bytes=None):
    _COLLECTED.clear()
    pipeline = TestPipeline()
    _ = pipeline | ReadSources(patterns, input_format, options, split_bytes=split_bytes) | beam.Map(_collect)
    result = pipeline.run()
    result.wait_until_finish()
    collected = list(_COLLECTED)
    counters = result.metrics().query(MetricsFilter().with_namespace("curate").with_name("records_in"))["counters"]
    return collected, sum(c.committed for c in counters)


def test_mixed_formats_inferred_and_counted(tmp_path):
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(b'{"text": "j1"}\n{broken\n{"text": "j2"}\n'))
    pq.write_table(pa.table({"text": ["p1", "p2"], "id": ["x", "y"]}), tmp_path / "b.parquet")
    books = tmp_path / "books"
    books.mkdir()
    (books / "one.txt").write_text("A whole book.")
    (books / "two.txt").write_text("Another book.")
    (tmp_path / "notes.csv").write_text("a,b\n")
    items, records_in = _run([str(tmp_path / "*.*"), str(books)], options=ReaderOptions(source_name="mix"))
    texts = sorted(i.text for i in items if isinstance(i, TextRecord))
    assert texts == ["A whole book.", "Another book.", "j1", "j2", "p1", "p2"]
    failures = [i for i in items if isinstance(i, ReadFailure)]
    assert sorted(f.error_type for f in failures) == ["MalformedJson", "UnknownFormat"]
    assert any("a.jsonl.gz: line 2" in f.message for f in failures)
    assert any("notes.csv" in f.message for f in failures)
    assert records_in == len(items) == 8
    assert all(i.source_name == "mix" for i in items if isinstance(i, TextRecord))


def test_explicit_format_lines_and_warc(tmp_path):
    path = tmp_path / "corpus.dat"
    path.write_text("line one\nline two\n")
    items, records_in = _run([str(path)], "text", ReaderOptions(text_format="lines"))
    assert sorted(i.text for i in items) == ["line one", "line two"] and records_in == 2


def test_warc_inputs_yield_archive_records(tmp_path):
    pytest.importorskip("fastwarc")
    from warcio.warcwriter import WARCWriter
    from warcio.statusandheaders import StatusAndHeaders
    import io

    path = tmp_path / "x.warc.gz"
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.0")
        record = writer.create_warc_record(
            "https://example.com/", "response", payload=io.BytesIO(b"<html><p>hi</p></html>"), http_headers=headers
        )
        writer.write_record(record)
    items, records_in = _run([str(path)])
    assert len(items) == 1 and isinstance(items[0], ArchiveRecord) and records_in == 1


def test_pattern_matching_nothing_is_an_error(tmp_path):
    with pytest.raises(Exception, match="nothing-here"):
        _run([str(tmp_path / "nothing-here*.jsonl")])


def test_expand_pattern(tmp_path):
    assert expand_pattern("gs://b/books/") == "gs://b/books/**"
    assert expand_pattern(str(tmp_path)).endswith("/**")
    assert expand_pattern("x/*.jsonl") == "x/*.jsonl"


def test_bad_format_is_rejected_up_front():
    with pytest.raises(ValueError, match="input format"):
        ReadSources(["x"], "csv")


def _raising_reader(stream, source, fmt, options):
    yield TextRecord(text="first", source=source, position="line 1")
    raise RecursionError("a reader bug")


def test_a_reader_that_raises_costs_the_rest_of_its_file_only(tmp_path, monkeypatch):
    import winnow.pipelines.read_sources as read_sources

    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    monkeypatch.setattr(read_sources, "iter_records", _raising_reader)
    items, records_in = _run([str(tmp_path / "a.jsonl")])
    assert records_in == len(items) == 2
    (failure,) = [i for i in items if isinstance(i, ReadFailure)]
    assert failure.error_type == "ReaderFailed" and "RecursionError: a reader bug" in failure.message


def test_a_large_gzipped_warc_is_read_in_byte_ranges_with_the_same_records(tmp_path, monkeypatch):
    from tests.curation.test_archive_ranges import warc_gz
    import winnow.pipelines.read_sources as read_sources

    path = tmp_path / "big.warc.gz"
    path.write_bytes(warc_gz([4000] * 30))
    whole, whole_in = _run([str(path)])
    planned = []
    plan_file = read_sources.plan_file
    monkeypatch.setattr(read_sources, "plan_file", lambda *a, **k: planned.extend(plan_file(*a, **k)) or plan_file(*a, **k))
    ranged, ranged_in = _run([str(path)], split_bytes=10_000)
    assert len(planned) == -(-path.stat().st_size // 10_000) > 5
    key = lambda item: item.offset  # noqa: E731
    assert sorted(ranged, key=key) == sorted(whole, key=key)
    assert ranged_in == whole_in == len(whole) == 31


def test_a_large_plain_jsonl_file_is_read_in_line_ranges_with_the_same_records(tmp_path):
    lines = [json.dumps({"id": f"d{i}", "text": f"document {i} " * (i % 7 + 1)}) for i in range(200)]
    lines[50] = "{broken"
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n")
    whole, whole_in = _run([str(path)])
    ranged, ranged_in = _run([str(path)], split_bytes=1000)
    assert len(plan_file(str(path), path.stat().st_size, None, 1000)) > 5
    key = lambda item: getattr(item, "position", None) or item.message  # noqa: E731
    assert sorted(ranged, key=key) == sorted(whole, key=key)
    assert ranged_in == whole_in == 200
    assert any(isinstance(i, ReadFailure) and "big.jsonl: line 51:" in i.message for i in ranged)


def test_a_large_text_file_in_lines_format_is_read_in_line_ranges_and_a_whole_text_file_is_not(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"line {i} of the corpus\n" if i % 9 else "\n" for i in range(400)))
    lines = ReaderOptions(text_format="lines")
    whole, whole_in = _run([str(path)], options=lines)
    ranged, ranged_in = _run([str(path)], options=lines, split_bytes=500)
    assert len(plan_file(str(path), path.stat().st_size, None, 500, lines)) > 5
    assert len(plan_file(str(path), path.stat().st_size, None, 500)) == 1  # one document per file: never split
    assert sorted(ranged, key=lambda r: r.position) == sorted(whole, key=lambda r: r.position)
    assert ranged_in == whole_in == len(whole) == 355


def test_a_large_parquet_file_is_read_in_runs_of_row_groups_with_the_same_records(tmp_path):
    texts = [None if i == 77 else f"parquet document {i} " * (i % 6 + 1) for i in range(300)]
    path = tmp_path / "shard.parquet"
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(300)], "text": texts}), path, row_group_size=25)
    whole, whole_in = _run([str(path)])
    ranged, ranged_in = _run([str(path)], split_bytes=1000)
    plan = plan_file(str(path), path.stat().st_size, None, 1000)
    assert len(plan) == 12 and [(r.start, r.end) for r in plan[:2]] == [(0, 1), (1, 2)]  # row groups, not bytes
    assert len(plan_file(str(path), path.stat().st_size, None, 10**9)) == 1
    key = lambda item: getattr(item, "position", None) or item.message  # noqa: E731
    assert sorted(ranged, key=key) == sorted(whole, key=key)
    assert ranged_in == whole_in == 300
    assert any(isinstance(i, ReadFailure) and "shard.parquet: row 78:" in i.message for i in ranged)


def test_a_file_that_two_patterns_match_is_read_once(tmp_path):
    """`--input books/ --input books/a.txt` used to read a.txt twice: duplicated documents, and an
    accounting that still held."""
    books = tmp_path / "books"
    books.mkdir()
    (books / "a.txt").write_text("A whole book.")
    (books / "b.txt").write_text("Another book.")
    items, records_in = _run([str(books), str(books / "a.txt"), str(books / "*.txt")])
    assert sorted(i.text for i in items) == ["A whole book.", "Another book."]
    assert records_in == 2
