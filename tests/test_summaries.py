"""winnow.summaries: the curation funnel, defined once, and its users agree."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winnow import schemas
from winnow.inspect import InspectError, funnel, inspect_path
from winnow.report import write_report
from winnow.summaries import (
    DEFAULT_STAGE_ORDER, EXIT_ALL_FAILED, ErrorGroup, StatsError, curation_funnel, error_groups, exit_status,
    documents_input_problem, group_error_rows, one_line, ranked_counts, run_outcome, stage_counts,
    training_run_problem,
)

STATS = {
    "recipe": "fineweb", "records_in": 20, "kept": 12, "rejected_total": 6, "errors": 2,
    "stage_order": ["read", "triage", "decode", "extract", "language", "gopher_quality"],
    "rejected": {"triage": {"not_html": 2}, "gopher_quality": {"b_rule": 2, "a_rule": 2}},
    "errors_by_stage": {"read": {"TruncatedGzip": 1}, "extract": {"ValueError": 1}},
    "accounting": {"ok": True, "unaccounted": 0},
}


def test_rows_chain_and_add_up():
    rows = curation_funnel(STATS, "stats.json")
    assert [r.stage for r in rows] == STATS["stage_order"]
    assert rows[0].row() == {"stage": "read", "in": 20, "rejected": 0, "errors": 1, "out": 19}
    for before, after in zip(rows, rows[1:]):
        assert after.entered == before.left
    assert rows[-1].left == STATS["kept"]
    assert sum(r.rejected for r in rows) == STATS["rejected_total"] and sum(r.errors for r in rows) == STATS["errors"]
    # Ties are broken by name so every command lists reasons in the same order.
    assert rows[-1].reasons == (("a_rule", 2), ("b_rule", 2))


def test_stages_missing_from_stage_order_are_appended():
    stats = {**STATS, "stage_order": ["read", "triage"]}
    rows = curation_funnel(stats, "stats.json")
    assert [r.stage for r in rows] == ["read", "triage", "gopher_quality", "extract"]
    assert rows[-1].left == STATS["kept"]


def test_old_stats_without_stage_order_use_the_pipeline_order():
    stats = {k: v for k, v in STATS.items() if k != "stage_order"}
    assert [r.stage for r in curation_funnel(stats, "s")] == [*DEFAULT_STAGE_ORDER, "gopher_quality"]
    assert DEFAULT_STAGE_ORDER == ("read", "triage", "decode", "extract", "language")


@pytest.mark.parametrize(("change", "message"), [
    ({"records_in": "many"}, r"s\.json: records_in: expected a number, found 'many'"),
    ({"records_in": True}, r"records_in: expected a number"),
    ({"rejected": ["x"]}, r"'rejected' and 'errors_by_stage' must be objects"),
    ({"rejected": {"triage": {"not_html": "2"}}}, r"rejected\.triage\.not_html: expected a number"),
    ({"errors_by_stage": {"read": 3}}, r"errors_by_stage\.read: expected an object of counts"),
])
def test_malformed_stats_name_the_file_and_key(change, message):
    with pytest.raises(StatsError, match=message):
        curation_funnel({**STATS, **change}, "s.json")


def test_stage_counts_and_ranking():
    counts = stage_counts(STATS, "s")
    assert counts.records_in == 20 and counts.errors_by_stage["extract"] == {"ValueError": 1}
    assert ranked_counts({"b": 1, "a": 1, "c": 5}) == [("c", 5), ("a", 1), ("b", 1)]


def _output_dir(root: Path) -> Path:
    signals = [("gopher_quality_word_count", "int")]
    doc = {"id": "d", "url": "u", "domain": "d", "warc_record_id": "w", "warc_date": "2024", "source": "s",
           "text": "t", "language": "en", "language_score": 0.9, "gopher_quality_word_count": 100}
    for table, schema, row in (("documents", schemas.document_schema(signals), doc),
                               ("rejected", schemas.rejected_schema(signals),
                                {**doc, "stage": "gopher_quality", "reason": "a_rule", "detail": "", "gopher_quality_word_count": 3})):
        (root / table).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist([row], schema=schema), root / table / "part-0.parquet")
    (root / "stats.json").write_text(json.dumps(STATS), encoding="utf-8")
    return root


def test_inspect_and_report_show_the_same_funnel(tmp_path: Path):
    """One definition: `winnow inspect` and `winnow report` cannot disagree about the funnel."""
    curate = _output_dir(tmp_path / "run" / "curate")
    inspected = inspect_path(curate)["funnel"]
    _, summary_path = write_report(tmp_path / "run")
    reported = json.loads(summary_path.read_text())["sections"]["curation"]["funnel"]
    assert [{k: v for k, v in row.items() if k != "top_reasons"} for row in inspected] == reported
    assert inspected[-1]["top_reasons"] == {"a_rule": 2, "b_rule": 2}


def test_inspect_names_a_malformed_stats_file(tmp_path: Path):
    curate = _output_dir(tmp_path / "curate")
    (curate / "stats.json").write_text(json.dumps({**STATS, "rejected": {"triage": {"not_html": None}}}))
    with pytest.raises(InspectError, match=r"stats\.json: rejected\.triage\.not_html: expected a number"):
        inspect_path(curate)
    (curate / "stats.json").write_text("[1, 2]")
    with pytest.raises(InspectError, match="expected a JSON object"):
        inspect_path(curate)
    with pytest.raises(InspectError, match="records_in"):
        funnel({"rejected": {}, "records_in": None})


# --- errors summarised ---

def _error_row(stage: str, kind: str, source: str, row_id: str, message: str) -> dict:
    return {"id": row_id, "url": None, "warc_record_id": None, "source": source, "source_name": None,
            "stage": stage, "error_type": kind, "error_message": message, "traceback": None}


def test_error_groups_by_stage_and_type_with_a_fixed_first_row(tmp_path: Path):
    rows = [
        _error_row("read", "MissingField", "b.jsonl", "b:1", "b.jsonl: line 1: no field 'text'"),
        _error_row("read", "MissingField", "a.jsonl", "a:2", "a.jsonl: line 2: no field 'text'"),
        _error_row("read", "MissingField", "a.jsonl", "a:1", "a.jsonl: line 1: no field 'text'"),
        _error_row("extract", "ValueError", "c.warc", "c:9", "bad html\nsecond line"),
    ]
    errors = tmp_path / "errors"
    errors.mkdir()
    # Two shards in either order give the same summary: the first row is chosen by (file, id), not by arrival.
    pq.write_table(pa.Table.from_pylist(rows[:2], schema=schemas.error_schema()), errors / "part-1.parquet")
    pq.write_table(pa.Table.from_pylist(rows[2:], schema=schemas.error_schema()), errors / "part-0.parquet")
    groups = error_groups(str(errors))
    assert groups == [
        ErrorGroup("read", "MissingField", 3, "a.jsonl: line 1: no field 'text'", "a.jsonl"),
        ErrorGroup("extract", "ValueError", 1, "bad html\nsecond line", "c.warc"),
    ]
    assert group_error_rows(reversed(rows)) == groups
    assert one_line(groups[1].first_message) == "bad html"
    assert one_line("x" * 300, limit=10) == "x" * 9 + "…"


@pytest.mark.parametrize(("totals", "all_failed", "headline", "status"), [
    ((5, 0, 0, 5), True, "EVERY RECORD FAILED", EXIT_ALL_FAILED),
    ((5, 0, 3, 2), False, "NOTHING KEPT", 0),
    ((0, 0, 0, 0), False, "NOTHING WAS READ", 0),
    ((5, 2, 2, 1), False, None, 0),
])
def test_run_outcome_headline_and_exit_status(totals, all_failed, headline, status):
    records_in, kept, rejected, errors = totals
    stats = {"records_in": records_in, "kept": kept, "rejected_total": rejected, "errors": errors,
             "accounting": {"ok": True, "unaccounted": 0}}
    outcome = run_outcome(stats, "stats.json")
    assert outcome.all_failed is all_failed
    assert (outcome.headline() or "").startswith(headline or "") and (headline is None) == (outcome.headline() is None)
    assert exit_status(stats) == status
    assert exit_status({**stats, "accounting": {"ok": False, "unaccounted": 1}}) == 1
    assert EXIT_ALL_FAILED != 0


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_curate_in_which_every_record_failed_says_why_and_exits_non_zero(tmp_path: Path, capsys, monkeypatch):
    from winnow.cli import main as cli_main

    monkeypatch.setenv("COLUMNS", "300")  # rich wraps table cells to the terminal's width

    source = _jsonl(tmp_path / "wrong.jsonl", [{"id": str(i), "body": "a page of words " * 40} for i in range(4)])
    status = cli_main(["curate", "--input", str(source), "--output", str(tmp_path / "out"), "--recipe", "extract",
                       "--direct_running_mode=in_memory", "--direct_num_workers=1"])
    captured = capsys.readouterr()
    assert status == EXIT_ALL_FAILED
    assert "EVERY RECORD FAILED" in captured.out and "every record failed" in captured.err
    # The cause is in the command's own output: stage, type, the first message and its file.
    table = captured.out
    assert "MissingField" in table and "no field 'text'" in table and "wrong.jsonl" in table
    assert "body" in table  # the message lists the fields the file does have


def test_curate_that_kept_nothing_says_so(tmp_path: Path, capsys):
    from winnow.cli import main as cli_main

    source = _jsonl(tmp_path / "short.jsonl", [{"id": str(i), "text": "too short"} for i in range(3)])
    status = cli_main(["curate", "--input", str(source), "--output", str(tmp_path / "out"), "--recipe", "fineweb",
                       "--direct_running_mode=in_memory", "--direct_num_workers=1"])
    out = capsys.readouterr().out
    assert status == 0  # rejecting everything is a decision, not a failure
    assert "NOTHING KEPT" in out and "rejected by stage and reason" in out


def test_winnow_run_names_the_first_error_when_curation_kept_nothing(tmp_path: Path):
    from winnow.runner import _first_errors

    (tmp_path / "errors").mkdir()
    row = _error_row("read", "MissingField", "x.jsonl", "x:1", "x.jsonl: line 1: no field 'text'")
    pq.write_table(pa.Table.from_pylist([row], schema=schemas.error_schema()), tmp_path / "errors" / "p.parquet")
    said = _first_errors(tmp_path, {"errors": 1, "records_in": 1})
    assert "1 of 1 records failed" in said and "read/MissingField" in said and "no field 'text'" in said
    assert _first_errors(tmp_path, {"errors": 0, "records_in": 1}) == ""


def test_readme_rethreshold_example_runs_in_the_project_environment(tmp_path: Path, monkeypatch, capsys):
    """The README's query example uses only what Winnow installs, and counts what it says."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"re-thresholding\s+is a query, not a re-run:\s+```python\n(.*?)```", readme, re.S)
    assert block, "README lost its re-thresholding example"
    signals = [("gopher_quality_word_count", "int")]
    base = {"url": "u", "domain": "d", "warc_record_id": "w", "warc_date": "2024", "source": "s", "text": "t",
            "language": "en", "language_score": 0.9, "detail": ""}
    rows = [{**base, "id": str(i), "stage": stage, "reason": "r", "gopher_quality_word_count": words}
            for i, (stage, words) in enumerate([("gopher_quality", 45), ("gopher_quality", 12), ("triage", 90),
                                                ("gopher_quality", 40)])]
    folder = tmp_path / "out" / "curated" / "rejected"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.rejected_schema(signals)), folder / "part-0.parquet")
    monkeypatch.chdir(tmp_path)
    exec(compile(block.group(1), "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "2"


# --- a path given to the wrong command: say what it is and what to run first ---

def _token_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({"format": "winnow-token-shards", "version": 1}))
    return path


def test_generate_on_a_token_directory_says_what_it_is_and_what_to_run(tmp_path: Path, capsys):
    from winnow.cli import main as cli_main

    tokens = _token_dir(tmp_path / "tokens")
    assert cli_main(["generate", "--run", str(tokens), "--prompt", "hi", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert f"{tokens} is a token directory, not a training run" in err
    assert f"winnow train --input {tokens} --output RUN_DIR" in err
    curated = _output_dir(tmp_path / "curated")
    assert cli_main(["evaluate", "--run", str(curated), "--text", "t.txt"]) == 2
    err = capsys.readouterr().err
    assert "is a curate output, not a training run" in err and "winnow tokenize --input" in err


def test_tokenizer_train_on_an_archive_says_curate_first(tmp_path: Path, capsys):
    from winnow.cli import main as cli_main

    archive = tmp_path / "x.warc.gz"
    archive.write_bytes(b"\x1f\x8b not really")
    assert cli_main(["tokenizer", "train", "--input", str(archive), "--vocab-size", "300",
                     "--output", str(tmp_path / "tok.json")]) == 2
    err = capsys.readouterr().err
    assert f"{archive} is a web archive, not curated Parquet documents" in err
    assert f"winnow curate --input {archive} --output OUT" in err
    tokens = _token_dir(tmp_path / "tokens")
    assert cli_main(["tokenize", "--input", str(tokens), "--tokenizer", "t.json", "--output", str(tmp_path / "o")]) == 2
    assert "is a token directory (already tokenized)" in capsys.readouterr().err


def _run_dir(path: Path) -> Path:
    (path / "train").mkdir(parents=True)
    (path / "run.json").write_text("{}")
    return path


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: _token_dir(p), "token directory"),
    (lambda p: _run_dir(p), "pass {p}/train"),
    (lambda p: p.mkdir() or p, "has no checkpoints/ and no metrics.jsonl"),
])
def test_training_run_problem_names_the_kind(tmp_path: Path, make, expected):
    path = make(tmp_path / "d")
    assert expected.format(p=path) in training_run_problem(str(path))
    run = tmp_path / "real"
    (run / "checkpoints").mkdir(parents=True)
    (run / "metrics.jsonl").write_text("")
    assert training_run_problem(str(run)) is None
    assert documents_input_problem(str(_output_dir(tmp_path / "docs"))) is None
    assert documents_input_problem(str(tmp_path / "*.parquet")) is None  # globs are the reader's to resolve


def test_run_help_lists_every_stage_mix_included(capsys):
    from winnow.cli import main as cli_main
    from winnow.runner import STAGES

    with pytest.raises(SystemExit):
        cli_main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "mix" in STAGES and f"({', '.join(STAGES)};" in text


def test_an_unreadable_errors_table_does_not_hide_the_summary(tmp_path: Path):
    import io

    from rich.console import Console

    from winnow.pipelines.report import print_curate_summary

    stats = {"recipe": "r", "records_in": 2, "kept": 1, "rejected_total": 0, "errors": 1,
             "accounting": {"ok": True, "unaccounted": 0}}
    buffer = io.StringIO()
    print_curate_summary(stats, str(tmp_path / "gone"), Console(file=buffer, width=200))
    out = buffer.getvalue()
    assert "errors: could not read" in out and "accounting: records_in 2" in out
