"""The sample WARC: deterministic bytes, and labels that match what the real
reader, triage, extractor, language model and FineWeb filters do with it."""
from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from winnow.demo import sample_warc as sw
from winnow.demo.sample_warc import SampleSpec, generate_sample, read_labels, write_sample_warc

SMALL = SampleSpec(pages=40, seed=3)
TRAFILATURA_KWARGS = {"favor_precision": True, "include_comments": False}
RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w\s]", " ", text.lower()).split()


def _shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _jaccard(a: str, b: str) -> float:
    sa, sb = _shingles(a), _shingles(b)
    return len(sa & sb) / len(sa | sb)


def _sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?:\s|$)", text))


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, list[dict], tuple[sw.SampleRecord, ...]]:
    path = tmp_path_factory.mktemp("sample") / "small.warc.gz"
    labels_path = write_sample_warc(path, SMALL)
    return path, read_labels(labels_path), generate_sample(SMALL)


@pytest.fixture(scope="module")
def extracted(small) -> dict[str, str | None]:
    """trafilatura's text for every page, keyed by URL (FineWeb's settings)."""
    trafilatura = pytest.importorskip("trafilatura")
    _, _, records = small
    out = {}
    for rec in records:
        if rec.html is not None and rec.label["record_type"] == "response":
            out[rec.label["url"]] = trafilatura.extract(rec.html, **TRAFILATURA_KWARGS)
    return out


@pytest.fixture(scope="module")
def lid_model():
    from winnow.curation.langid import default_model_path

    fasttext = pytest.importorskip("fasttext")
    try:
        model_path = default_model_path()
    except FileNotFoundError as exc:
        pytest.skip(f"fastText lid.176 model not installed: {exc}")
    return fasttext.load_model(str(model_path))


def _predict(model, text: str) -> tuple[str, float]:
    # The single-string form: the list form fails with this fastText provider.
    (label,), (score,) = model.predict(text.replace("\n", " "), k=1)
    return label.removeprefix("__label__"), float(score)


# --------------------------------------------------------------------------- file


def test_same_spec_gives_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    first = write_sample_warc(tmp_path / "a.warc.gz", SMALL)
    second = write_sample_warc(tmp_path / "b.warc.gz", SMALL)
    other = write_sample_warc(tmp_path / "c.warc.gz", SampleSpec(pages=SMALL.pages, seed=SMALL.seed + 1))
    assert first == tmp_path / "a.labels.jsonl"
    assert (tmp_path / "a.warc.gz").read_bytes() == (tmp_path / "b.warc.gz").read_bytes()
    assert first.read_bytes() == second.read_bytes()
    assert (tmp_path / "a.warc.gz").read_bytes() != (tmp_path / "c.warc.gz").read_bytes()


def test_one_label_per_record_with_expected_category_counts(small) -> None:
    _, labels, records = small
    assert [r.label for r in records] == labels
    counts = Counter(label["category"] for label in labels)
    expected = {
        sw.CATEGORY_ARTICLE: SMALL.pages,
        sw.CATEGORY_EXACT_DUPLICATE: SMALL.exact_duplicates,
        sw.CATEGORY_NEAR_DUPLICATE: SMALL.near_duplicates,
        sw.CATEGORY_FOREIGN: SMALL.pages_per_language * len(sw.FOREIGN_LANGUAGES),
        sw.CATEGORY_THIN: SMALL.thin_pages,
        sw.CATEGORY_SPAM: SMALL.spam_pages,
        sw.CATEGORY_WARCINFO: 1,
        sw.CATEGORY_METADATA: 1,
        sw.CATEGORY_IMAGE: 1,
        sw.CATEGORY_PDF: 1,
        sw.CATEGORY_REDIRECT: 1,
        sw.CATEGORY_NOT_FOUND: 1,
        sw.CATEGORY_EMPTY: 1,
        sw.CATEGORY_BINARY: 1,
        sw.CATEGORY_TRUNCATED: 1,
    }
    assert {k: v for k, v in counts.items() if k != sw.CATEGORY_REQUEST} == expected
    assert counts[sw.CATEGORY_REQUEST] >= 1
    assert labels[0]["record_type"] == "warcinfo"
    assert labels[-1]["category"] == sw.CATEGORY_TRUNCATED
    assert labels[-1]["expect"] == {"outcome": sw.OUTCOME_ERROR, "stage": sw.STAGE_READ, "reason": None}
    assert len({label["warc_record_id"] for label in labels}) == len(labels)
    urls = [label["url"] for label in labels if label["record_type"] == "response"]
    assert len(set(urls)) == len(urls)
    for label in labels:
        if label["category"] in (sw.CATEGORY_EXACT_DUPLICATE, sw.CATEGORY_NEAR_DUPLICATE):
            assert label["duplicate_of"] in urls
            assert urls.index(label["duplicate_of"]) < urls.index(label["url"])


