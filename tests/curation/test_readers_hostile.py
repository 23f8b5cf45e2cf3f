"""Hostile input for the JSONL, Parquet and text readers (issue 21): one bad line, value or
row costs that record only, memory stays bounded by the record size limit, and a
truncated compressed file is an error, never a short file."""
from __future__ import annotations

import gzip
import io
import json
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from winnow.curation.archive import ReadFailure
from winnow.curation.readers import ReaderOptions, iter_jsonl, iter_parquet, iter_text
from winnow.curation.readers import common
from winnow.curation.readers.parquet_pages import largest_page
from winnow.curation.types import TextRecord
from tests.arrow_bytes import unvalidated_string_array

GOOD = b'{"id": "g", "text": "a good line"}\n'


def _records(items):
    return [i for i in items if isinstance(i, TextRecord)]


def _failures(items):
    return [i for i in items if isinstance(i, ReadFailure)]


def _storable(record: TextRecord) -> bool:
    """What Beam's coder and the Parquet writer need: every field encodes as UTF-8, no NUL in text."""
    for value in (record.text, record.id, record.url, record.date):
        value.encode("utf-8")
    return "\x00" not in record.text


def compress(data: bytes, suffix: str) -> bytes:
    if suffix == ".gz":
        return gzip.compress(data, compresslevel=1)
    if suffix == ".zst":
        return zstandard.ZstdCompressor(level=3).compress(data)
    return data


# --------------------------------------------------------------------------- values no coder can store


def test_lone_surrogates_are_replaced_in_text_and_refused_in_keys():
    data = (
        b'{"id": "a", "text": "half a pair \\ud83d here"}\n'
        b'{"id": "\\ud800", "text": "bad id"}\n'
        b'{"id": "c", "url": "http://x/\\udfff", "text": "bad url"}\n'
        b'{"id": "d", "date": "\\ud800", "text": "bad date"}\n' + GOOD
    )
    items = list(iter_jsonl(io.BytesIO(data), "s.jsonl"))
    assert len(items) == 5
    first, last = _records(items)
    assert first.text == "half a pair \ufffd here" and _storable(first) and last.text == "a good line"
    failures = _failures(items)
    assert [f.error_type for f in failures] == [common.ERROR_BAD_VALUE] * 3
    assert [f.message.split(": ")[1] for f in failures] == ["line 2", "line 3", "line 4"]
    assert all("lone surrogate" in f.message for f in failures)
    for f in failures:  # the failure rows themselves must be storable
        (f.message + f.url + f.warc_record_id).encode("utf-8")


def test_nul_is_dropped_from_text_and_refused_in_ids():
    items = list(iter_jsonl(io.BytesIO(b'{"text": "a\\u0000b\\u0000c"}\n{"id": "x\\u0000", "text": "t"}\n'), "n.jsonl"))
    (record,) = _records(items)
    assert record.text == "abc"
    (bad,) = _failures(items)
    assert "NUL" in bad.message and "line 2" in bad.message
    (whole,) = iter_text(io.BytesIO(b"chapter\x00 one"), "b.txt")
    assert whole.text == "chapter one"
    lines = list(iter_text(io.BytesIO(b"x\x00y\n"), "l.txt", ReaderOptions(text_format="lines")))
    assert lines[0].text == "xy"


def test_deep_nesting_and_huge_numbers_are_error_rows_and_reading_goes_on():
    data = b"[" * 200_000 + b"\n" + b'{"text": "t", "n": 1' + b"0" * 10_000 + b"}\n" + b'{"text": "t", "id": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n" + GOOD
    items = list(iter_jsonl(io.BytesIO(data), "deep.jsonl"))
    assert len(items) == 4 and items[-1].text == "a good line"
    assert [f.message.split(": ")[1] for f in _failures(items)] == ["line 1", "line 2", "line 3"]
    assert "nested too deeply" in items[0].message and "digits" in items[1].message


# --------------------------------------------------------------------------- the record size limit


