"""The pure helpers of benchmarks/curate_vs_datatrove.py (the benchmark itself needs the DataTrove venv)."""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "curate_vs_datatrove.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("curate_vs_datatrove", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_keeps_every_record_and_uses_every_file(bench, tmp_path):
    pytest.importorskip("warcio")
    from winnow.demo.sample_warc import SampleSpec, write_sample_warc

    sample = tmp_path / "sample.warc.gz"
    write_sample_warc(sample, SampleSpec(pages=5, seed=0))
    labels = (tmp_path / "sample.labels.jsonl").read_text().splitlines()
    (tmp_path / "split").mkdir()
    parts = bench.split_warc(sample, 4, tmp_path / "split")
    counts = [bench.count_warc_records(p) for p in parts]
    assert len(parts) == 4 and all(c > 0 for c in counts)
    # Round-robin dealing: part sizes differ by at most one record.
    assert max(counts) - min(counts) <= 1
    assert sum(counts) == bench.count_warc_records(sample) == len(labels)


def test_gzip_is_complete_spots_a_clipped_file(bench, tmp_path):
    whole = tmp_path / "whole.gz"
    whole.write_bytes(gzip.compress(b"record " * 5000))
    clipped = tmp_path / "clipped.gz"
    clipped.write_bytes(whole.read_bytes()[:-20])
    assert bench.gzip_is_complete(whole)
    assert not bench.gzip_is_complete(clipped)


def _block(name: str, seconds: float = 0.5, **stats) -> dict:
    return {"name": name, "time_stats": {"total": seconds, "mean": seconds / 4}, "stats": stats}


def test_summarise_datatrove_accounts_for_what_its_reader_read(bench):
    # The shape of DataTrove 0.10.1's merged stats.json: counters are ints or {"total": n, ...}.
    stats = [
        _block("📖 - READER: 🕷 Warc", input_files=4, documents={"total": 100, "mean": 25.0}),
        _block("🔻 - FILTER: 😈 Url-filter", total=100, forwarded=99, dropped=1),
        _block("🛢 - EXTRAC: ⛏ Trafilatura", seconds=3.25, total=99, extracted=97, timeout=2, forwarded=90, dropped=7),
        _block("🔻 - FILTER: 🌍 Language ID", total=90, forwarded=80, dropped={"total": 10}),
        _block("💽 - WRITER: 📒 Parquet", total=80),
    ]
    summary = bench.summarise_datatrove(stats, wall=10.0, run_s=9.0)
    assert summary["read"] == 100
    assert summary["kept"] == 80
    assert summary["dropped"] == {
        "🔻 - FILTER: 😈 Url-filter": {"dropped": 1},
        "🛢 - EXTRAC: ⛏ Trafilatura": {"timeout": 2, "dropped": 7},
        "🔻 - FILTER: 🌍 Language ID": {"dropped": 10},
    }
    assert summary["dropped_total"] == 20
    assert summary["accounted"] == summary["read"]
    assert summary["step_seconds"]["🛢 - EXTRAC: ⛏ Trafilatura"] == 3.25
    assert sum(summary["step_seconds"].values()) == pytest.approx(3.25 + 4 * 0.5)


def test_ut1_recipe_changes_only_the_blocklist_dirs(bench, tmp_path):
    from winnow.curation.recipe import load_recipe

    shipped = load_recipe("fineweb")
    derived = load_recipe(str(bench.fineweb_recipe_with_ut1(tmp_path)))
    assert [s.name for s in derived.steps] == [s.name for s in shipped.steps]
    for ours, theirs in zip(derived.steps, shipped.steps):
        if ours.name == "url_filter":
            assert ours.config.blocklist_dirs == (str(bench.SHARED_UT1),)
            assert ours.config.categories == theirs.config.categories
        else:
            assert ours.config == theirs.config


def test_compare_kept_matches_documents_by_warc_record_id(bench, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "dt_out").mkdir()
    out = tmp_path / "winnow_out"
    for table in ("documents", "rejected", "errors"):
        (out / table).mkdir(parents=True)
    pq.write_table(pa.table({"id": ["<a>", "<b>", "<c>"], "text": ["x", "y", "z"]}), tmp_path / "dt_out" / "000.parquet")
    pq.write_table(pa.table({"warc_record_id": ["<a>", "<d>"]}), out / "documents" / "p.parquet")
    pq.write_table(pa.table({"warc_record_id": ["<b>"], "stage": ["triage"], "reason": ["http_status"]}),
                   out / "rejected" / "p.parquet")
    pq.write_table(pa.table({"warc_record_id": ["<c>"], "stage": ["read"], "error_type": ["TruncatedGzip"]}),
                   out / "errors" / "p.parquet")
    agreement = bench.compare_kept(tmp_path)
    assert agreement == {
        "kept_by_both": 1,
        "only_datatrove": 2,
        "only_winnow": 1,
        "winnow_outcome_of_only_datatrove": {"rejected triage/http_status": 1, "error read/TruncatedGzip": 1},
    }


def test_generated_datatrove_scripts_compile(bench):
    # They run under another interpreter, so a syntax slip would only show in a full benchmark run.
    compile(bench._DT_LOCAL_MODULE, "dt_local.py", "exec")
    compile(bench._DT_PIPELINE_SCRIPT, "dt_pipeline.py", "exec")
    compile(bench._PUNKT_TAB_WRITER, "punkt_tab_writer.py", "exec")
