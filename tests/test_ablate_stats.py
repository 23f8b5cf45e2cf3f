"""Paired statistics of ablation arms on synthetic numbers."""
from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from winnow.ablation.stats import (
    BETTER,
    INCONCLUSIVE,
    WORSE,
    StatsError,
    compare,
    higher_is_better,
    minimum_detectable_effect,
)

BASE = {0: 2.40, 1: 2.45, 2: 2.38, 3: 2.42, 4: 2.47}


def _shifted(values, shift, noise=(0.004, -0.003, 0.002, -0.004, 0.001)):
    return {s: v + shift + noise[i] for i, (s, v) in enumerate(values.items())}


def test_identical_arms_are_inconclusive():
    result = compare(BASE, dict(BASE), "eval_bpb")
    assert result.verdict == INCONCLUSIVE
    assert result.mean_diff == 0.0 and result.p_value == 1.0
    assert result.ci95 == (0.0, 0.0)
    assert result.to_dict()["mde"] is None  # no spread: the seed noise is unmeasured, not zero


def test_a_clearly_higher_bpb_is_worse_and_lower_is_better():
    worse = compare(BASE, _shifted(BASE, +0.10), "eval_bpb")
    assert worse.verdict == WORSE and worse.p_value < 0.01
    assert worse.ci95[0] < worse.mean_diff < worse.ci95[1] and worse.ci95[0] > 0
    better = compare(BASE, _shifted(BASE, -0.10), "eval_bpb")
    assert better.verdict == BETTER


def test_accuracy_direction_is_reversed():
    acc = {0: 0.60, 1: 0.61, 2: 0.59, 3: 0.60, 4: 0.62}
    assert compare(acc, _shifted(acc, +0.05), "blimp_acc").verdict == BETTER
    assert compare(acc, _shifted(acc, -0.05), "blimp_acc").verdict == WORSE


def test_a_difference_inside_the_noise_is_inconclusive_and_below_the_mde():
    noisy = {0: 0.03, 1: -0.04, 2: 0.05, 3: -0.02, 4: 0.01}
    result = compare(BASE, {s: BASE[s] + 0.005 + noisy[s] for s in BASE}, "eval_bpb")
    assert result.verdict == INCONCLUSIVE
    assert abs(result.mean_diff) < result.mde


def test_numbers_match_scipy_and_the_t_interval():
    cand = _shifted(BASE, 0.02, noise=(0.01, -0.02, 0.03, 0.0, -0.01))
    result = compare(BASE, cand, "eval_bpb")
    ref = scipy_stats.ttest_rel([cand[s] for s in sorted(cand)], [BASE[s] for s in sorted(BASE)])
    assert result.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    diffs = [cand[s] - BASE[s] for s in sorted(BASE)]
    sd = scipy_stats.tstd(diffs)
    half = scipy_stats.t.ppf(0.975, 4) * sd / math.sqrt(5)
    assert result.ci95 == pytest.approx((result.mean_diff - half, result.mean_diff + half))


def test_significance_level_is_configurable():
    cand = _shifted(BASE, 0.01, noise=(0.01, -0.005, 0.012, 0.0, -0.004))
    loose = compare(BASE, cand, "eval_bpb", alpha=0.2)
    strict = compare(BASE, cand, "eval_bpb", alpha=0.001)
    assert loose.p_value == strict.p_value
    assert 0.001 < loose.p_value < 0.2
    assert loose.verdict == WORSE and strict.verdict == INCONCLUSIVE


def test_minimum_detectable_effect_has_the_asked_power():
    # Simulate: at the MDE, a paired t-test on n normal differences rejects ~80% of the time.
    import numpy as np

    n, sd, alpha = 6, 0.05, 0.05
    mde = minimum_detectable_effect(sd, n, alpha)
    rng = np.random.default_rng(0)
    samples = rng.normal(mde, sd, size=(20000, n))
    p = scipy_stats.ttest_1samp(samples, 0.0, axis=1).pvalue
    assert float((p < alpha).mean()) == pytest.approx(0.8, abs=0.015)
    # More pairs or a stricter level move it the right way.
    assert minimum_detectable_effect(sd, 12, alpha) < mde < minimum_detectable_effect(sd, n, 0.01)
    assert math.isnan(minimum_detectable_effect(0.0, n)) and math.isnan(minimum_detectable_effect(sd, 1))


def test_one_seed_cannot_decide():
    result = compare({0: 2.4}, {0: 3.0}, "eval_bpb")
    assert result.verdict == INCONCLUSIVE and math.isnan(result.p_value)
    assert result.to_dict()["p_value"] is None


def test_unpaired_seeds_and_unknown_directions_are_errors():
    with pytest.raises(StatsError, match="different seeds"):
        compare({0: 1.0, 1: 1.0}, {0: 1.0, 2: 1.0}, "eval_bpb")
    with pytest.raises(StatsError, match="direction unknown"):
        higher_is_better("mystery")
    assert compare({0: 1.0, 1: 2.0}, {0: 1.5, 1: 2.5}, "mystery", higher_better=True).verdict == BETTER
