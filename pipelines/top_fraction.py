"""`keep_top_fraction`: keep the best-scoring fraction of the whole corpus, in two passes.

A per-document step cannot know the corpus' score distribution, so the
`classifier` step keeps every document it scores and this transform applies
the cut afterwards: pass one computes approximate quantiles of the score
column over all kept rows (`beam.ApproximateQuantiles`, a combiner, so it
runs on Dataflow unchanged), pass two compares each row with the resulting
threshold (a side input). Rows below it go to the rejected output with the
classifier step as their stage. Ties at the threshold are all kept.
"""
from __future__ import annotations

import math
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from winnow.curation.classifier.step import quantile_threshold, score_column, top_fraction_verdict

KEPT = "kept"
REJECTED = "rejected"
# Rank precision of the cut: with 1001 quantiles the threshold sits within
# about 0.1% of the corpus of the exact one (exact for small inputs).
DEFAULT_NUM_QUANTILES = 1001


def _valid_score(score: Any) -> bool:
    return isinstance(score, (int, float)) and not isinstance(score, bool) and not math.isnan(score)


class _SplitAtThreshold(beam.DoFn):
    """Route each row: kept, or rejected with stage, reason and detail."""

    def __init__(self, step_name: str, fraction: float):
        self._step_name = step_name
        self._column = score_column(step_name)
        self._fraction = fraction
        self._kept = Metrics.counter(step_name, "kept_top_fraction")
        self._rejected: dict[str, Any] = {}

    def process(self, row: dict[str, Any], threshold: float | None):
        verdict = top_fraction_verdict(row.get(self._column), threshold, self._fraction)
        if verdict is None:
            self._kept.inc()
            yield row
            return
        reason, detail = verdict
        counter = self._rejected.get(reason)
        if counter is None:
            counter = self._rejected[reason] = Metrics.counter(self._step_name, reason)
        counter.inc()
        yield pvalue.TaggedOutput(REJECTED, {**row, "stage": self._step_name, "reason": reason, "detail": detail})


class KeepTopFraction(beam.PTransform):
    """Kept row dicts (with `<step>_score`) -> outputs `kept` and `rejected` (row dicts).

    The threshold also comes out as `threshold` (one float, or None when there
    were no scores), so a run can record the cut it applied.
    """

    def __init__(self, step_name: str, fraction: float, num_quantiles: int = DEFAULT_NUM_QUANTILES):
        super().__init__(label=f"KeepTopFraction[{step_name}]")
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"{step_name}: keep_top_fraction must be within (0, 1], got {fraction!r}")
        if num_quantiles < 2:
            raise ValueError(f"num_quantiles must be >= 2, got {num_quantiles}")
        self._step_name = step_name
        self._fraction = fraction
        self._num_quantiles = num_quantiles

    def expand(self, rows):
        column = score_column(self._step_name)
        fraction = self._fraction  # a local, so the lambda below does not pickle the transform
        scores = rows | "Scores" >> beam.Map(lambda row: row.get(column)) | "ValidScores" >> beam.Filter(_valid_score)
        count = scores | "Count" >> beam.combiners.Count.Globally()
        threshold = (
            scores
            | "Quantiles" >> beam.ApproximateQuantiles.Globally(self._num_quantiles)
            | "Threshold" >> beam.Map(
                lambda quantiles, n: quantile_threshold(quantiles, fraction, n), n=pvalue.AsSingleton(count)
            )
        )
        split = rows | "Split" >> beam.ParDo(
            _SplitAtThreshold(self._step_name, self._fraction),
            threshold=pvalue.AsSingleton(threshold, default_value=None),
        ).with_outputs(REJECTED, main=KEPT)
        return {KEPT: split[KEPT], REJECTED: split[REJECTED], "threshold": threshold}
