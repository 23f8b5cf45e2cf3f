"""Extraction engines (ExtractConfig.engine): one step, the same outputs, reasons and bounds for each.

The default engine must stay today's trafilatura call, byte for byte; every
engine runs in the same bounded child; `fineweb-fast` is `fineweb` with only
the extraction engine changed.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import trafilatura
from resiliparse.extract.html2text import extract_plain_text

from winnow.curation.config import RecipeError
from winnow.curation.extract import (
    ENGINES,
    EXTRACTION_TIMEOUT,
    HTML_TOO_LARGE,
    NO_MAIN_TEXT,
    RESILIPARSE,
    STAGE_EXTRACT,
    TRAFILATURA,
    TRAFILATURA_FAST,
    ExtractConfig,
    Extractor,
    engine_function,
    engine_kwargs,
    extraction_f1,
    trafilatura_kwargs,
)
from winnow.curation.extract_pool import FORKSERVER, SUBPROCESS
from winnow.curation.extract_worker import run_resiliparse, run_trafilatura
from winnow.curation.recipe import builtin_recipe_names, load_recipe, parse_recipe
from winnow.curation.steps import build_steps
from winnow.curation.triage import Rejection
from winnow.curation.types import Document

from .test_extract import ARTICLE

# What the extract step called before engines existed: any change here changes fineweb's outputs.
TODAYS_TRAFILATURA_KWARGS = {
    "favor_precision": True, "include_comments": False, "include_tables": True, "deduplicate": False,
    "output_format": "txt", "with_metadata": False,
}
BIG_PAGE = "<html><body>" + "".join(
    f"<div><p>Sentence {i} about rivers and the sea, with <b>bold</b> and <a href='/x{i}'>links</a>.</p></div>"
    for i in range(15000)
) + "</body></html>"


def reason_of(result: str | Rejection) -> str:
    assert isinstance(result, Rejection), result
    assert result.stage == STAGE_EXTRACT
    return result.reason


def test_default_engine_is_todays_trafilatura_call() -> None:
    config = ExtractConfig()
    assert config.engine == TRAFILATURA
    assert engine_function(config.engine) is run_trafilatura
    assert engine_kwargs(config) == trafilatura_kwargs(config) == TODAYS_TRAFILATURA_KWARGS
    extracted = Extractor(ExtractConfig(timeout_s=None)).extract(ARTICLE, url="http://example.com/rivers")
    assert extracted == trafilatura.extract(ARTICLE, url="http://example.com/rivers", **TODAYS_TRAFILATURA_KWARGS)


def test_engine_settings() -> None:
    assert trafilatura_kwargs(ExtractConfig(engine=TRAFILATURA_FAST)) == {**TODAYS_TRAFILATURA_KWARGS, "fast": True}
    assert engine_function(TRAFILATURA_FAST) is run_trafilatura
    assert engine_function(RESILIPARSE) is run_resiliparse
    kwargs = engine_kwargs(ExtractConfig(engine=RESILIPARSE))
    assert kwargs["main_content"] is True and kwargs["comments"] is False and kwargs["alt_texts"] is False
    assert engine_kwargs(ExtractConfig(engine=RESILIPARSE, include_comments=True))["comments"] is True
    # The resiliparse engine is extract_plain_text with those settings, nothing more.
    assert run_resiliparse(ARTICLE, "", kwargs) == extract_plain_text(ARTICLE, **kwargs)


def test_unknown_engine_is_an_error() -> None:
    with pytest.raises(ValueError, match="engine must be one of trafilatura, trafilatura_fast, resiliparse"):
        ExtractConfig(engine="readability")
    recipe = {"name": "x", "steps": [{"extract": {"engine": "resiliparser"}}]}
    with pytest.raises(RecipeError, match="resiliparser"):
        parse_recipe(recipe, "test")


@pytest.fixture(scope="module", params=[(e, i) for e in ENGINES for i in (FORKSERVER, SUBPROCESS)],
                ids=lambda p: f"{p[0]}-{p[1]}")
def engine_child(request):
    engine, isolation = request.param
    with Extractor(ExtractConfig(engine=engine, timeout_s=5.0), isolation=isolation) as extractor:
        yield engine, extractor


def test_every_engine_extracts_in_the_child_as_in_process(engine_child) -> None:
    engine, child = engine_child
    in_process = Extractor(ExtractConfig(engine=engine, timeout_s=None)).extract(ARTICLE, url="http://example.com/r")
    assert isinstance(in_process, str) and "Paragraph 7: the river carries cold water" in in_process
    assert child.extract(ARTICLE, url="http://example.com/r") == in_process


def test_every_engine_rejects_an_empty_page_as_no_main_text(engine_child) -> None:
    _, child = engine_child
    assert reason_of(child.extract("<html><body></body></html>")) == NO_MAIN_TEXT
    assert reason_of(child.extract("<html><body><script>var x = 1;</script></body></html>")) == NO_MAIN_TEXT


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_has_the_size_and_length_bounds(engine: str) -> None:
    small = Extractor(ExtractConfig(engine=engine, timeout_s=None, max_html_bytes=1000))
    assert reason_of(small.extract("<html>" + "é" * 600 + "</html>")) == HTML_TOO_LARGE
    strict = Extractor(ExtractConfig(engine=engine, timeout_s=None, min_text_chars=100_000))
    assert reason_of(strict.extract(ARTICLE)) == NO_MAIN_TEXT


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_is_bounded_in_cpu_time_and_recovers(engine: str) -> None:
    # The big page costs every engine well over 0.1 CPU seconds (Resiliparse, the fastest,
    # about 0.15 s on this machine): far past a 0.01 s bound on any machine, at any load.
    with Extractor(ExtractConfig(engine=engine, timeout_s=0.01)) as extractor:
        result = extractor.extract(BIG_PAGE)
        assert reason_of(result) == EXTRACTION_TIMEOUT
        assert result.detail == "extraction ran longer than 0.01 CPU seconds"
        assert extractor.restarts == 1
    with Extractor(ExtractConfig(engine=engine, timeout_s=5.0)) as extractor:
        assert isinstance(extractor.extract(ARTICLE), str)  # a fresh child after a timeout works


@pytest.mark.parametrize("engine", ENGINES)
def test_the_extract_step_gives_the_same_result_shape_for_every_engine(engine: str) -> None:
    (step,) = build_steps(parse_recipe({"name": "x", "steps": [{"extract": {"engine": engine, "timeout_s": None}}]}, "t").steps)
    try:
        html = Document(text=ARTICLE, url="http://example.com/r", is_html=True)
        kept = step.run_one(html)
        assert kept.reason is None and kept.signals == {} and "Paragraph 3" in kept.text
        empty = step.run_one(Document(text="<html><body></body></html>", url="", is_html=True))
        assert empty.reason == NO_MAIN_TEXT and empty.text is None
        plain = step.run_one(Document(text="already text", url="", is_html=False))
        assert plain.reason is None and plain.text is None  # non-HTML passes through untouched
    finally:
        step.close()


def _without_engine(steps) -> list[tuple[str, dict]]:
    from winnow.core.config_loader import config_to_mapping

    out = []
    for step in steps:
        mapping = dict(config_to_mapping(step.config))
        if step.name == "extract":
            mapping.pop("engine")
        out.append((step.name, mapping))
    return out


def test_fineweb_fast_is_fineweb_with_only_the_engine_changed() -> None:
    assert "fineweb-fast" in builtin_recipe_names()
    fast, fineweb = load_recipe("fineweb-fast"), load_recipe("fineweb")
    assert fast.config_of("extract").engine == RESILIPARSE
    assert fineweb.config_of("extract").engine == TRAFILATURA
    assert _without_engine(fast.steps) == _without_engine(fineweb.steps)
    assert dict(fast.sections) == dict(fineweb.sections) and fast.mode == fineweb.mode
    assert "deliberate difference" in " ".join(fast.description.split()).lower()


def test_resiliparse_meets_the_quality_target_on_the_article_benchmark(shared_data: Path) -> None:
    root = shared_data / "extraction" / "article-extraction-benchmark"
    if not (root / "ground-truth.json").exists():
        pytest.skip(f"{root} is absent")
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    # All 181 pages, through the bounded child as the pipeline runs them.
    with Extractor(ExtractConfig(engine=RESILIPARSE)) as extractor:
        scores = []
        for page_id, entry in sorted(truth.items()):
            html = gzip.decompress((root / "html" / f"{page_id}.html.gz").read_bytes()).decode("utf-8", "replace")
            result = extractor.extract(html, url=entry["url"])
            scores.append(extraction_f1("" if isinstance(result, Rejection) else result, entry["articleBody"])[2])
    assert len(scores) == 181
    assert sum(scores) / len(scores) >= 0.90


def test_a_curate_run_uses_the_recipes_engine(tmp_path: Path) -> None:
    """Through Beam and the extraction child, kept text is exactly the engine's text for that page."""
    import pyarrow.parquet as pq
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from winnow.demo.sample_warc import SampleSpec, write_sample_warc
    from winnow.curation.triage import charset_param, decode_html
    from winnow.pipelines.run_curate import run_curate

    warc, recipe = tmp_path / "sample.warc.gz", tmp_path / "fast.yaml"
    write_sample_warc(warc, SampleSpec(pages=12, seed=11))
    recipe.write_text("name: fast\ndescription: resiliparse only\nsteps:\n  - extract: {engine: resiliparse}\n")
    stats = run_curate([str(warc)], str(tmp_path / "out"), recipe=str(recipe), beam_args=[])
    assert stats["accounting"]["ok"], stats["accounting"]
    kept = {r["warc_record_id"]: r["text"] for f in sorted((tmp_path / "out" / "documents").glob("*.parquet"))
            for r in pq.read_table(f).to_pylist()}
    assert len(kept) >= 12
    extractor = Extractor(ExtractConfig(engine=RESILIPARSE, timeout_s=None))
    with open(warc, "rb") as stream:
        for record in ArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=True):
            record_id = record.headers.get("WARC-Record-ID", "")
            if record_id in kept:
                decoded = decode_html(record.reader.read(), charset_param(record.http_content_type))
                assert decoded is not None
                assert kept.pop(record_id) == extractor.extract(decoded[0], url=record.headers.get("WARC-Target-URI", ""))
    assert not kept  # every kept document was checked