def test_default_spec_has_enough_cases_for_a_dedup_demo() -> None:
    spec = SampleSpec()
    assert (spec.pages, spec.exact_duplicates, spec.near_duplicates) == (240, 12, 12)
    records = generate_sample(spec)
    english = [r for r in records if r.label["category"] == sw.CATEGORY_ARTICLE]
    pages = [r for r in records if r.html is not None]
    assert len(english) / len(pages) >= 0.7
    words = sum(len(r.article.text.split()) for r in english)
    sentences = [s for r in english for p in r.article.paragraphs for s in p]
    assert words >= 150_000
    # Templates repeat, but filled slots and optional phrases keep most sentences distinct.
    assert len(set(sentences)) / len(sentences) >= 0.6


def test_warcio_reads_every_record_but_the_truncated_one(small) -> None:
    archiveiterator = pytest.importorskip("warcio.archiveiterator")
    path, labels, _ = small
    seen, concurrent = [], []
    with path.open("rb") as f:
        for record in archiveiterator.ArchiveIterator(f):
            body = record.content_stream().read()
            declared = record.http_headers.get_header("Content-Length") if record.http_headers else None
            seen.append((record.rec_headers.get_header("WARC-Record-ID"), record.rec_type, declared, len(body)))
            concurrent.append(record.rec_headers.get_header("WARC-Concurrent-To"))
    assert [s[0] for s in seen] == [label["warc_record_id"] for label in labels]
    assert [s[1] for s in seen] == [label["record_type"] for label in labels]
    complete = [declared is None or int(declared) == got for _, _, declared, got in seen]
    # warcio does not fail on a cut gzip member: it returns a short body.
    assert all(complete[:-1]) and not complete[-1]
    # A request names the response that follows it; the metadata record the one before.
    for n, (_, rec_type, _, _) in enumerate(seen):
        if rec_type == "request":
            assert concurrent[n] == seen[n + 1][0] and seen[n + 1][1] == "response"
        if rec_type == "metadata":
            assert concurrent[n] == seen[n - 1][0]


def test_project_reader_triage_and_extractor_agree_with_labels(small) -> None:
    from winnow.curation.archive import ReadFailure, iter_archive
    from winnow.curation.extract import ExtractConfig, Extractor
    from winnow.curation.triage import Rejection, TriageConfig, triage

    path, labels, _ = small
    extractor = Extractor(ExtractConfig(timeout_s=None))
    with path.open("rb") as f:
        items = list(iter_archive(f, str(path)))
    assert len(items) == len(labels)
    for item, label in zip(items, labels):
        if isinstance(item, ReadFailure):
            got = {"outcome": sw.OUTCOME_ERROR, "stage": sw.STAGE_READ, "reason": None}
        else:
            assert item.warc_record_id == label["warc_record_id"]
            decoded = triage(item, TriageConfig())
            if not isinstance(decoded, Rejection):
                decoded = extractor.extract(decoded.content, item.url)
            if isinstance(decoded, Rejection):
                got = {"outcome": sw.OUTCOME_REJECTED, "stage": decoded.stage, "reason": decoded.reason}
            else:
                got = {"outcome": sw.OUTCOME_KEPT, "stage": None, "reason": None}
        assert got == label["expect"], f"{label['category']} {label['url']}"


# --------------------------------------------------------------------------- text


