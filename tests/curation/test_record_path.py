"""The pure record path: outcomes of records through steps, without Beam."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from winnow.curation import record_path as rp
from winnow.curation.archive import ArchiveRecord, ReadFailure
from winnow.curation.extract import ExtractConfig
from winnow.curation.filters import FILTER_STEPS
from winnow.curation.filters.gopher import GOPHER_BELOW_MIN_WORDS
from winnow.curation.recipe import RecipeStep
from winnow.curation.steps import BoundStep, build_steps
from winnow.curation.types import Document, StepResult, StepSpec, TextRecord

ARTICLE = "".join(
    f"In week {week} the river town held its autumn market on the old stone bridge, as it does every year. "
    f"Farmers brought {crop} from the valley, and the bakers sold bread that was still warm from the oven. "
    "Children ran between the stalls while their parents talked about the weather and the harvest.\n"
    for week, crop in ((1, "apples"), (2, "pears"), (3, "late tomatoes"), (4, "pumpkins"))
)


def text(n: int, body: str = ARTICLE, **kw) -> TextRecord:
    return TextRecord(text=body, source="books.jsonl", position=f"line {n}", url=f"https://example.org/{n}", **kw)


def steps(*names: str, **configs) -> list[BoundStep]:
    return build_steps([RecipeStep(n, configs.get(n, FILTER_STEPS[n].config_type())) for n in names])


@dataclass(frozen=True)
class _NoConfig:
    pass


def fake_step(name: str, fn, batch: bool = False) -> BoundStep:
    spec = StepSpec(name=name, config_type=_NoConfig, build=lambda c: fn, signals=((f"{name}_n", "int"),), reasons=("bad",), batch=batch)
    return BoundStep(name, spec, _NoConfig(), fn)


def test_clean_text_is_kept_with_every_signal():
    (outcome,) = rp.run_batch([text(1)], steps("gopher_quality", "fineweb"))
    assert isinstance(outcome, rp.Kept)
    assert outcome.text == ARTICLE and outcome.identity["source"] == "books.jsonl"
    assert outcome.signals["gopher_quality_word_count"] > 50 and "fineweb_line_punct_ratio" in outcome.signals


def test_filter_mode_stops_at_first_rejection_and_annotate_mode_scores_every_step():
    thin = text(2, "Buy now. Click here. Cheap watches.")
    chain = steps("gopher_quality", "fineweb")
    (filtered,) = rp.run_batch([thin], chain, mode=rp.FILTER)
    (annotated,) = rp.run_batch([thin], chain, mode=rp.ANNOTATE)
    for outcome in (filtered, annotated):
        assert isinstance(outcome, rp.Rejected)
        assert (outcome.stage, outcome.reason) == ("gopher_quality", GOPHER_BELOW_MIN_WORDS)
        assert "< 50" in outcome.detail and outcome.text == thin.text
    assert "fineweb_line_punct_ratio" not in filtered.signals
    assert "fineweb_line_punct_ratio" in annotated.signals
    assert annotated.signals["gopher_quality_word_count"] == filtered.signals["gopher_quality_word_count"]


def test_annotate_mode_keeps_the_same_split_as_filter_mode():
    records = [text(i, body) for i, body in enumerate([ARTICLE, "Too short.", ARTICLE.replace(".", ""), "x " * 300])]
    chain = steps("gopher_repetition", "gopher_quality", "fineweb")
    filtered = rp.run_batch(records, chain, mode=rp.FILTER)
    annotated = rp.run_batch(records, chain, mode=rp.ANNOTATE)
    assert [rp.counter_name(o) for o in filtered] == [rp.counter_name(o) for o in annotated]


def test_an_exception_costs_only_its_document():
    def explode(doc: Document) -> StepResult:
        if "2" in doc.url:
            raise RuntimeError("boom")
        return StepResult({"boom_n": 1})

    outcomes = rp.run_batch([text(1), text(2), text(3)], [fake_step("boom", explode)])
    assert [type(o).__name__ for o in outcomes] == ["Kept", "Failed", "Kept"]
    failed = outcomes[1]
    assert (failed.stage, failed.error_type, failed.message) == ("boom", "RuntimeError", "boom")
    assert "Traceback" in failed.traceback


def test_batch_steps_see_the_surviving_documents_at_once_and_a_raising_batch_is_isolated():
    calls: list[int] = []

    def score(docs):
        calls.append(len(docs))
        if any("poison" in d.text for d in docs):
            raise ValueError("poisoned batch")
        return [StepResult({"model_n": len(d.text)}, reason="bad" if len(d.text) < 20 else None) for d in docs]

    records = [text(1), text(2, "short but long enough"), text(3, "poison " * 5), text(4, "tiny text")]
    outcomes = rp.run_batch(records, [fake_step("model", score, batch=True)])
    assert calls[0] == 4  # one call for the whole batch, then one per document to find the culprit
    assert [rp.counter_name(o) for o in outcomes] == ["kept", "kept", "errors.model", "rejected.model.bad"]


def test_archive_records_are_triaged_and_read_failures_are_errors():
    redirect = ArchiveRecord("a.warc.gz", 0, "response", "<urn:uuid:1>", "https://e.org/r", "2024-01-01T00:00:00Z", 301, "text/html", None, b"", False, 0)
    failure = ReadFailure("a.warc.gz", 512, "", "", "TruncatedGzip", "gzip stream ends inside a record")
    rejected, failed = rp.run_batch([redirect, failure], steps("fineweb"))
    assert (rejected.stage, rejected.reason, rejected.text, rejected.language) == ("triage", "http_status", None, None)
    assert (failed.stage, failed.error_type) == ("read", "TruncatedGzip") and "offset 512" in failed.message


def test_empty_text_records_are_rejected_not_dropped():
    (outcome,) = rp.run_batch([text(9, "   \n ")], steps("fineweb"))
    assert (outcome.stage, outcome.reason) == ("triage", "empty_payload")


def test_html_text_records_are_extracted_and_plain_text_skips_extraction():
    page = "<html><body><article>" + "".join(f"<p>{p}.</p>" for p in ARTICLE.split(". ")) + "</article></body></html>"
    chain = build_steps([RecipeStep("extract", ExtractConfig(timeout_s=None))])
    html_out, plain_out = rp.run_batch([text(1, page, is_html=True), text(2, "<p>not html, kept verbatim</p>")], chain)
    assert isinstance(html_out, rp.Kept) and "<p>" not in html_out.text and "autumn market" in html_out.text
    assert plain_out.text == "<p>not html, kept verbatim</p>"


def test_annotate_mode_ends_a_record_whose_extraction_failed():
    chain = build_steps([RecipeStep("extract", ExtractConfig(timeout_s=None)), RecipeStep("fineweb", FILTER_STEPS["fineweb"].config_type())])
    (outcome,) = rp.run_batch([text(1, "<html><body></body></html>", is_html=True)], chain, mode=rp.ANNOTATE)
    assert (outcome.stage, outcome.reason, outcome.text) == ("extract", "no_main_text", None)
    assert outcome.signals == {}


def test_rows_carry_every_signal_column_and_source_name():
    chain = steps("gopher_quality", "fineweb")
    names = [name for s in chain for name, _ in s.spec.signals]
    kept, rejected = rp.run_batch([text(1), text(2, "Too short.")], chain, source_name="books")
    kept_row = rp.outcome_row(kept, names)
    rejected_row = rp.outcome_row(rejected, names, keep_rejected_text=False)
    assert set(names) <= set(kept_row) and set(names) <= set(rejected_row)
    assert kept_row["source_name"] == rejected_row["source_name"] == "books"
    assert rejected_row["text"] is None and rejected_row["fineweb_line_punct_ratio"] is None
    assert rp.table_of(kept) == "kept" and rp.table_of(rejected) == "rejected"


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="unknown curation mode"):
        rp.run_batch([text(1)], [], mode="tag")


def test_per_document_steps_run_document_by_document_and_batch_steps_see_the_survivors_at_once():
    calls: list[tuple[str, object]] = []

    def first(doc):
        calls.append(("first", doc.url))
        return StepResult({"first_n": 1}, reason="bad" if doc.url.endswith("/2") else None)

    def second(doc):
        calls.append(("second", doc.url))
        return StepResult({"second_n": 2})

    def model(docs):
        calls.append(("model", tuple(d.url for d in docs)))
        return [StepResult({"model_n": 3}) for _ in docs]

    def third(doc):
        calls.append(("third", doc.url))
        if doc.url.endswith("/3"):
            raise ValueError("boom")
        return StepResult({"third_n": 4})

    chain = [fake_step("first", first), fake_step("second", second), fake_step("model", model, batch=True), fake_step("third", third)]
    outcomes = rp.run_batch([text(1), text(2), text(3)], chain)
    url = "https://example.org/"
    assert calls == [
        ("first", url + "1"), ("second", url + "1"),
        ("first", url + "2"),  # rejected: the rest of its run is skipped
        ("first", url + "3"), ("second", url + "3"),
        ("model", (url + "1", url + "3")),
        ("third", url + "1"), ("third", url + "3"),
    ]
    assert [type(o).__name__ for o in outcomes] == ["Kept", "Rejected", "Failed"]
    assert outcomes[0].signals == {"first_n": 1, "second_n": 2, "model_n": 3, "third_n": 4}
    assert (outcomes[1].stage, outcomes[1].reason) == ("first", "bad")
    assert outcomes[2].stage == "third"
