"""Beam wiring of learned classifiers: the two-pass keep_top_fraction (scoring
itself runs through the record path; see test_curate_classifiers.py)."""
from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from winnow.curation.classifier.step import (
    CLASSIFIER_BELOW_TOP_FRACTION,
    CLASSIFIER_SCORE_MISSING,
    top_fraction_threshold,
)
from winnow.pipelines.top_fraction import KEPT, REJECTED, KeepTopFraction

STEP = "classifier_dclm"
COLUMN = "classifier_dclm_score"


def _rows(scores):
    return [{"id": f"d{i}", "text": f"text {i}", COLUMN: s} for i, s in enumerate(scores)]


def _run(rows, fraction):
    with TestPipeline() as p:
        out = p | beam.Create(rows) | KeepTopFraction(STEP, fraction)
        kept_ids = out[KEPT] | "KeptIds" >> beam.Map(lambda r: r["id"])
        rejected = out[REJECTED] | "Rejected" >> beam.Map(lambda r: (r["id"], r["stage"], r["reason"]))
        yield kept_ids, rejected, out["threshold"]


def test_keeps_the_top_fraction_and_rejects_the_rest_with_stage_and_reason():
    scores = [i / 200 for i in range(200)]
    expected_cut = top_fraction_threshold(scores, 0.1)
    kept = sorted(f"d{i}" for i, s in enumerate(scores) if s >= expected_cut)
    assert len(kept) == 20
    rejected = [(f"d{i}", STEP, CLASSIFIER_BELOW_TOP_FRACTION) for i, s in enumerate(scores) if s < expected_cut]
    for kept_ids, rejected_rows, threshold in _run(_rows(scores), 0.1):
        assert_that(kept_ids, equal_to(kept), label="kept")
        assert_that(rejected_rows, equal_to(rejected), label="rejected")
        assert_that(threshold, equal_to([expected_cut]), label="threshold")


def test_every_row_ends_kept_or_rejected_and_details_name_the_cut():
    scores = [0.9, 0.9, 0.9, 0.2, None]  # ties at the cut are kept; a row without a score is rejected
    with TestPipeline() as p:
        out = p | beam.Create(_rows(scores)) | KeepTopFraction(STEP, 0.2)
        assert_that(out[KEPT] | "K" >> beam.Map(lambda r: r["id"]), equal_to(["d0", "d1", "d2"]), label="kept")
        assert_that(
            out[REJECTED] | "R" >> beam.Map(lambda r: (r["id"], r["reason"], r["detail"].split(" (")[-1])),
            equal_to([
                ("d3", CLASSIFIER_BELOW_TOP_FRACTION, "keep_top_fraction 0.2)"),
                ("d4", CLASSIFIER_SCORE_MISSING, "no classifier score"),
            ]),
            label="rejected",
        )


def test_empty_input_gives_no_rows_and_no_threshold():
    with TestPipeline() as p:
        out = p | beam.Create([]).with_output_types(dict) | KeepTopFraction(STEP, 0.5)
        assert_that(out[KEPT], equal_to([]), label="kept")
        assert_that(out[REJECTED], equal_to([]), label="rejected")
        assert_that(out["threshold"], equal_to([None]), label="threshold")


def test_bad_fraction_is_refused_when_the_pipeline_is_built():
    with pytest.raises(ValueError, match="keep_top_fraction"):
        KeepTopFraction(STEP, 0.0)
