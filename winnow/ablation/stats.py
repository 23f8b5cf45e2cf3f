"""Paired comparisons of ablation arms across seeds: effect, interval, test, power.

Every arm is trained once per seed with the same initialisation and data
order per seed (see `winnow/ablation/arms.py`), so arm A's seed-s model and
arm B's seed-s model form a pair and the per-seed differences B - A cancel
what the seed alone does. On those differences:

- `mean_diff`: the mean paired difference, candidate minus baseline, in the
  metric's own units (bits per byte, accuracy, ...);
- `ci95`: its 95% confidence interval from Student's t with n - 1 degrees of
  freedom (always 95%, whatever the significance level);
- `p_value`: the two-sided paired t-test (scipy.stats.ttest_rel);
- `mde`: the smallest true difference that this many pairs with this seed
  spread would find at the significance level with 80% power (solved on the
  noncentral t distribution), so a null result can be read: "no difference
  larger than MDE", not "no difference";
- `verdict`: `better` or `worse` when p < alpha (the sign read through the
  metric's direction: lower bits per byte is better, higher accuracy is
  better), else `inconclusive`.

Pure numbers in, numbers out: no torch, no Beam.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from winnow.core.errors import ConfigurationError

DEFAULT_ALPHA = 0.01
DEFAULT_POWER = 0.8
CI_LEVEL = 0.95

BETTER = "better"
WORSE = "worse"
INCONCLUSIVE = "inconclusive"
VERDICTS = (BETTER, WORSE, INCONCLUSIVE)

# Metric name -> True when a higher value is better. Names ending in these
# suffixes follow the rule; anything else must be listed or given explicitly.
_HIGHER_SUFFIXES = ("acc", "accuracy", "acc_norm")
_LOWER_SUFFIXES = ("bpb", "loss", "bits_per_byte", "perplexity")


class StatsError(ConfigurationError):
    """Inputs a comparison cannot be made from (an unknown metric direction, unpaired
    seeds, a bad significance level); the message says why."""


def higher_is_better(metric: str) -> bool:
    """The direction of a metric, from its name (`eval_bpb` lower, `blimp_acc` higher)."""
    name = metric.lower()
    if name.endswith(_HIGHER_SUFFIXES) or name.startswith("blimp"):
        return True
    if name.endswith(_LOWER_SUFFIXES):
        return False
    raise StatsError(f"metric {metric!r}: direction unknown (name it *_bpb / *_loss for lower-is-better or *_acc for higher)")


@dataclass(frozen=True)
class Comparison:
    metric: str
    n: int  # paired seeds
    mean_diff: float  # candidate - baseline
    ci95: tuple[float, float]
    p_value: float
    mde: float  # minimum detectable |difference| at alpha with DEFAULT_POWER
    verdict: str
    alpha: float
    diffs: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "n": self.n,
            "mean_diff": _finite_or_none(self.mean_diff),
            "ci95": [_finite_or_none(self.ci95[0]), _finite_or_none(self.ci95[1])],
            "p_value": _finite_or_none(self.p_value),
            "mde": _finite_or_none(self.mde),
            "verdict": self.verdict,
            "alpha": self.alpha,
            "diffs": list(self.diffs),
        }


def _finite_or_none(value: float) -> float | None:
    # JSON has no NaN or infinity; None says "not computable with these pairs".
    return float(value) if math.isfinite(value) else None


def paired_differences(baseline: Mapping[int, float], candidate: Mapping[int, float]) -> list[float]:
    """candidate[seed] - baseline[seed] for every seed both arms have, in seed order.

    Seeds present in only one arm are an error: an unpaired model would
    silently change what is compared."""
    if set(baseline) != set(candidate):
        raise StatsError(f"arms have different seeds: {sorted(baseline)} vs {sorted(candidate)}")
    return [float(candidate[s]) - float(baseline[s]) for s in sorted(baseline)]


def compare(
    baseline: Mapping[int, float],
    candidate: Mapping[int, float],
    metric: str,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
    higher_better: bool | None = None,
) -> Comparison:
    """The paired comparison of one metric, candidate against baseline, keyed by seed."""
    if not 0 < alpha < 1:
        raise StatsError(f"significance level must be in (0, 1), got {alpha}")
    direction = higher_is_better(metric) if higher_better is None else higher_better
    diffs = paired_differences(baseline, candidate)
    n = len(diffs)
    if n == 0:
        raise StatsError(f"metric {metric!r}: no paired seeds")
    mean = math.fsum(diffs) / n
    if n < 2:
        nan = float("nan")
        return Comparison(metric, n, mean, (nan, nan), nan, nan, INCONCLUSIVE, alpha, tuple(diffs))
    sd = _sample_sd(diffs, mean)
    p_value = _paired_p_value(diffs, mean, sd)
    ci = _confidence_interval(mean, sd, n)
    mde = minimum_detectable_effect(sd, n, alpha, power)
    return Comparison(metric, n, mean, ci, p_value, mde, _verdict(mean, p_value, alpha, direction), alpha, tuple(diffs))


def _sample_sd(values: Sequence[float], mean: float) -> float:
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _paired_p_value(diffs: Sequence[float], mean: float, sd: float) -> float:
    if sd == 0.0:
        # Every pair differs by exactly the same amount: no noise to test against
        # (scipy returns NaN here).
        return 1.0 if mean == 0.0 else 0.0
    from scipy import stats

    # The paired t-test is the one-sample t-test of the differences against 0.
    return float(stats.ttest_1samp(diffs, 0.0).pvalue)


def _confidence_interval(mean: float, sd: float, n: int) -> tuple[float, float]:
    from scipy import stats

    half = float(stats.t.ppf(0.5 + CI_LEVEL / 2, n - 1)) * sd / math.sqrt(n)
    return (mean - half, mean + half)


def _verdict(mean: float, p_value: float, alpha: float, higher_better: bool) -> str:
    if not (p_value < alpha) or mean == 0.0:
        return INCONCLUSIVE
    return BETTER if (mean > 0) == higher_better else WORSE


def minimum_detectable_effect(sd: float, n: int, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER) -> float:
    """Smallest |mean paired difference| a two-sided paired t-test on n pairs
    with difference spread `sd` detects at level alpha with the given power.

    Power at effect size d (in units of sd) is P(|T| > t_crit) with T
    noncentral t (df n - 1, noncentrality d sqrt(n)); d is solved by root
    finding. NaN below two pairs, and when the pairs do not vary at all: the
    seed noise is then unmeasured (a coarse metric such as accuracy on a few
    pairs can tie on every seed), not absent."""
    if n < 2 or sd == 0.0:
        return float("nan")
    from scipy import optimize, stats

    df = n - 1
    crit = float(stats.t.ppf(1 - alpha / 2, df))

    def shortfall(d: float) -> float:
        nc = d * math.sqrt(n)
        # The far tail's cdf underflows to NaN for a large noncentrality; it is 0 there.
        lower = float(stats.nct.cdf(-crit, df, nc))
        return float(stats.nct.sf(crit, df, nc)) + (lower if math.isfinite(lower) else 0.0) - power

    high = 1.0
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high, xtol=1e-10)) * sd