@pytest.mark.parametrize("suffix", ["", ".gz", ".zst"])
def test_a_line_over_the_limit_is_an_error_row_and_the_next_line_counts(suffix):
    data = GOOD + b'{"text": "' + b"x" * 50_000 + b'"}\n' + GOOD
    items = list(iter_jsonl(io.BytesIO(compress(data, suffix)), f"long.jsonl{suffix}", ReaderOptions(max_record_bytes=10_000)))
    assert [type(i).__name__ for i in items] == ["TextRecord", "ReadFailure", "TextRecord"]
    assert items[1].error_type == common.ERROR_RECORD_TOO_LARGE and "line 2" in items[1].message
    assert "--max-record-bytes" in items[1].message


def _bomb(size: int, suffix: str) -> bytes:
    """`size` zero bytes without a newline after one good line, compressed as a stream."""
    if suffix == ".zst":
        out = io.BytesIO()
        with zstandard.ZstdCompressor(level=1).stream_writer(out, closefd=False) as writer:
            writer.write(GOOD)
            for _ in range(size // (1 << 20)):
                writer.write(bytes(1 << 20))
        return out.getvalue()
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1) as writer:
        writer.write(GOOD)
        for _ in range(size // (1 << 20)):
            writer.write(bytes(1 << 20))
    return out.getvalue()


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
@pytest.mark.parametrize("reader, name, options", [
    (iter_jsonl, "bomb.jsonl", ReaderOptions(max_record_bytes=1 << 20)),
    (iter_text, "bomb.txt", ReaderOptions(max_record_bytes=1 << 20, text_format="lines")),
    (iter_text, "bomb.txt", ReaderOptions(max_record_bytes=1 << 20)),
])
def test_decompression_bombs_cost_the_limit_not_the_inflated_size(suffix, reader, name, options):
    """200 MB of zeros without a newline: Python memory stays within a few times the 1 MB limit."""
    data = _bomb(200 << 20, suffix)
    assert len(data) < 1 << 20
    tracemalloc.start()
    try:
        items = list(reader(io.BytesIO(data), name + suffix, options))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 << 20, f"peak {peak / 2**20:.1f} MiB"  # zstd: up to ~16 MB out per 512-byte input chunk
    failures = _failures(items)
    assert failures and failures[-1].error_type in (common.ERROR_RECORD_TOO_LARGE, common.ERROR_TOO_LARGE)
    if options.text_format == "lines" or reader is iter_jsonl:
        assert _records(items)[0].text.strip() == ("a good line" if reader is iter_jsonl else GOOD.decode().strip())


# --------------------------------------------------------------------------- truncation


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_truncated_compressed_files_are_errors_never_short_files(suffix):
    data = b"".join(b'{"text": "doc %d %s"}\n' % (i, b"w" * 200) for i in range(2000))
    packed = compress(data, suffix)
    for cut in (len(packed) // 2, len(packed) - 3, 40):
        items = list(iter_jsonl(io.BytesIO(packed[:cut]), f"cut.jsonl{suffix}"))
        last = items[-1]
        assert isinstance(last, ReadFailure) and last.error_type == common.ERROR_TRUNCATED, (cut, last)
        assert "after line" in last.message and len(_records(items)) <= 2000  # a cut trailer loses no line
        (whole,) = iter_text(io.BytesIO(packed[:cut]), f"cut.txt{suffix}")
        assert whole.error_type == common.ERROR_TRUNCATED


def test_zstd_reads_every_frame_and_rejects_trailing_garbage():
    one = zstandard.ZstdCompressor().compress(GOOD * 3)
    assert len(_records(iter_jsonl(io.BytesIO(one + one), "two.jsonl.zst"))) == 6
    items = list(iter_jsonl(io.BytesIO(one + b"garbage!"), "junk.jsonl.zst"))
    assert len(_records(items)) == 3 and items[-1].error_type in (common.ERROR_UNREADABLE, common.ERROR_TRUNCATED)
    (empty,) = iter_jsonl(io.BytesIO(b""), "empty.jsonl.zst")
    assert empty.error_type == common.ERROR_EMPTY_FILE


# --------------------------------------------------------------------------- Parquet


def test_one_invalid_utf8_value_loses_only_its_row(tmp_path):
    texts = [b"good %d" % i for i in range(3000)]
    texts[1500] = b"bad \xff value"
    ids = [b"id%d" % i for i in range(3000)]
    ids[10] = b"\xfe"
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": unvalidated_string_array(texts), "id": unvalidated_string_array(ids)}), path, row_group_size=1000)
    items = list(iter_parquet(path.open("rb"), "bad.parquet"))
    assert len(items) == 3000 and len(_records(items)) == 2998
    assert [f.message.split(": ")[1] for f in _failures(items)] == ["row 11", "row 1501"]
    assert all(f.error_type == common.ERROR_UNDECODABLE for f in _failures(items))


def test_parquet_nul_and_a_value_over_the_limit(tmp_path):
    path = tmp_path / "n.parquet"
    pq.write_table(pa.table({"text": ["a\x00b", "y" * 5000, "ok"]}), path, row_group_size=1)
    items = list(iter_parquet(path.open("rb"), "n.parquet", ReaderOptions(max_record_bytes=1000)))
    assert [type(i).__name__ for i in items] == ["TextRecord", "ReadFailure", "TextRecord"]
    assert items[0].text == "ab" and items[1].error_type == common.ERROR_RECORD_TOO_LARGE
    assert "rows 2-2" in items[1].message


def test_a_dictionary_encoded_giant_value_is_never_expanded_per_row(tmp_path):
    """One 4 MB value in every one of 1,000 rows is a 4 MB dictionary page; expanded it would be 4 GB."""
    path = tmp_path / "dict.parquet"
    column = pa.DictionaryArray.from_arrays(pa.array([0] * 1000 + [1], pa.int32()), pa.array(["w" * (4 << 20), "fine"]))
    # store_schema=False: as a non-Arrow writer leaves it, so the reader is not told to keep the dictionary.
    pq.write_table(pa.table({"text": column}), path, compression="zstd", dictionary_pagesize_limit=16 << 20, store_schema=False)
    assert path.stat().st_size < 1 << 20
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).has_dictionary_page
    pool = pa.default_memory_pool()
    items = []
    for item in iter_parquet(path.open("rb"), "dict.parquet", ReaderOptions(max_record_bytes=8 << 20)):
        items.append(item.text[:4] if isinstance(item, TextRecord) else item)
        assert pool.bytes_allocated() < 64 << 20  # arrow holds the dictionary and indices, never 4 GB
    assert len(items) == 1001 and items[-1] == "fine" and items[0] == "wwww"


def test_rows_are_converted_in_slices_of_at_most_one_limit():
    from winnow.curation.readers.parquet import _slices

    assert list(_slices([3, 3, 3, 20, 3, 0], 7)) == [(0, 2, 0), (2, 3, 0), (3, 4, 20), (4, 6, 0)]


def test_a_giant_parquet_value_skips_its_row_group_before_inflating_it(tmp_path):
    path = tmp_path / "giant.parquet"
    with pq.ParquetWriter(path, pa.schema([("text", pa.string())]), compression="zstd") as writer:
        writer.write_table(pa.table({"text": ["first group"] * 3}))
        writer.write_table(pa.table({"text": ["small", "z" * (64 << 20), "small too"]}))
        writer.write_table(pa.table({"text": ["third group"] * 2}))
    assert path.stat().st_size < 1 << 20
    meta = pq.ParquetFile(path).metadata.row_group(1).column(0)
    start = min(meta.data_page_offset, meta.dictionary_page_offset or meta.data_page_offset)
    with path.open("rb") as f:
        assert largest_page(f, start, meta.num_values) >= 64 << 20
    pool = pa.default_memory_pool()
    before = pool.max_memory()
    items = list(iter_parquet(path.open("rb"), "giant.parquet", ReaderOptions(max_record_bytes=8 << 20)))
    assert [r.text for r in _records(items)] == ["first group"] * 3 + ["third group"] * 2
    (skipped,) = _failures(items)
    assert skipped.error_type == common.ERROR_RECORD_TOO_LARGE and "rows 4-6 (row group 2)" in skipped.message
    assert pool.max_memory() - before < 32 << 20 if before else True


def test_parquet_batches_shrink_so_a_batch_holds_about_one_limit(tmp_path):
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"text": ["v" * 100_000] * 50}), path, row_group_size=50)
    from winnow.curation.readers.parquet import _batch_rows, _column_chunks

    parquet = pq.ParquetFile(path)
    chunks = _column_chunks(parquet, 0, {"text"})
    assert _batch_rows(chunks, 50, 1_000) == 1  # dictionary-encoded: the chunk is small, the rows are not
    pq.write_table(pa.table({"text": [f"{i:05d}" + "v" * 100_000 for i in range(50)]}), path, row_group_size=50, use_dictionary=False)
    chunks = _column_chunks(pq.ParquetFile(path), 0, {"text"})
    assert _batch_rows(chunks, 50, 1_000_000) == 9
    assert len(_records(iter_parquet(path.open("rb"), "wide.parquet", ReaderOptions(max_record_bytes=2_000_000)))) == 50


