"""TestPipeline + assert_that on each output of the curation stages."""
from __future__ import annotations

import gzip
import io

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from winnow.curation.archive import ArchiveRecord, ReadFailure
from winnow.curation.extract import ExtractConfig
from winnow.curation.filters import FILTER_STEPS
from winnow.curation.langid import LanguageConfig
from winnow.curation.recipe import RecipeStep
from winnow.curation.record_path import identity_of
from winnow.pipelines.curate import ERRORS_TAG, REJECTED_TAG, CurateRecords, CurateSettings, ReadInputs

ARTICLE = (
    "The river town held its autumn market on the old stone bridge this year. "
    "Farmers brought apples, pears and late tomatoes from the valley, and the bakers sold bread that was still warm. "
    "Children ran between the stalls while their parents talked about the weather and the harvest. "
    "In the evening a small band played near the water, and most of the visitors stayed until the lamps were lit. "
    "The council said that the market would return next spring with more stalls and a longer opening time. "
) * 3


def html_page(body: str, title: str = "Market day") -> bytes:
    paragraphs = "".join(f"<p>{p.strip()}.</p>" for p in body.split(". ") if p.strip())
    return (
        f"<html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"<article><h1>{title}</h1>{paragraphs}</article>"
        f"<footer>Copyright 2024 Town Paper</footer></body></html>"
    ).encode()


def record(n: int, payload: bytes, status: int | None = 200, content_type: str | None = "text/html; charset=utf-8", record_type: str = "response") -> ArchiveRecord:
    return ArchiveRecord(
        source="mem.warc.gz",
        offset=n * 100,
        record_type=record_type,
        warc_record_id=f"<urn:uuid:00000000-0000-0000-0000-{n:012d}>",
        url=f"https://example.org/page/{n}",
        date="2024-05-01T00:00:00Z",
        http_status=status,
        content_type=content_type,
        identified_payload_type=None,
        payload=payload,
        payload_truncated=False,
        content_length=len(payload),
    )


def settings(*filters: str, keep=("en",)) -> CurateSettings:
    steps = [RecipeStep("extract", ExtractConfig(timeout_s=None)), RecipeStep("language", LanguageConfig(keep=keep, min_score=0.3))]
    steps += [RecipeStep(name, FILTER_STEPS[name].config_type()) for name in filters]
    return CurateSettings(steps=tuple(steps))


def test_curate_records_routes_every_record():
    good = record(1, html_page(ARTICLE))
    german = record(2, html_page("Der Markt auf der alten Brücke war in diesem Jahr sehr gut besucht und die Bauern verkauften Äpfel und Birnen aus dem Tal. " * 4))
    redirect = record(3, b"", status=301)
    image = record(4, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, content_type="image/png")
    request = record(5, b"GET / HTTP/1.1\r\n\r\n", status=None, content_type=None, record_type="request")
    failure = ReadFailure("mem.warc.gz", 999, "", "", "TruncatedGzip", "gzip stream ends inside a record")
    items = [good, german, redirect, image, request, failure]
    with TestPipeline() as p:
        outputs = p | beam.Create(items) | CurateRecords(settings())
        assert_that(outputs.kept | "KeptIds" >> beam.Map(lambda d: (d["id"], d["language"])), equal_to([(identity_of(good)["id"], "en")]), label="kept")
        assert_that(
            outputs[REJECTED_TAG] | "Reasons" >> beam.Map(lambda r: (r["url"], r["stage"], r["reason"])),
            equal_to(
                [
                    (german.url, "language", "language_not_kept"),
                    (redirect.url, "triage", "http_status"),
                    (image.url, "triage", "not_html"),
                    (request.url, "triage", "not_response"),
                ]
            ),
            label="rejected",
        )
        assert_that(
            outputs[ERRORS_TAG] | "Errors" >> beam.Map(lambda e: (e["stage"], e["error_type"], "offset 999" in e["error_message"])),
            equal_to([("read", "TruncatedGzip", True)]),
            label="errors",
        )


def test_filter_rejection_carries_stage_reason_and_signals():
    thin = record(1, html_page("Buy cheap watches now. " * 2 + "Click here. " * 2, title="Watches"))
    good = record(2, html_page(ARTICLE))
    with TestPipeline() as p:
        outputs = p | beam.Create([thin, good]) | CurateRecords(settings("gopher_quality"))
        assert_that(outputs.kept | "Kept" >> beam.Map(lambda d: d["url"]), equal_to([good.url]), label="kept")
        assert_that(
            outputs[REJECTED_TAG]
            | "Rejected" >> beam.Map(lambda r: (r["stage"], r["reason"], r["gopher_quality_word_count"] is not None, bool(r["text"]))),
            equal_to([("gopher_quality", "gopher_below_min_words", True, True)]),
            label="rejected",
        )


