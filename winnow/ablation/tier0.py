"""Tier 0 of calibration: what each filter removes of planted junk, without training.

Every page (clean and planted junk, whose labels are known) goes through
each step of each recipe on its own, and through the whole recipe. A step
"removes" a page when it rejects it. Removal is read as a junk detector:

- precision: of the pages removed, the share that is junk;
- recall: of the junk pages, the share removed;
- clean_removed / clean: what the filter costs in good pages.

Each with a 95% percentile bootstrap interval over pages (scipy), since
the planted sample is finite. Extraction is skipped (the pages are text
already). A page a step fails on (an exception) is counted in `errors` and
left out of the rates, never dropped silently.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
WHOLE_RECIPE = "(whole recipe)"
Page = tuple[str, str]


def tier0_report(recipes: Sequence[str], clean: Sequence[Page], junk: Sequence[Page]) -> dict[str, Any]:
    """{"clean": n, "junk": n, "recipes": {recipe: {step or WHOLE_RECIPE: rates}}}."""
    labels = np.array([0] * len(clean) + [1] * len(junk), dtype=bool)
    pages = list(clean) + list(junk)
    out: dict[str, Any] = {"clean": len(clean), "junk": len(junk), "recipes": {}}
    for spec in recipes:
        name, removals = recipe_removals(spec, pages)
        out["recipes"][name] = {step: removal_rates(labels, removed, errors) for step, (removed, errors) in removals.items()}
    return out


def recipe_removals(spec: str, pages: Sequence[Page]) -> tuple[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(recipe name, {step: (removed mask, error mask)}) for each step alone and the whole recipe."""
    from winnow.curation.recipe import with_defaults
    from winnow.curation.recipe import load_recipe
    from winnow.curation.record_path import Failed, Rejected, run_batch
    from winnow.curation.stages import STAGE_EXTRACT
    from winnow.curation.steps import build_steps, prepare_resources
    from winnow.curation.types import TextRecord

    recipe = load_recipe(spec)
    steps = [s for s in with_defaults(recipe) if s.name != STAGE_EXTRACT]
    bound = build_steps(steps, prepare_resources(steps, lambda path: open(path, "rb")))
    records = [TextRecord(text=text, source="tier0", position=doc_id, id=doc_id) for doc_id, text in pages]

    def outcome_masks(chain) -> tuple[np.ndarray, np.ndarray]:
        outcomes = run_batch(records, chain)
        return (np.array([isinstance(o, Rejected) for o in outcomes], dtype=bool),
                np.array([isinstance(o, Failed) for o in outcomes], dtype=bool))

    removals = {step.name: outcome_masks([step]) for step in bound}
    removals[WHOLE_RECIPE] = outcome_masks(bound)
    for step in bound:
        step.close()
    return recipe.name, removals


def removal_rates(is_junk: np.ndarray, removed: np.ndarray, errors: np.ndarray) -> dict[str, Any]:
    """Counts, precision and recall of removal, with bootstrap intervals."""
    ok = ~errors
    junk, removed = is_junk[ok], removed[ok]
    precision, recall = _precision(junk, removed), _recall(junk, removed)
    return {
        "junk": int(junk.sum()), "clean": int((~junk).sum()), "errors": int(errors.sum()),
        "junk_removed": int((junk & removed).sum()), "clean_removed": int((~junk & removed).sum()),
        "precision": precision, "recall": recall,
        "precision_ci95": _bootstrap(junk, removed, _precision), "recall_ci95": _bootstrap(junk, removed, _recall),
    }


def _precision(junk: np.ndarray, removed: np.ndarray) -> float | None:
    n = int(removed.sum())
    return float((junk & removed).sum()) / n if n else None


def _recall(junk: np.ndarray, removed: np.ndarray) -> float | None:
    n = int(junk.sum())
    return float((junk & removed).sum()) / n if n else None


def _bootstrap(junk: np.ndarray, removed: np.ndarray, statistic) -> list[float | None]:
    """95% percentile interval of `statistic` over pages resampled with replacement."""
    if statistic(junk, removed) is None:
        return [None, None]
    from scipy import stats

    def vectorised(j, r, axis=-1):
        j, r = j.astype(bool), r.astype(bool)
        hits = (j & r).sum(axis=axis)
        base = (r if statistic is _precision else j).sum(axis=axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(base > 0, hits / np.maximum(base, 1), np.nan)

    import warnings

    if len(set(zip(junk.tolist(), removed.tolist()))) == 1:
        value = statistic(junk, removed)
        return [value, value]  # every page alike: no resample can differ
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resamples with no removals give NaN precision; skipped below
        result = stats.bootstrap((junk.astype(float), removed.astype(float)), vectorised, paired=True, vectorized=True,
                                 n_resamples=BOOTSTRAP_RESAMPLES, method="percentile", random_state=BOOTSTRAP_SEED)
    # Percentiles over the resamples where the statistic is defined (a small
    # resample may remove nothing, leaving precision undefined).
    defined = result.bootstrap_distribution[~np.isnan(result.bootstrap_distribution)]
    if not defined.size:
        return [None, None]
    low, high = np.percentile(defined, [2.5, 97.5])
    return [float(low), float(high)]
