"""Agreement with the filters, weighted shares, ROC thresholds, kappa, and the report fragment."""
from __future__ import annotations

import json
import math

import pytest
from scipy.stats import binomtest

from tests.review.helpers import make_output
from winnow import schemas
from winnow.review.labels import LABELS_PREFIX, SessionFile, label_row, read_labels, review_dir
from winnow.review.source import load_index
from winnow.review.stats import (
    consensus, render_html, review_summary, reviewer_kappa, rule_agreement, summary_rows, thresholds, wilson,
)


def give(out, reviewer, labels):
    s = SessionFile(review_dir(out), LABELS_PREFIX, reviewer, schemas.review_labels_schema())
    s.put_many(label_row(d, label, reviewer, None, None) for d, label in labels.items())


def test_wilson_matches_scipy_and_handles_edges():
    for k, n in ((0, 10), (4, 5), (37, 80), (10, 10)):
        ci = binomtest(k, n).proportion_ci(method="wilson")
        assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert wilson(0, 0) is None
    lo, hi = wilson(2.5, 7.3)  # weighted counts are not integers
    assert 0 < lo < 2.5 / 7.3 < hi < 1


@pytest.fixture()
def labelled(tmp_path):
    out = make_output(tmp_path / "out")
    labels = {f"kept-{i:03d}": ("good" if i < 8 else "bad") for i in range(10)}
    labels |= {f"gopher-{i:03d}": ("good" if i == 0 else "bad") for i in range(5)}
    labels |= {"c4-000": "bad", "c4-001": "good", "c4-002": "good", "kept-020": "skip"}
    give(out, "ana", labels)
    return out


def test_precision_and_weighted_share_of_good_removed(labelled):
    index = load_index(labelled)
    summary = review_summary(labelled)
    rows = {r["rule"]: r for r in summary["agreement"]["rules"]}
    gopher = rows["rejected/gopher/gopher_below_min_words"]
    assert (gopher["good"], gopher["bad"], gopher["records"]) == (1, 4, 10)
    assert gopher["precision"] == pytest.approx(0.8)
    assert gopher["precision_ci"] == pytest.approx(wilson(4, 5))
    # weights: kept 30/10, gopher 10/5, c4 6/3 -> estimated good 24, 2 and 4 of 30
    assert gopher["good_removed_share"] == pytest.approx(2 / 30)
    assert rows["rejected/c4/c4_lorem_ipsum"]["good_removed_share"] == pytest.approx(4 / 30)
    lo, hi = gopher["good_removed_ci"]
    assert lo < 2 / 30 < hi
    assert rows["kept"]["good_share"] == pytest.approx(0.8)
    triage = rows["rejected/triage/not_html"]
    assert triage["labelled"] == 0 and triage["precision"] is None and triage["precision_ci"] is None
    assert summary["agreement"]["unlabelled_records"] == 3
    assert summary["labels"]["by_label"] == {"good": 11, "bad": 7, "skip": 1}
    assert summary["labels"]["documents_decided"] == 18  # the skip decides nothing
    assert consensus(read_labels(labelled))["kept-009"] == "bad"
    assert rule_agreement(index, {})["kept_labelled"] is False


def test_share_of_good_removed_needs_kept_labels(tmp_path):
    out = make_output(tmp_path / "out")
    give(out, "ana", {"gopher-000": "good", "gopher-001": "bad"})
    rows = {r["rule"]: r for r in review_summary(out)["agreement"]["rules"]}
    assert rows["rejected/gopher/gopher_below_min_words"]["precision"] == 0.5
    assert rows["rejected/gopher/gopher_below_min_words"]["good_removed_share"] is None


def test_threshold_is_the_roc_point_in_either_direction(tmp_path):
    out = make_output(tmp_path / "out")
    index = load_index(out)
    # kept-i has 50 + 5 i words: humans call >= 100 words good
    decided = {f"kept-{i:03d}": ("good" if 50 + 5 * i >= 100 else "bad") for i in range(20)}
    rows = {t["signal"]: t for t in thresholds(index, decided)}
    words = rows["gopher_word_count"]
    assert (words["keep"], words["threshold"], words["good_kept"], words["bad_kept"]) == (">=", 100.0, 1.0, 0.0)
    assert words["auc"] == 1.0
    assert rows["fineweb_punct_ratio"]["threshold"] == pytest.approx(0.5)
    assert "needs" in rows["c4_has_lorem"]["note"]  # constant: nothing to learn
    flipped = {d: ("bad" if v == "good" else "good") for d, v in decided.items()}
    words = {t["signal"]: t for t in thresholds(index, flipped)}["gopher_word_count"]
    assert (words["keep"], words["threshold"]) == ("<=", 95.0)
    few = {t["signal"]: t for t in thresholds(index, {"kept-000": "bad", "kept-019": "good"})}
    assert "threshold" not in few["gopher_word_count"]


def test_kappa_between_reviewers(tmp_path):
    out = make_output(tmp_path / "out")
    give(out, "ana", {"kept-000": "good", "kept-001": "good", "kept-002": "bad", "kept-003": "bad", "kept-009": "good"})
    give(out, "bo", {"kept-000": "good", "kept-001": "bad", "kept-002": "bad", "kept-003": "bad"})
    give(out, "cy", {"kept-004": "good"})  # shares no document with anyone: no pair
    give(out, "dee", {"kept-000": "good", "kept-001": "good"})

    pairs = {tuple(k["reviewers"]): k for k in reviewer_kappa(read_labels(out))}
    assert set(pairs) == {("ana", "bo"), ("ana", "dee"), ("bo", "dee")}
    # observed 0.75, expected 0.5 -> 0.5
    assert pairs[("ana", "bo")]["kappa"] == pytest.approx(0.5) and pairs[("ana", "bo")]["documents"] == 4
    # both said good throughout: agreement is total but kappa is undefined
    assert pairs[("ana", "dee")]["kappa"] is None and pairs[("ana", "dee")]["agreement"] == 1.0


def test_summary_is_none_without_labels_and_tables_render(labelled, tmp_path):
    assert review_summary(make_output(tmp_path / "bare")) is None
    summary = review_summary(labelled)
    json.dumps(summary)  # JSON-able, as summary.json needs
    tables = summary_rows(summary)
    assert any(t.startswith("Filter agreement") for t in tables)
    header, rows = next(v for k, v in tables.items() if k.startswith("Filter agreement"))
    gopher = next(r for r in rows if r[1] == "gopher_below_min_words")
    assert gopher[6].startswith("80.0% [") and gopher[7].startswith("6.7% [")


def test_html_fragment_escapes_everything(tmp_path):
    out = make_output(tmp_path / "out")
    give(out, "<script>alert(1)</script>", {"kept-000": "good", "kept-001": "bad"})
    fragment = render_html(review_summary(out))
    assert "<script>" not in fragment and "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment
    assert "<table>" in fragment
    assert "No human review" in render_html(None)
    assert not math.isnan(review_summary(out)["agreement"]["good_effective_n"])
