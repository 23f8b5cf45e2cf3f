"""Extraction and the per-document steps after it in the extraction child (curation/document_chain.py).

The chain moves where language ID and the filters run, never what they
decide: every outcome must equal the one the parent computes step by step.
"""
from __future__ import annotations

import base64
import dataclasses
import multiprocessing
import os
from multiprocessing import forkserver

import pytest

from tests.curation import extract_fakes
from winnow.curation import document_chain, extract_pool
from winnow.curation import record_path as rp
from winnow.curation.decontaminate import DecontaminateConfig
from winnow.curation.extract import Extractor
from winnow.curation.recipe import RecipeStep, load_recipe
from winnow.curation.extract_worker import run_trafilatura
from winnow.curation.steps import BoundStep, ExtractStep, build_steps, chain_length, chain_payload, chain_payloads
from winnow.curation.types import TextRecord

ARTICLE = (
    "The harbour town voted on Tuesday to rebuild the old sea wall before the winter storms arrive. "
    "Engineers said the stone blocks laid a century ago have shifted by several centimetres since the spring. "
    "Residents who live along the front told the council that water reached their doors twice last year. "
    "The new wall will be taller and will use concrete cores behind the original stone facing. "
    "Work is expected to begin next month and to finish before the end of the year, the mayor said. "
    "Fishermen asked that the slipway stay open during the works, and the council agreed to keep it clear."
)
GERMAN = (
    "Die kleine Stadt am Meer hat am Dienstag beschlossen, die alte Hafenmauer vor den Winterstürmen neu zu bauen. "
    "Die Ingenieure sagten, dass sich die Steine seit dem Frühjahr um mehrere Zentimeter verschoben haben. "
    "Die Arbeiten sollen im nächsten Monat beginnen und vor dem Ende des Jahres abgeschlossen sein."
)


def page(body: str) -> str:
    paragraphs = "".join(f"<p>{sentence}.</p>" for sentence in body.split(". ") if sentence)
    return f"<html><head><title>t</title></head><body><nav>Home | News | About</nav><article>{paragraphs}</article></body></html>"


PAGES = [
    page(ARTICLE),
    page(GERMAN),
    page("Too short."),
    page(" ".join(["buy cheap pills now"] * 60)),
    "<html><body></body></html>",
    page(ARTICLE + " Contact me at someone@example.com or call 192.168.1.20 for details."),
]


def records(pages: list[str] = PAGES) -> list[TextRecord]:
    return [TextRecord(text=html, source="pages.jsonl", position=i, url=f"https://e.org/{i}", is_html=True) for i, html in enumerate(pages)]


def fineweb_steps(timeout_s: float | None = 5.0) -> list[RecipeStep]:
    steps = list(load_recipe("fineweb").steps)
    assert steps[0].name == "extract"
    steps[0] = RecipeStep("extract", dataclasses.replace(steps[0].config, timeout_s=timeout_s))
    return steps


def close(bound: list[BoundStep]) -> None:
    for step in bound:
        step.close()


@pytest.mark.parametrize("mode", [rp.FILTER, rp.ANNOTATE])
def test_the_chain_decides_every_document_as_the_parent_does(mode):
    steps = fineweb_steps()
    chained, plain = build_steps(steps), build_steps(steps, chain=False)
    try:
        assert len(chained[0].fn.chained) == len(steps) and not plain[0].fn.chained
        with_chain = rp.run_batch(records(), chained, mode=mode)
        without = rp.run_batch(records(), plain, mode=mode)
    finally:
        close(chained + plain)
    assert with_chain == without
    kinds = {type(outcome).__name__ for outcome in with_chain}
    assert kinds == {"Kept", "Rejected"}, kinds  # both verdicts exercised
    reasons = {(o.stage, o.reason) for o in with_chain if isinstance(o, rp.Rejected)}
    assert ("extract", "no_main_text") in reasons and any(stage == "language" for stage, _ in reasons)


