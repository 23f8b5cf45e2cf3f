"""Peak memory of `winnow curate` on a file of many large records (issue 21).

Each record is under the record size limit, so the readers pass every one on;
the pipeline must then curate and write them one at a time instead of holding
them all (the record redistribution of a local run, 32-record batches and
Beam's 1,000-row Parquet buffer held all of them: 3.5 to 4.7 GB on 8 records of
60 MB). Memory does not depend on machine load, so the bound is asserted.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zstandard

RECORDS = 16
RECORD_MB = 30
PEAK_LIMIT_BYTES = 1_000_000_000

# Runs `winnow curate` as its child and prints the largest RSS any process of its tree
# reached (RUSAGE_CHILDREN of a fresh parent: earlier children of pytest do not count).
_MEASURE = """
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
print(rc.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
sys.stderr.write(rc.stderr[-3000:])
"""


def _prose_block(rng: random.Random, size: int) -> str:
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(3000)]
    words = " ".join(rng.choices(vocab, k=size // 4))
    return words[:size]


def _write_large_records(path: Path) -> None:
    rng = random.Random(21)
    block = _prose_block(rng, 1_000_000)
    compressor = zstandard.ZstdCompressor(level=1)
    with open(path, "wb") as raw, compressor.stream_writer(raw) as out:
        for i in range(RECORDS):
            text = " ".join([block] * RECORD_MB)
            out.write((json.dumps({"id": f"large-{i}", "text": text}) + "\n").encode())


@pytest.mark.slow
def test_many_large_records_are_curated_one_at_a_time(tmp_path: Path):
    source = tmp_path / "large.jsonl.zst"
    _write_large_records(source)
    out = tmp_path / "out"
    winnow = [sys.executable, "-m", "winnow.cli", "curate", "--input", str(source), "--output", str(out)]
    done = subprocess.run([sys.executable, "-c", _MEASURE, *winnow], capture_output=True, text=True, timeout=600)
    returncode, peak = (int(v) for v in done.stdout.split())
    assert returncode == 0, done.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["records_in"] == RECORDS
    assert stats["kept"] + stats["rejected_total"] + stats["errors"] == RECORDS
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in (out / "documents").glob("*.parquet"))
    assert rows == stats["kept"]
    # 16 x 30 MB = 480 MB of text: holding them all would pass the bound several times over.
    assert peak < PEAK_LIMIT_BYTES, f"peak RSS {peak / 2**20:.0f} MiB"


def test_batch_weight_makes_a_huge_record_a_batch_alone():
    from winnow.curation.types import TextRecord
    from winnow.pipelines.curate import BATCH_BYTES, batch_weight

    small, two_mib, huge = (TextRecord(text="x" * n, source="f") for n in (100, 2 * 2**20, BATCH_BYTES * 2))
    assert batch_weight(small, 32) == 1
    assert batch_weight(two_mib, 32) == 3
    assert batch_weight(huge, 32) == 32  # capped at a whole batch: never an empty batch before it


@pytest.mark.parametrize(("patterns", "fmt", "expected"), [
    (["a.jsonl.zst", "b.parquet"], None, False),
    (["a.jsonl", "c.warc.gz"], None, True),
    (["corpus/"], None, True),  # a folder may hold anything
    (["c.warc.gz"], "jsonl", False),
    (["x.data"], "warc", True),
])
def test_local_runs_spread_records_only_for_possible_web_archives(patterns, fmt, expected):
    from winnow.pipelines.curate import may_hold_archives

    assert may_hold_archives(patterns, fmt) is expected


def test_rows_to_tables_converts_by_bytes_and_keeps_every_row(monkeypatch):
    import pyarrow as pa

    from winnow.pipelines import outputs

    monkeypatch.setattr(outputs, "BATCH_BYTES", 1000)
    monkeypatch.setattr(outputs, "ROW_GROUP_BYTES", 3000)
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("url", pa.string())])
    fn = outputs.RowsToTables(schema)
    fn.start_bundle()
    tables = []
    for i in range(10):
        tables += list(fn.process({"id": str(i), "text": "y" * 1500}))  # no url: a nullable field left out
        assert fn._rows == []  # over BATCH_BYTES: converted at once, not held as Python
    tables += [value.value for value in fn.finish_bundle()]
    assert len(tables) > 1
    ids = [i for table in tables for i in table.column("id").to_pylist()]
    assert ids == [str(i) for i in range(10)]
    assert all(url is None for table in tables for url in table.column("url").to_pylist())


def test_utf8_length_counts_in_pieces_like_a_whole_encode(monkeypatch):
    from winnow.curation.readers import jsonl

    monkeypatch.setattr(jsonl, "UTF8_LENGTH_CHUNK", 3)
    text = "aé\ud800€😀b\udc00" * 5
    assert jsonl.utf8_length(text, 10_000) == len(text.encode("utf-8", "surrogatepass"))
    assert jsonl.utf8_length(text, 5) > 5  # stops once past the limit
    assert jsonl.utf8_length("x" * 50, 10) == 50
