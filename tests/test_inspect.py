"""`winnow inspect` on Parquet files and output directories."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winnow import schemas
from winnow.cli import main
from winnow.inspect import InspectError, funnel, inspect_path

SIGNALS = [("gopher_quality_word_count", "int"), ("fineweb_line_punct_ratio", "float")]


def write(path, schema, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def doc(i, lang="en", words=100, text=None):
    return {
        "id": f"{i:016x}", "url": f"https://e.org/{i}", "domain": "e.org", "warc_record_id": f"<urn:{i}>",
        "warc_date": "2024", "source": "a.warc.gz", "text": text or ("word " * words), "language": lang,
        "language_score": 0.9, "gopher_quality_word_count": words, "fineweb_line_punct_ratio": 0.5,
    }


@pytest.fixture()
def output_dir(tmp_path):
    out = tmp_path / "out"
    write(out / "documents" / "part-0.parquet", schemas.document_schema(SIGNALS), [doc(i, "en" if i % 3 else "de", 100 + i) for i in range(30)])
    rejected = [dict(doc(100 + i, words=10), stage="gopher_quality", reason="gopher_below_min_words", detail="") for i in range(5)]
    rejected.append(dict(doc(200, words=0), stage="triage", reason="not_html", detail="image/png", text=None, gopher_quality_word_count=None))
    write(out / "rejected" / "part-0.parquet", schemas.rejected_schema(SIGNALS), rejected)
    write(out / "errors" / "part-0.parquet", schemas.error_schema(), [
        {"id": "e1", "url": "", "warc_record_id": "", "source": "b.warc.gz", "stage": "read", "error_type": "TruncatedGzip", "error_message": "cut", "traceback": None}
    ])
    stats = {
        "recipe": "fineweb", "records_in": 37, "kept": 30, "rejected_total": 6, "errors": 1,
        "rejected": {"triage": {"not_html": 1}, "gopher_quality": {"gopher_below_min_words": 5}},
        "errors_by_stage": {"read": {"TruncatedGzip": 1}},
        "stage_order": ["read", "triage", "decode", "extract", "language", "gopher_quality"],
        "accounting": {"ok": True, "unaccounted": 0},
    }
    (out / "stats.json").write_text(json.dumps(stats))
    return out


def test_output_directory_report(output_dir):
    report = inspect_path(output_dir)
    docs = report["tables"]["documents"]
    assert docs["rows"] == 30
    assert docs["languages"] == {"en": 20, "de": 10}
    assert docs["text_chars"]["p50"] > 0
    assert report["tables"]["rejected"]["by_reason"] == {"gopher_quality/gopher_below_min_words": 5, "triage/not_html": 1}
    assert report["tables"]["errors"]["by_error_type"] == {"read/TruncatedGzip": 1}
    kept_vs = report["signals_kept_vs_rejected"]["gopher_quality_word_count"]
    assert kept_vs["kept"]["p50"] > kept_vs["rejected"]["p50"]


def test_funnel_follows_pipeline_order(output_dir):
    rows = funnel(json.loads((output_dir / "stats.json").read_text()))
    assert [r["stage"] for r in rows][:3] == ["read", "triage", "decode"]
    assert rows[0] == {"stage": "read", "in": 37, "out": 36, "rejected": 0, "errors": 1, "top_reasons": {}}
    assert rows[-1]["stage"] == "gopher_quality" and rows[-1]["out"] == 30


def test_single_file_and_json_cli(output_dir, capsys):
    assert main(["inspect", str(output_dir / "documents" / "part-0.parquet"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "parquet" and out["table"]["rows"] == 30
    assert out["table"]["schema_metadata"]["winnow.schema"] == "documents"


def test_rich_rendering(output_dir, capsys):
    assert main(["inspect", str(output_dir)]) == 0
    text = capsys.readouterr().out
    assert "funnel" in text and "gopher_below_min_words" in text and "accounting holds" in text


def test_corrupt_parquet_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InspectError, match="bad.parquet"):
        inspect_path(bad)
    assert main(["inspect", str(bad)]) == 3  # a corrupt file is unusable input (exit 3), not a wrong argument
    assert "bad.parquet" in capsys.readouterr().err


def test_missing_path(tmp_path, capsys):
    with pytest.raises(InspectError, match="no such file"):
        inspect_path(tmp_path / "nope")
    assert main(["inspect", str(tmp_path / "nope")]) == 2  # a path that names nothing: a wrong argument
    assert "nope: no such file or directory" in capsys.readouterr().err


# --- directories without tables: token directories, training runs, runs; dedup outputs ---

@pytest.fixture()
def full_run(tmp_path, monkeypatch):
    from tests.test_report import _write_full_run

    monkeypatch.setenv("COLUMNS", "250")  # rich wraps long lines to the terminal's width
    run = tmp_path / "run"
    _write_full_run(run)
    return run


def test_token_directory_is_described(full_run, capsys):
    report = inspect_path(full_run / "tokens")
    assert report["kind"] == "token directory" and report["dtype"] == "uint16"
    assert report["splits"]["train"] == {"tokens": 1000, "documents": 5, "utf8_bytes": 4000, "shards": 1}
    assert main(["inspect", str(full_run / "tokens")]) == 0
    out = capsys.readouterr().out
    assert "token directory" in out and "1,000" in out and "no Parquet files" not in out
    assert "winnow train --input" in out


def test_training_run_is_described(full_run, capsys):
    (full_run / "train" / "checkpoints" / "step-20").mkdir(parents=True)
    report = inspect_path(full_run / "train")
    assert report["kind"] == "training run" and report["train_rows"] == 20 and report["val_rows"] == 2
    assert report["last_val"]["val_bpb"] == 1.85 and report["checkpoints"] == ["step-20"]
    assert main(["inspect", str(full_run / "train")]) == 0
    out = capsys.readouterr().out
    assert "training run" in out and "val_bpb 1.85" in out and "step-20" in out


def test_run_directory_lists_its_stage_folders(full_run, capsys):
    report = inspect_path(full_run)
    assert report["kind"] == "winnow run directory"
    assert report["folders"]["curate"] == "curate output" and report["folders"]["tokens"] == "token directory"
    assert report["stages"]["curate"]["status"] == "ran"
    assert main(["inspect", str(full_run)]) == 0
    assert "winnow inspect" in capsys.readouterr().out


def test_dedup_output_prints_no_recipe_none(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    out = tmp_path / "dedup"
    write(out / "documents" / "part-0.parquet", schemas.document_schema(SIGNALS), [doc(i) for i in range(3)])
    (out / "duplicates").mkdir()
    (out / "stats.json").write_text(json.dumps({"documents_in": 5, "kept": 3, "exact_duplicates": 1, "near_duplicates": 1,
                                                "accounting": {"ok": True}}))
    assert main(["inspect", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "None" not in printed
    assert "dedup: documents in 5, kept 3, exact duplicates 1, near duplicates 1; accounting holds" in printed


def test_a_folder_with_nothing_winnow_wrote_says_what_was_looked_for(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(InspectError, match="not a Winnow output directory.*metrics.jsonl"):
        inspect_path(tmp_path)