def test_article_main_text_is_the_article_without_boilerplate(small, extracted) -> None:
    _, _, records = small
    boilerplate = sw.boilerplate_snippets()
    articles = [r for r in records if r.label["category"] == sw.CATEGORY_ARTICLE]
    assert articles
    for rec in articles:
        text = extracted[rec.label["url"]]
        assert text, rec.label["url"]
        for paragraph in rec.article.paragraphs:
            assert " ".join(paragraph) in text, rec.label["url"]
        for snippet in boilerplate:
            assert snippet not in text, (rec.label["url"], snippet)
        assert not set(text.splitlines()) & set(sw.boilerplate_lines()), rec.label["url"]
        assert _sentences(text) >= 5 and len(text.split()) >= 200, rec.label["url"]


def test_foreign_pages_are_identified_as_their_language(small, lid_model) -> None:
    trafilatura = pytest.importorskip("trafilatura")
    _, _, records = small
    foreign = [r for r in records if r.label["category"] == sw.CATEGORY_FOREIGN]
    assert {r.label["language"] for r in foreign} == set(sw.FOREIGN_LANGUAGES)
    legacy = 0
    for rec in foreign:
        body = rec.record.split(b"\r\n\r\n", 2)[2].removesuffix(b"\r\n\r\n")
        assert f"charset={rec.charset}" in rec.record.split(b"\r\n\r\n", 2)[1].decode("latin-1")
        legacy += rec.charset != "utf-8"
        text = trafilatura.extract(body.decode(rec.charset), **TRAFILATURA_KWARGS)
        assert text, rec.label["url"]
        language, score = _predict(lid_model, text)
        assert language == rec.label["language"] and score >= 0.5, (rec.label["url"], language, score)
    assert legacy >= len(sw.FOREIGN_LANGUAGES)


def test_near_duplicates_are_close_and_distinct_articles_are_not(small, extracted) -> None:
    _, labels, records = small
    by_url = {r.label["url"]: r for r in records if r.article is not None}
    near = [r for r in records if r.label["category"] == sw.CATEGORY_NEAR_DUPLICATE]
    assert near
    for rec in near:
        original = by_url[rec.label["duplicate_of"]]
        assert rec.article.text != original.article.text
        assert _jaccard(rec.article.text, original.article.text) >= 0.8
        assert _jaccard(extracted[rec.label["url"]], extracted[original.label["url"]]) >= 0.8
    exact = [r for r in records if r.label["category"] == sw.CATEGORY_EXACT_DUPLICATE]
    for rec in exact:
        assert rec.html == by_url[rec.label["duplicate_of"]].html
    articles = [r.article.text for r in records if r.label["category"] == sw.CATEGORY_ARTICLE]
    worst = max(_jaccard(a, b) for a, b in itertools.combinations(articles, 2))
    assert worst < 0.3


def test_quality_labels_match_the_fineweb_recipe(small, extracted, lid_model) -> None:
    """Apply the fineweb recipe's language threshold and filter steps to each kept page."""
    filters = pytest.importorskip("winnow.curation.filters")
    from winnow.curation.config import config_from_mapping
    from winnow.curation.types import Document, StepSpec

    recipe_path = RECIPES_DIR / "fineweb.yaml"
    if not recipe_path.is_file():
        pytest.skip(f"recipe not found at {recipe_path}")
    recipe = yaml.safe_load(recipe_path.read_text(encoding="utf-8"))
    specs = {spec.name: spec for spec in filters.__dict__.values() if isinstance(spec, StepSpec)}
    steps, language = [], None
    for entry in recipe["steps"]:
        ((name, config),) = entry.items()
        if name == "language":
            language = config
        elif name in specs:
            spec = specs[name]
            steps.append((name, spec.build(config_from_mapping(spec.config_type, config, f"fineweb, step {name}"))))
    assert language is not None and steps
    _, labels, _ = small
    checked = Counter()
    for label in labels:
        if label["expect_quality"] is None or label["expect"]["outcome"] != sw.OUTCOME_KEPT:
            continue
        text = extracted[label["url"]]
        lang, score = _predict(lid_model, text)
        verdict, why = sw.QUALITY_KEEP, ""
        if lang not in language["keep"] or score <= language["min_score"]:
            verdict, why = sw.QUALITY_REJECT, f"language {lang} {score:.2f}"
        else:
            doc = Document(text=text, url=label["url"], language=lang, language_score=score)
            for name, step in steps:
                result = step(doc)
                if not result.kept:
                    verdict, why = sw.QUALITY_REJECT, f"{name}: {result.reason}"
                    break
                if result.text is not None:
                    doc = Document(text=result.text, url=doc.url, language=lang, language_score=score)
        assert verdict == label["expect_quality"], (label["category"], label["url"], why)
        checked[verdict] += 1
    assert checked[sw.QUALITY_KEEP] >= SMALL.pages and checked[sw.QUALITY_REJECT] >= SMALL.spam_pages