def test_the_chained_steps_run_in_the_child_not_in_the_parent():
    steps = fineweb_steps()
    bound = build_steps(steps)

    def must_not_run(doc):
        raise AssertionError("a chained step ran in the parent")

    try:
        for step in bound[1:]:
            step.fn = must_not_run
        outcomes = rp.run_batch(records(), bound)
    finally:
        close(bound)
    assert not any(isinstance(outcome, rp.Failed) for outcome in outcomes)
    assert any(isinstance(outcome, rp.Kept) for outcome in outcomes)


def test_running_fewer_steps_than_were_chained_runs_only_those():
    steps = fineweb_steps()
    chained, plain = build_steps(steps), build_steps(steps[:2], chain=False)
    try:
        with_chain = rp.run_batch(records(), chained[:2])  # extract and language only
        without = rp.run_batch(records(), plain)
    finally:
        close(chained + plain)
    assert with_chain == without
    assert all(not outcome.signals for outcome in with_chain if not isinstance(outcome, rp.Failed))


def test_a_chained_extractor_still_extracts_one_page_on_its_own():
    steps = fineweb_steps()
    (extract, *_) = bound = build_steps(steps)
    try:
        text = extract.fn._extractor.extract(PAGES[0], "https://e.org/0")
    finally:
        close(bound)
    assert isinstance(text, str) and "sea wall" in text


def test_chain_length_stops_at_a_step_with_a_prepared_resource():
    steps = fineweb_steps()
    assert chain_length(steps, 0) == len(steps)
    decontaminate = RecipeStep("decontaminate", DecontaminateConfig(eval=("eval.jsonl",)))
    assert chain_length([*steps[:3], decontaminate, *steps[3:]], 0) == 3  # extract, language, url_filter
    assert chain_length([steps[0]], 0) == 1


def chained_with(function, steps: list[RecipeStep], wall_backstop_s: float | None = None) -> list[BoundStep]:
    """fineweb's steps with the chain child's engine replaced by a test stand-in."""
    config = steps[0].config
    extractor = Extractor(config, extract_fn=function, chain=chain_payload(steps), wall_backstop_s=wall_backstop_s)
    head = BoundStep("extract", build_steps([steps[0]])[0].spec, config, ExtractStep(config, extractor, steps))
    return [head, *build_steps(steps[1:])]


def test_a_page_over_its_cpu_bound_is_an_extraction_timeout_and_the_chain_goes_on():
    steps = fineweb_steps(timeout_s=0.3)
    bound = chained_with(extract_fakes.pathological, steps)
    plain = build_steps(steps, chain=False)
    pages = [PAGES[0], "<html><body>PATHOLOGICAL</body></html>", PAGES[5]]
    try:
        outcomes = rp.run_batch(records(pages), bound)
        expected = rp.run_batch(records([PAGES[0], PAGES[5]]), plain)
    finally:
        close(bound + plain)
    assert (outcomes[1].stage, outcomes[1].reason) == ("extract", "extraction_timeout")
    assert outcomes[1].detail == "extraction ran longer than 0.3 CPU seconds"
    assert [outcomes[0].signals, outcomes[2].signals] == [expected[0].signals, expected[1].signals]
    assert bound[0].fn._extractor.restarts == 1


def test_a_child_that_crashes_is_an_extraction_crash_in_annotate_mode_too():
    steps = fineweb_steps()
    bound = chained_with(extract_fakes.segfault, steps)
    try:
        (outcome,) = rp.run_batch(records(PAGES[:1]), bound, mode=rp.ANNOTATE)
    finally:
        close(bound)
    assert (outcome.stage, outcome.reason, outcome.text) == ("extract", "extraction_crashed", None)
    assert "SIGSEGV" in outcome.detail and outcome.signals == {}


def test_the_chain_runs_in_a_plain_subprocess_child_too(monkeypatch):
    monkeypatch.setenv("WINNOW_EXTRACT_ISOLATION", "subprocess")
    steps = fineweb_steps()
    chained, plain = build_steps(steps), build_steps(steps, chain=False)
    try:
        assert chained[0].fn._extractor.isolation == "subprocess"
        with_chain = rp.run_batch(records(), chained)
        without = rp.run_batch(records(), plain)
    finally:
        close(chained + plain)
    assert with_chain == without