def test_parquet_from_a_forward_only_stream_is_spooled_not_buffered(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"text": ["one", "two"]}), path)

    class ForwardOnly(io.RawIOBase):
        def __init__(self, data):
            self._inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self._inner.readinto(b)

    assert [r.text for r in iter_parquet(ForwardOnly(path.read_bytes()), "p.parquet")] == ["one", "two"]


# --------------------------------------------------------------------------- task, label and decontamination files


@pytest.mark.parametrize("line, phrase", [
    ("[" * 100_000, "nested too deeply"),
    ('{"a": 1' + "0" * 5000 + "}", "digits"),
    ('{"label": "good", "id": "\\ud800"}', "lone surrogate"),
])
def test_json_lines_raise_one_line_errors(tmp_path, line, phrase):
    from winnow.core.jsonl import json_lines
    from winnow.review.labels import LabelsError, parse_label_file
    from winnow.training.mc_tasks import load_mc_tasks

    with pytest.raises(ValueError, match=phrase):
        list(json_lines([line], "f.jsonl"))
    path = tmp_path / "f.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"f.jsonl:1: .*{phrase}"):
        load_mc_tasks(path)
    with pytest.raises(LabelsError, match=phrase):
        parse_label_file(path, ["x"])


def test_decontamination_sets_raise_one_line_errors(tmp_path):
    from winnow.curation.decontaminate import iter_eval_texts

    path = tmp_path / "e.jsonl"
    path.write_text("[" * 100_000 + "\n")
    with path.open("rb") as f, pytest.raises(ValueError, match="nested too deeply"):
        list(iter_eval_texts(str(path), f))


