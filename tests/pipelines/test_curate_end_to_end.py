"""`run_curate` end to end: the sample WARC's labels, and every file in ../shared/data/warc."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from winnow.demo.sample_warc import SampleSpec, write_sample_warc
from winnow.pipelines.outputs import OutputExists
from winnow.pipelines.run_curate import CurateInputError, run_curate
from tests.cpu_load import HANG_GUARD_S

IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def read_table(output: Path, name: str) -> list[dict]:
    files = sorted((output / name).glob("*.parquet"))
    rows: list[dict] = []
    for f in files:
        rows.extend(pq.read_table(f).to_pylist())
    return rows


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("sample")
    warc = work / "sample.warc.gz"
    labels_path = write_sample_warc(warc, SampleSpec(pages=40, seed=3))
    output = work / "out"
    # multi_processing with two workers: proves every DoFn and record pickles across processes.
    stats = run_curate([str(warc)], str(output), recipe="extract", beam_args=["--direct_num_workers=2"])
    labels = [json.loads(line) for line in Path(labels_path).read_text().splitlines()]
    return stats, output, labels


def test_sample_accounting_and_stats(sample_run):
    stats, output, labels = sample_run
    assert stats["records_in"] == len(labels)
    assert stats["accounting"]["ok"], stats["accounting"]
    assert stats["records_in"] == stats["kept"] + stats["rejected_total"] + stats["errors"]
    on_disk = json.loads((output / "stats.json").read_text())
    assert on_disk["kept"] == stats["kept"] and on_disk["wall_time_s"] > 0
    assert set(on_disk["languages"]) >= {"en", "de", "fr"}
    assert on_disk["metrics"]["records_in"] == stats["records_in"]


def test_sample_outcomes_match_labels(sample_run):
    _, output, labels = sample_run
    kept = {r["warc_record_id"]: r for r in read_table(output, "documents")}
    rejected = {r["warc_record_id"]: r for r in read_table(output, "rejected")}
    errors = read_table(output, "errors")
    expected_errors = [l for l in labels if l["expect"]["outcome"] == "error"]
    assert len(errors) == len(expected_errors)
    assert all(e["stage"] == "read" for e in errors)
    mismatches = []
    for label in labels:
        expect = label["expect"]
        rid = label["warc_record_id"]
        if expect["outcome"] == "kept":
            if rid not in kept:
                mismatches.append((label["category"], label["url"], "expected kept", rejected.get(rid, {}).get("reason")))
            elif label.get("language") and kept[rid]["language"] != label["language"]:
                mismatches.append((label["category"], label["url"], "language", kept[rid]["language"]))
        elif expect["outcome"] == "rejected":
            got = rejected.get(rid)
            if got is None or (got["stage"], got["reason"]) != (expect["stage"], expect["reason"]):
                mismatches.append((label["category"], label["url"], expect, got and (got["stage"], got["reason"])))
    assert not mismatches, mismatches


def test_sample_documents_are_clean(sample_run):
    _, output, _ = sample_run
    docs = read_table(output, "documents")
    schema = pq.read_schema(next((output / "documents").glob("*.parquet")))
    assert schema.metadata[b"winnow.schema_version"] == b"2"
    for doc in docs:
        assert doc["text"].strip()
        assert "cookies" not in doc["text"].lower() or doc["language"] != "en"
        assert doc["id"] and doc["domain"] and doc["source"].endswith("sample.warc.gz")
        assert 0.0 <= doc["language_score"] <= 1.0


def test_refuses_existing_output(sample_run):
    _, output, _ = sample_run
    with pytest.raises(OutputExists, match="--overwrite"):
        run_curate([str(output.parent / "sample.warc.gz")], str(output), beam_args=IN_MEMORY)


def test_input_matching_nothing_is_a_clear_error(tmp_path):
    with pytest.raises(CurateInputError, match="matches no file"):
        run_curate([str(tmp_path / "nothing-*.warc.gz")], str(tmp_path / "out"), beam_args=IN_MEMORY)


@pytest.mark.slow
def test_every_shared_warc_is_accounted_for(shared_data, tmp_path):
    """The accounting identity holds on every real archive, and every 200 HTML page is kept or rejected."""
    from warcio.archiveiterator import ArchiveIterator

    files = sorted((shared_data / "warc").glob("*"))
    output = tmp_path / "out"
    stats = run_curate([str(f) for f in files], str(output), recipe="extract", beam_args=["--direct_num_workers=2"])
    assert stats["accounting"]["ok"], stats["accounting"]
    kept = {r["warc_record_id"] for r in read_table(output, "documents")}
    rejected = {r["warc_record_id"]: r["reason"] for r in read_table(output, "rejected")}
    errored = {r["warc_record_id"] for r in read_table(output, "errors")}
    html_pages = []
    for path in files:
        if not path.name.endswith(".warc.gz") or "wat" in path.name or "wet" in path.name or "clipped" in path.name:
            continue
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                if record.http_headers.get_statuscode() == "200" and "html" in (record.http_headers.get_header("Content-Type") or ""):
                    html_pages.append(record.rec_headers.get_header("WARC-Record-ID"))
    assert len(html_pages) > 150
    missing = [rid for rid in html_pages if rid not in kept and rid not in rejected and rid not in errored]
    assert not missing
    assert len([rid for rid in html_pages if rid in kept]) >= 0.6 * len(html_pages)
    # The ClueWeb quirk file's 29 EUC-JP pages come out as Japanese text.
    docs = [r for r in read_table(output, "documents") if "clueweb" in r["source"]]
    assert len(docs) >= 20 and all(d["language"] == "ja" for d in docs)


def _split_sample(warc: Path, parts: int, out_dir: Path) -> list[Path]:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    files = [out_dir / f"part-{i}.warc.gz" for i in range(parts)]
    handles = [open(f, "wb") for f in files]
    writers = [WARCWriter(h, gzip=True) for h in handles]
    with open(warc, "rb") as stream:
        for index, record in enumerate(ArchiveIterator(stream)):
            if record.rec_type == "response" and record.http_headers and record.http_headers.get_statuscode() == "200":
                writers[index % parts].write_record(record)
    for h in handles:
        h.close()
    return files


@pytest.mark.slow
def test_killed_run_resumes_without_loss_or_duplicates(tmp_path):
    """Kill a batched run part-way, resume it, and compare with an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    warc = tmp_path / "s.warc.gz"
    write_sample_warc(warc, SampleSpec(pages=12, seed=5))
    files = _split_sample(warc, 4, tmp_path)
    base = [sys.executable, "-m", "winnow.cli", "curate", "--files-per-run", "1", *IN_MEMORY]
    for f in files:
        base += ["--input", str(f)]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*base, "--output", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # No deadline: on a busy machine the first batch may take long, and killing before it would test nothing.
    while proc.poll() is None:
        if len(list((killed / "_progress").glob("*.json"))) >= 3:  # one batch done (record + stats) and more under way
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the batched run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run([*base, "--output", str(killed), "--resume"], capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    clean = tmp_path / "clean"
    subprocess.run([*base, "--output", str(clean)], check=True, capture_output=True, timeout=HANG_GUARD_S)
    a = json.loads((killed / "stats.json").read_text())
    b = json.loads((clean / "stats.json").read_text())
    assert a["accounting"]["ok"] and b["accounting"]["ok"]
    for key in ("records_in", "kept", "rejected_total", "errors"):
        assert a[key] == b[key], key
    assert 1 <= a["batches"]["skipped_complete"] < a["batches"]["total"] == 4
    ids = [r["id"] for r in read_table(killed, "documents")]
    assert len(ids) == len(set(ids)) == b["kept"]


def test_resume_refuses_with_overwrite(tmp_path):
    with pytest.raises(CurateInputError, match="contradict"):
        run_curate(["x"], str(tmp_path), beam_args=IN_MEMORY, resume=True, overwrite=True)


def test_jsonl_parquet_and_text_sources_share_the_path_and_the_accounting(tmp_path):
    """Non-archive inputs skip triage and extraction, keep their provenance, and a malformed
    line is an error row naming the file and line while the rest of the file counts."""
    import pyarrow as pa

    article = "".join(
        f"In week {w} the river town held its autumn market on the old stone bridge, as it does every year. "
        f"Farmers brought {c} from the valley, and the bakers sold bread that was still warm from the oven.\n"
        for w, c in ((1, "apples"), (2, "pears"), (3, "plums"), (4, "pumpkins"))
    )
    jsonl = tmp_path / "books.jsonl"
    jsonl.write_text(
        json.dumps({"id": "b1", "text": article}) + "\n" + "{not json\n" + json.dumps({"id": "b2", "text": "   "}) + "\n"
    )
    pq.write_table(pa.table({"text": [article.replace("apples", "figs")], "id": ["p1"]}), tmp_path / "wiki.parquet")
    (tmp_path / "notes.txt").write_text(article.replace("pears", "cherries"))
    out = tmp_path / "out"
    stats = run_curate(
        [str(jsonl), str(tmp_path / "wiki.parquet"), str(tmp_path / "notes.txt")], str(out), recipe="extract",
        beam_args=IN_MEMORY, source_name="books",
    )
    assert stats["accounting"]["ok"] and stats["records_in"] == 5
    assert (stats["kept"], stats["rejected_total"], stats["errors"]) == (3, 1, 1)
    errors = pq.read_table(out / "errors").to_pylist()
    assert len(errors) == 1 and "books.jsonl" in errors[0]["error_message"] and "line 2" in errors[0]["error_message"]
    rejected = pq.read_table(out / "rejected").to_pylist()
    assert [(r["stage"], r["reason"]) for r in rejected] == [("triage", "empty_payload")]
    kept = pq.read_table(out / "documents").to_pylist()
    assert {r["source_name"] for r in kept} == {"books"} and all(r["text"].startswith("In week 1") for r in kept)
    assert {r["id"] for r in kept} >= {"b1", "p1"}


def test_one_large_warc_read_in_byte_ranges_curates_the_same_rows_without_a_record_shuffle(
    sample_run, tmp_path, monkeypatch
):
    """A single large gzipped WARC used to reach the workers through a record shuffle, which a local
    runner holds whole in memory (an 83 MB WARC peaked at 2.3 GB). Read in byte ranges, it spreads
    without one, and the outcome of every record is the same."""
    from winnow.curation import archive_ranges
    from winnow.pipelines import run_curate as run_curate_module

    _, whole_output, labels = sample_run
    warc = tmp_path / "sample.warc.gz"
    write_sample_warc(warc, SampleSpec(pages=40, seed=3))
    monkeypatch.setattr(archive_ranges, "SPLIT_BYTES", warc.stat().st_size // 7)
    spread = []
    build = run_curate_module.build_curate_pipeline
    monkeypatch.setattr(run_curate_module, "build_curate_pipeline",
                        lambda *a, **k: spread.append((k["split_large_files"], k["spread_records"])) or build(*a, **k))
    output = tmp_path / "out"
    stats = run_curate([str(warc)], str(output), recipe="extract", beam_args=["--direct_num_workers=2"])
    assert spread == [(True, False)]  # split, and no record shuffle
    assert stats["accounting"]["ok"] and stats["records_in"] == len(labels)
    def rows(folder: Path, source: Path) -> list[str]:  # the same file in another folder: its path aside
        return sorted(json.dumps(row, sort_keys=True, default=str).replace(str(source), "WARC") for row in read_table(folder, table))

    for table in ("documents", "rejected", "errors"):
        assert rows(output, warc) == rows(whole_output, whole_output.parent / "sample.warc.gz"), table
    assert read_table(output, "errors")  # the sample's broken records are read the same way too

    # Two files per worker keep every worker busy as they are: no split, no shuffle.
    folder = tmp_path / "four"
    folder.mkdir()
    for i in range(4):
        (folder / f"copy-{i}.warc.gz").write_bytes(warc.read_bytes())
    run_curate([str(folder)], str(tmp_path / "out-four"), recipe="extract", beam_args=["--direct_num_workers=2"])
    assert spread[1:] == [(False, False)]


def test_one_large_jsonl_file_read_in_line_ranges_curates_the_same_rows(tmp_path, monkeypatch):
    from winnow.curation import archive_ranges
    from winnow.pipelines import read_sources

    source = tmp_path / "docs.jsonl"
    lines = [json.dumps({"id": f"d{i}", "text": f"Document number {i} is about rivers and their towns. " * (i % 5 + 1)})
             for i in range(300)]
    lines[123] = "{not json"
    source.write_text("\n".join(lines) + "\n")
    whole = run_curate([str(source)], str(tmp_path / "whole"), recipe="extract", beam_args=["--direct_num_workers=2"])
    monkeypatch.setattr(archive_ranges, "SPLIT_BYTES", source.stat().st_size // 9)
    planned = []
    plan_file = read_sources.plan_file
    monkeypatch.setattr(read_sources, "plan_file", lambda *a, **k: planned.append(plan_file(*a, **k)) or planned[-1])
    ranged = run_curate([str(source)], str(tmp_path / "ranged"), recipe="extract", beam_args=["--direct_num_workers=2"])
    assert [len(plan) for plan in planned] == [9] or [len(plan) for plan in planned] == [10]
    assert ranged["accounting"]["ok"] and ranged["records_in"] == whole["records_in"] == 300
    for table in ("documents", "rejected", "errors"):
        key = lambda row: json.dumps(row, sort_keys=True, default=str)  # noqa: E731
        assert sorted(map(key, read_table(tmp_path / "ranged", table))) == sorted(map(key, read_table(tmp_path / "whole", table))), table
    assert read_table(tmp_path / "ranged", "errors")[0]["error_message"].endswith("line 124: not valid JSON: Expecting property name enclosed in double quotes (column 2)")


def test_one_large_parquet_file_read_in_runs_of_row_groups_curates_the_same_rows(tmp_path, monkeypatch):
    """One Parquet shard used to be read, and curated, by one worker however many the machine had."""
    import pyarrow as pa

    from winnow.curation import archive_ranges
    from winnow.pipelines import read_sources
    from winnow.pipelines import run_curate as run_curate_module

    (tmp_path / "in").mkdir()
    source = tmp_path / "in" / "shard.parquet"
    texts = [f"Document number {i} is about rivers and their towns. " * (i % 5 + 1) for i in range(300)]
    texts[123] = None
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(300)], "text": texts}), source, row_group_size=30)
    whole = run_curate([str(source)], str(tmp_path / "whole"), recipe="extract", beam_args=["--direct_num_workers=2"])
    monkeypatch.setattr(archive_ranges, "SPLIT_BYTES", 1)  # every row group its own read
    planned = []
    plan_file = read_sources.plan_file
    monkeypatch.setattr(read_sources, "plan_file", lambda *a, **k: planned.append(plan_file(*a, **k)) or planned[-1])
    spread = []
    build = run_curate_module.build_curate_pipeline
    monkeypatch.setattr(run_curate_module, "build_curate_pipeline",
                        lambda *a, **k: spread.append((k["split_large_files"], k["spread_records"])) or build(*a, **k))
    # Named by its folder: a folder says nothing of the formats inside it, and its one Parquet
    # file's records used to be shuffled (a local runner holds a shuffle's whole input in memory).
    ranged = run_curate([str(tmp_path / "in")], str(tmp_path / "ranged"), recipe="extract", beam_args=["--direct_num_workers=2"])
    assert spread == [(True, False)]  # split, and no record shuffle
    assert [len(plan) for plan in planned] == [10]
    assert ranged["accounting"]["ok"] and ranged["records_in"] == whole["records_in"] == 300
    for table in ("documents", "rejected", "errors"):
        key = lambda row: json.dumps(row, sort_keys=True, default=str)  # noqa: E731
        assert sorted(map(key, read_table(tmp_path / "ranged", table))) == sorted(map(key, read_table(tmp_path / "whole", table))), table
    assert "row 124:" in read_table(tmp_path / "ranged", "errors")[0]["error_message"]