# --------------------------------------------------------------------------- API


def test_default_sample_is_fast(tmp_path: Path) -> None:
    # CPU time of this process, not wall-clock time: other jobs on the machine must not fail it.
    start = time.process_time()
    labels = write_sample_warc(tmp_path / "default.warc.gz", SampleSpec())
    elapsed = time.process_time() - start
    assert elapsed < 5.0, f"default sample took {elapsed:.2f} CPU seconds"
    assert len(read_labels(labels)) > SampleSpec().pages


@pytest.mark.slow
def test_large_sample_stays_deterministic_and_fast(tmp_path: Path) -> None:
    spec = SampleSpec(pages=2000, seed=11)
    start = time.process_time()  # CPU time: load-independent
    write_sample_warc(tmp_path / "a.warc.gz", spec)
    elapsed = time.process_time() - start
    write_sample_warc(tmp_path / "b.warc.gz", spec)
    assert elapsed < 30.0, f"2000-page sample took {elapsed:.2f} CPU seconds"
    assert (tmp_path / "a.warc.gz").read_bytes() == (tmp_path / "b.warc.gz").read_bytes()
    assert (tmp_path / "a.labels.jsonl").read_bytes() == (tmp_path / "b.labels.jsonl").read_bytes()
    counts = Counter(label["category"] for label in read_labels(tmp_path / "a.warc.gz"))
    assert counts[sw.CATEGORY_ARTICLE] == 2000 and counts[sw.CATEGORY_EXACT_DUPLICATE] == 100


@pytest.mark.parametrize("pages", [1, 2, 3])
def test_tiny_samples_still_have_every_case_with_unique_urls_and_ids(pages: int) -> None:
    spec = SampleSpec(pages=pages)
    labels = [r.label for r in generate_sample(spec)]
    ids = [label["warc_record_id"] for label in labels]
    urls = [label["url"] for label in labels if label["record_type"] == "response"]
    assert len(set(ids)) == len(ids) and len(set(urls)) == len(urls)
    counts = Counter(label["category"] for label in labels)
    assert counts[sw.CATEGORY_ARTICLE] == pages
    assert counts[sw.CATEGORY_EXACT_DUPLICATE] == spec.exact_duplicates
    assert counts[sw.CATEGORY_NEAR_DUPLICATE] == spec.near_duplicates
    assert counts[sw.CATEGORY_TRUNCATED] == 1


def test_word_shingle_jaccard_ignores_case_and_punctuation() -> None:
    text = "The quick brown fox jumps over the lazy dog near the river bank."
    assert sw.word_shingle_jaccard(text, text.upper().replace(".", "!")) == 1.0
    assert sw.word_shingle_jaccard(text, "Nothing in common with that sentence at all, really.") == 0.0
    # 9 five-grams each; the last 2 differ, so 7 shared of 11.
    assert sw.word_shingle_jaccard(text, text.replace("river bank", "old mill")) == pytest.approx(7 / 11)


@pytest.mark.parametrize("kwargs", [{"pages": 0}, {"pages": -5}, {"seed": -1}, {"pages": True}])
def test_bad_spec_is_rejected_with_the_field_name(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        SampleSpec(**kwargs)


def test_missing_directory_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "x.warc.gz"
    with pytest.raises(FileNotFoundError, match="nope"):
        write_sample_warc(missing, SMALL)


def test_labels_path_and_unreadable_labels(tmp_path: Path) -> None:
    assert sw.labels_path_for("out/x.warc.gz") == Path("out/x.labels.jsonl")
    assert sw.labels_path_for("y.warc") == Path("y.labels.jsonl")
    bad = tmp_path / "z.labels.jsonl"
    bad.write_text('{"ok": 1}\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"z\.labels\.jsonl: line 2"):
        read_labels(bad)