def test_steps_built_ahead_in_the_fork_server_are_the_ones_a_child_uses(monkeypatch):
    steps = fineweb_steps()
    (payload,) = chain_payloads(steps)
    assert chain_payloads(steps[:1]) == [] and chain_payloads(fineweb_steps(timeout_s=None)) == []
    monkeypatch.setenv(extract_pool.CHAIN_PRELOAD_ENV, base64.b64encode(payload).decode("ascii"))
    monkeypatch.setattr(document_chain, "_BUILT_AHEAD", {})
    document_chain.build_ahead_from_environment()
    built = document_chain._BUILT_AHEAD[payload]
    assert [step.name for step in built] == [step.name for step in steps[1:]]
    child = document_chain.ChildChain(payload, run_trafilatura, {}, None)
    assert child._steps[1:] == built and all(a is b for a, b in zip(child._steps[1:], built))
    other = chain_payloads([steps[0], steps[1]])[0]  # a chain nobody built ahead: the child builds its own
    assert document_chain.ChildChain(other, run_trafilatura, {}, None)._steps[1] is not built[0]


def test_warm_up_hands_the_payloads_to_the_fork_server_only(monkeypatch):
    seen = {}
    monkeypatch.setattr(extract_pool, "choose_isolation", lambda requested="auto": extract_pool.FORKSERVER)
    monkeypatch.setattr(extract_pool, "_context", lambda names=None: multiprocessing.get_context("forkserver"))
    monkeypatch.setattr(forkserver, "ensure_running", lambda: seen.setdefault("env", dict(os.environ)))
    extract_pool.warm_up(["extract", "language"], [b"one", b"two"])
    assert seen["env"][extract_pool.CHAIN_PRELOAD_ENV] == "b25l,dHdv"  # base64 of each payload
    assert extract_pool.CHAIN_PRELOAD_ENV not in os.environ


def test_the_wall_clock_backstop_bounds_the_extraction_not_the_steps_after_it():
    # Slow steps after a quick extraction (a huge text on a busy machine) must not become a timeout:
    # before the chain they ran in the worker, with no wall-clock limit.
    steps = fineweb_steps()
    bound = chained_with(extract_fakes.then_slow_steps, steps, wall_backstop_s=2.0)  # the steps take 4 s
    plain = build_steps(steps[1:], chain=False)
    text = " ".join([ARTICLE] * 3)
    try:
        (outcome,) = rp.run_batch(records([text]), bound)
        (expected,) = rp.run_batch([TextRecord(text=text, source="pages.jsonl", position=0, url="https://e.org/0")], plain)
    finally:
        close(bound + plain)
    assert outcome.signals == expected.signals and type(outcome) is type(expected)
    assert bound[0].fn._extractor.restarts == 0


def first_page_through(function, wall_backstop_s: float) -> rp.Outcome:
    """The first page's outcome through fineweb's chain with `function` as the child's engine."""
    bound = chained_with(function, fineweb_steps(), wall_backstop_s)
    try:
        (outcome,) = rp.run_batch(records(PAGES[:1]), bound)
    finally:
        close(bound)
    return outcome


def test_a_wedged_extraction_still_meets_the_backstop_in_a_chain():
    outcome = first_page_through(extract_fakes.sleep_forever, wall_backstop_s=1.0)
    assert (outcome.stage, outcome.reason) == ("extract", "extraction_timeout") and "wedged" in outcome.detail


def test_a_child_that_dies_after_the_extraction_says_so():
    outcome = first_page_through(extract_fakes.then_crash_in_steps, wall_backstop_s=30.0)
    assert (outcome.stage, outcome.reason) == ("extract", "extraction_crashed")
    assert "in the steps after it" in outcome.detail and "SIGSEGV" in outcome.detail


# Web archive records: the chain child triages them itself (record_path.Untriaged).