def test_json_reader_error_rows_have_distinct_ids():
    from winnow.curation import record_path
    from winnow.curation.triage import TriageConfig

    items = list(iter_jsonl(io.BytesIO(b"{bad\n{bad\n[1]\n"), "e.jsonl"))
    ids = {record_path.start(i, TriageConfig()).identity["id"] for i in items}
    assert len(ids) == 3
    assert json.dumps(sorted(ids))


def test_winnow_evaluate_prints_one_line_for_a_hostile_task_file(tmp_path, capsys):
    """Issue 21: `winnow evaluate` printed a RecursionError traceback on deeply nested JSON."""
    from winnow.cli import main

    tasks = tmp_path / "deep.jsonl"
    tasks.write_text("[" * 100_000 + "\n")
    # An unusable task file is bad input (exit 3), reported before the missing run is looked for.
    assert main(["evaluate", "--run", str(tmp_path / "no-run"), "--tasks", str(tasks)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.endswith("deep.jsonl:1: JSON nested too deeply to parse") and "Traceback" not in err and len(err.splitlines()) == 1


def test_decontamination_parquet_with_invalid_utf8_names_the_file(tmp_path):
    from winnow.curation.decontaminate import iter_eval_texts

    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"text": unvalidated_string_array([b"fine text", b"bad \xff"])}), path)
    with path.open("rb") as f, pytest.raises(ValueError, match="e.parquet: unreadable Parquet data in column 'text'"):
        list(iter_eval_texts(str(path), f))
