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
from winnow.summaries import DEFAULT_STAGE_ORDER, StatsError, curation_funnel, ranked_counts, stage_counts

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