def archive_records() -> list:
    from winnow.curation.archive import ArchiveRecord

    def record(i: int, payload: bytes, **fields) -> ArchiveRecord:
        base = dict(
            source="pages.warc.gz", offset=1000 * i, record_type="response", warc_record_id=f"<urn:uuid:{i}>",
            url=f"https://e.org/{i}", date="2024-01-01T00:00:00Z", http_status=200,
            content_type="text/html; charset=utf-8", identified_payload_type=None, payload=payload,
            payload_truncated=False, content_length=len(payload),
        )
        base.update(fields)
        return ArchiveRecord(**base)

    pages = [record(i, html.encode("utf-8")) for i, html in enumerate(PAGES)]
    return pages + [
        record(10, PAGES[0].encode("utf-8"), http_status=404),  # triage: http_status
        record(11, b"%PDF-1.7 binary", content_type="application/pdf"),  # triage: not_html
        record(12, b"\xff\xfe\xfa" * 4000, content_type="text/html; charset=nosuch"),  # decode, or binary
        record(13, PAGES[0].encode("cp1252", "replace"), content_type="text/html; charset=windows-1252"),
        record(14, b"", record_type="request", http_status=None),  # triage: not_response
    ]


@pytest.mark.parametrize("mode", [rp.FILTER, rp.ANNOTATE])
def test_web_archive_records_are_triaged_in_the_child_with_the_parents_outcomes(mode):
    steps = fineweb_steps()
    chained, plain = build_steps(steps), build_steps(steps, chain=False)
    try:
        with_chain = rp.run_batch(archive_records(), chained, mode=mode)
        without = rp.run_batch(archive_records(), plain, mode=mode)
    finally:
        close(chained + plain)
    assert with_chain == without
    stages = {o.stage for o in with_chain if isinstance(o, rp.Rejected)}
    assert {"triage", "extract", "language"} <= stages, stages
    assert any(isinstance(o, rp.Kept) for o in with_chain)


def test_the_parent_leaves_a_web_archive_records_triage_to_the_chain_child(monkeypatch):
    steps = fineweb_steps()
    bound = build_steps(steps)  # the child was forked from a server that never saw this patch

    def must_not_run(*args, **kwargs):
        raise AssertionError("the parent triaged a record the chain child was to triage")

    monkeypatch.setattr(rp, "triage", must_not_run)
    try:
        outcomes = rp.run_batch(archive_records(), bound)
    finally:
        close(bound)
    assert not any(isinstance(o, rp.Failed) for o in outcomes)
    assert any(isinstance(o, rp.Kept) for o in outcomes)


@pytest.mark.parametrize("mode", [rp.FILTER, rp.ANNOTATE])
def test_when_the_child_dies_the_parent_triages_and_only_pages_become_extraction_crashes(mode):
    steps = fineweb_steps()
    bound = chained_with(extract_fakes.segfault, steps)
    plain = build_steps(steps, chain=False)
    try:
        outcomes = rp.run_batch(archive_records(), bound, mode=mode)
        expected = rp.run_batch(archive_records(), plain, mode=mode)
    finally:
        close(bound + plain)
    for outcome, reference in zip(outcomes, expected):
        if isinstance(reference, rp.Rejected) and reference.stage == "triage":
            assert outcome == reference  # triage's verdict, as if no child had been asked
        else:
            assert (outcome.stage, outcome.reason) == ("extract", "extraction_crashed")
            assert outcome.identity == reference.identity


def test_a_child_ended_before_answering_leaves_each_records_triage_to_the_parent(monkeypatch):
    """The child can be ended (timeout, kill) before it has triaged a record: the parent triages it then."""
    from winnow.curation.triage import Rejection

    steps = fineweb_steps()
    bound, plain = build_steps(steps), build_steps(steps, chain=False)
    asked = []

    def ended(self, state, mode, length):
        asked.append(type(state).__name__)
        return Rejection("extract", "extraction_crashed", "extraction process died (simulated)")

    try:
        expected = rp.run_batch(archive_records(), plain)
        monkeypatch.setattr(Extractor, "run_chain", ended)
        outcomes = rp.run_batch(archive_records(), bound)
    finally:
        close(bound + plain)
    assert set(asked) == {"Untriaged"} and len(asked) == len(expected)
    for outcome, reference in zip(outcomes, expected):
        if isinstance(reference, rp.Rejected) and reference.stage in ("triage", "decode"):
            assert outcome == reference  # triage's verdict, as without a chain
        else:
            assert (outcome.stage, outcome.reason, outcome.text) == ("extract", "extraction_crashed", None)
            assert outcome.identity == reference.identity