def test_a_crashing_step_costs_one_record(monkeypatch):
    """An exception inside one document lands in errors with its stage; the others are kept."""
    spec = FILTER_STEPS["pii"]
    real_pii = spec.build(spec.config_type())

    class Exploding:
        def __call__(self, doc):
            if "explode" in doc.url:
                raise RuntimeError("boom in filter")
            return real_pii(doc)

    monkeypatch.setitem(FILTER_STEPS, "pii", type(spec)(**{**spec.__dict__, "build": lambda cfg: Exploding()}))
    ok = record(1, html_page(ARTICLE))
    bad = record(2, html_page(ARTICLE + " More."))
    bad = ArchiveRecord(**{**bad.__dict__, "url": "https://example.org/explode"})
    with TestPipeline(options=beam.options.pipeline_options.PipelineOptions(["--direct_running_mode=in_memory"])) as p:
        outputs = p | beam.Create([ok, bad]) | CurateRecords(settings("pii"))
        assert_that(outputs.kept | "Kept" >> beam.Map(lambda d: d["url"]), equal_to([ok.url]), label="kept")
        assert_that(
            outputs[ERRORS_TAG] | "Err" >> beam.Map(lambda e: (e["url"], e["stage"], e["error_type"], e["error_message"])),
            equal_to([(bad.url, "pii", "RuntimeError", "boom in filter")]),
            label="errors",
        )


def warc_bytes(records: list[tuple[str, bytes]]) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    for url, body in records:
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers))
    return out.getvalue()


def test_read_archives_counts_every_record_and_survives_truncation(tmp_path):
    good = warc_bytes([(f"https://example.org/{i}", html_page(ARTICLE)) for i in range(3)])
    (tmp_path / "a.warc.gz").write_bytes(good)
    truncated = warc_bytes([("https://example.org/t0", html_page(ARTICLE)), ("https://example.org/t1", html_page(ARTICLE))])
    (tmp_path / "b.warc.gz").write_bytes(truncated[: len(truncated) - 200])
    with TestPipeline() as p:
        items = p | ReadInputs([str(tmp_path / "*.warc.gz")], 1_000_000)
        kinds = items | beam.Map(lambda x: (x.source.rsplit("/", 1)[-1], type(x).__name__))
        assert_that(
            kinds,
            equal_to([("a.warc.gz", "ArchiveRecord")] * 3 + [("b.warc.gz", "ArchiveRecord"), ("b.warc.gz", "ReadFailure")]),
        )


def test_gzip_helper_sanity():
    # The truncated fixture above really is a broken gzip stream.
    data = warc_bytes([("https://example.org/x", b"<html></html>")])
    with pytest.raises(EOFError):
        gzip.decompress(data[:-10])


def test_curate_options_parse_winnow_flags():
    from apache_beam.options.pipeline_options import PipelineOptions

    from winnow.pipelines.options import CurateOptions

    opts = PipelineOptions(["--input", "a.warc.gz", "--input", "b.warc.gz", "--output", "out", "--recipe", "fineweb", "--runner=DirectRunner"])
    curate = opts.view_as(CurateOptions)
    assert curate.inputs == ["a.warc.gz", "b.warc.gz"] and curate.output == "out" and curate.recipe == "fineweb"
    assert curate.max_payload_bytes == 10_000_000 and curate.rejected_text == "keep"


def test_one_combine_counts_what_stats_json_needs():
    from winnow.pipelines.curate import RECORD_READ_KEY, STATS_SEED_KEY, CountKeys, build_stats

    keys = [STATS_SEED_KEY] + [RECORD_READ_KEY] * 5 + [("kept", "en")] * 2 + [("rejected", "language/language_not_kept")] * 2
    keys += [("errors", "read/ReadFailure")]
    with TestPipeline() as p:
        stats = p | beam.Create(keys) | beam.CombineGlobally(CountKeys()).without_defaults() | beam.Map(build_stats, recipe="r")
        assert_that(stats | beam.Map(lambda s: (s["records_in"], s["kept"], s["rejected_total"], s["errors"], s["accounting"]["ok"])),
                    equal_to([(5, 2, 2, 1, True)]))


def test_stats_json_waits_for_every_table(tmp_path):
    """stats.json is the last file a run writes: the table files reach its write as a side input."""
    from winnow.pipelines.curate import build_curate_pipeline

    pipeline = beam.Pipeline()
    build_curate_pipeline(pipeline, [str(tmp_path / "in.jsonl")], str(tmp_path / "out"), settings(), "test")
    graph = pipeline.to_runner_api()
    write_stats = next(t for t in graph.components.transforms.values() if t.unique_name.endswith("WriteCurated/WriteStats"))
    tables_written = next(t for t in graph.components.transforms.values() if t.unique_name.endswith("WriteCurated/TablesWritten"))
    written = set(tables_written.outputs.values())
    assert written and any(pcoll in written for pcoll in _inputs_of(graph, write_stats)), "WriteStats does not read the table files"


def _inputs_of(graph, transform) -> set[str]:
    found = set(transform.inputs.values())
    for sub in transform.subtransforms:
        found |= _inputs_of(graph, graph.components.transforms[sub])
    return found
