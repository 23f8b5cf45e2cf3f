"""The Human review section, through the report package's own section machinery."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.review.helpers import make_output
from winnow import schemas
from winnow.review.labels import LABELS_PREFIX, VOTES_PREFIX, SessionFile, label_row, review_dir
from winnow.report.review import REVIEW_KEY, REVIEW_TITLE, build_review, html_review

report = pytest.importorskip("winnow.report")
SPEC = report.SectionSpec(REVIEW_KEY, REVIEW_TITLE, build_review, html_review, ("curate/review",))


def test_review_section_not_run_without_labels(tmp_path):
    make_output(tmp_path / "curate")
    assert report.build_section(tmp_path, SPEC).status == report.STATUS_NOT_RUN


def test_review_section_shows_labels_and_votes_escaped(tmp_path):
    curate = make_output(tmp_path / "curate")
    s = SessionFile(review_dir(curate), LABELS_PREFIX, "<b>ana</b>", schemas.review_labels_schema())
    s.put_many(label_row(f"gopher-{i:03d}", "bad", "<b>ana</b>", None, None) for i in range(3))
    s.put(label_row("kept-001", "good", "<b>ana</b>", None, None))
    votes = SessionFile(review_dir(tmp_path / "train"), VOTES_PREFIX, "ana", schemas.review_votes_schema())
    for i, vote in enumerate(("a", "a", "b", "tie")):
        votes.put({"id": f"p{i}", "vote": vote, "reviewer": "ana", "time": dt.datetime.now(dt.timezone.utc),
                   "note": None, "stratum": "compare", "run_a": "/r/alpha", "run_b": "/r/<beta>", "prompt": "",
                   "left": "a"})
    section = report.build_section(tmp_path, SPEC)
    assert section.status == report.STATUS_OK, section.error
    data = section.to_summary()
    outputs = section.data["outputs"]
    assert set(outputs) == {"curate", "train"}
    gopher = next(r for r in outputs["curate"]["agreement"]["rules"] if r["reason"] == "gopher_below_min_words")
    assert gopher["precision"] == 1.0
    assert outputs["train"]["comparisons"][0]["a_wins"] == 2
    assert data["status"] == report.STATUS_OK
    page = report.render_html([section], tmp_path, specs=(SPEC,))
    assert "<b>ana</b>" not in page and "&lt;b&gt;ana&lt;/b&gt;" in page and "&lt;beta&gt;" in page
    assert "Filter agreement" in page and "Blind model comparison" in page


def test_review_section_names_a_corrupt_labels_file(tmp_path):
    curate = make_output(tmp_path / "curate")
    review_dir(curate).mkdir()
    (review_dir(curate) / "labels-x.parquet").write_bytes(b"junk")
    section = report.build_section(tmp_path, SPEC)
    assert section.status == report.STATUS_ERROR and "labels-x.parquet: corrupt labels file" in section.error
