"""The `classifier` recipe step: score every document with a learned model, then threshold.

    steps:
      - classifier_dclm: {model: models/dclm/model.bin, label: __label__hq, threshold: 0.018}
      - classifier_edu: {model: models/fineweb-edu, threshold: 3.0}
      - classifier: {model: models/mine/model.bin, keep_top_fraction: 0.1}

The step name is the classifier's name: `classifier` or `classifier_<name>`,
so several classifiers can run in one recipe, each writing its own signal
column `<step name>_score` (`classifier_dclm_score`). The score is the
model's probability of `label` (fastText, or a transformers classification
head) or the raw output of a transformers regression head (FineWeb-Edu's 0-5).

Two rules, at most one per step:
- `threshold`: documents scoring below it are rejected (`decide`, so `winnow
  select` re-thresholds stored scores without re-scoring).
- `keep_top_fraction`: keep the best fraction of the whole corpus. That needs
  the global score distribution, so the per-document step keeps everything and
  the pipeline applies the cut in a second pass (pipelines/top_fraction.py);
  `top_fraction_threshold` computes the same cut from stored scores.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from winnow.curation.classifier.fasttext_backend import FastTextScorer, check_fasttext_file, check_label, load_fasttext
from winnow.curation.classifier.hf_backend import DEVICE_AUTO, HFScorer, read_json_object, resolve_label
from winnow.curation.classifier.normalize import Normalization
from winnow.curation.types import Document, OpenBinary, StepResult, StepSpec, Verdict, verdict_result

STEP_PREFIX = "classifier"
CLASSIFIER_BELOW_THRESHOLD = "classifier_below_threshold"
CLASSIFIER_BELOW_TOP_FRACTION = "classifier_below_top_fraction"
CLASSIFIER_SCORE_MISSING = "classifier_score_missing"
REASONS = (CLASSIFIER_BELOW_THRESHOLD, CLASSIFIER_BELOW_TOP_FRACTION, CLASSIFIER_SCORE_MISSING)

BACKEND_AUTO = "auto"
BACKEND_FASTTEXT = "fasttext"
BACKEND_TRANSFORMERS = "transformers"
BACKENDS = (BACKEND_AUTO, BACKEND_FASTTEXT, BACKEND_TRANSFORMERS)
# DCLM's label convention: __label__hq (high quality) against __label__cc (Common Crawl).
DEFAULT_FASTTEXT_LABEL = "__label__hq"
MODEL_CARD = "model.json"  # written by `winnow classifier train` next to model.bin

_STEP_NAME = re.compile(r"^classifier(_[a-z0-9][a-z0-9_]*)?$")


@dataclass(frozen=True)
class ClassifierConfig:
    """A model, the label scored, and at most one selection rule (None disables it)."""

    model: str = ""  # a fastText .bin/.ftz file or a transformers model folder
    label: str | None = None  # None: model.json's positive label, else __label__hq; unset for a regression head
    threshold: float | None = None  # reject scores below this
    keep_top_fraction: float | None = None  # keep the best fraction of the corpus (second pass)
    backend: str = BACKEND_AUTO  # auto: a folder is transformers, a file fastText
    batch_size: int = 64  # transformers: texts per forward pass
    max_length: int = 512  # transformers: tokens per text (longer texts are truncated)
    device: str = DEVICE_AUTO  # transformers: auto = cuda when the worker has a GPU
    threads: int | None = None  # transformers: torch threads per worker (None: torch's default)

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("'model' is required: a fastText .bin/.ftz file or a transformers model folder")
        if self.backend not in BACKENDS:
            raise ValueError(f"'backend' must be one of {BACKENDS}, got {self.backend!r}")
        if self.threshold is not None and self.keep_top_fraction is not None:
            raise ValueError("set either 'threshold' or 'keep_top_fraction', not both")
        if self.keep_top_fraction is not None and not 0.0 < self.keep_top_fraction <= 1.0:
            raise ValueError(f"'keep_top_fraction' must be within (0, 1], got {self.keep_top_fraction!r}")
        if self.threshold is not None and math.isnan(self.threshold):
            raise ValueError("'threshold' must be a number, got NaN")
        for key in ("batch_size", "max_length"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key!r} must be > 0, got {getattr(self, key)!r}")
        if self.threads is not None and self.threads <= 0:
            raise ValueError(f"'threads' must be > 0, got {self.threads!r}")


@dataclass(frozen=True)
class ResolvedClassifier:
    """What `prepare` checked once per pipeline: the backend, the label and the normalization."""

    backend: str
    model: str
    label: str | None
    normalization: Normalization


def is_classifier_step_name(name: str) -> bool:
    """`classifier` or `classifier_<name>` (lowercase letters, digits, underscores)."""
    return bool(_STEP_NAME.match(name))


def score_column(step_name: str) -> str:
    return f"{step_name}_score"


def backend_of(config: ClassifierConfig) -> str:
    if config.backend != BACKEND_AUTO:
        return config.backend
    return BACKEND_TRANSFORMERS if os.path.isdir(config.model) else BACKEND_FASTTEXT


def read_model_card(model_path: str) -> dict[str, Any] | None:
    """model.json beside a model that `winnow classifier train` wrote, or None."""
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), MODEL_CARD)
    if not os.path.isfile(path):
        return None
    return read_json_object(path)


def resolve(config: ClassifierConfig) -> ResolvedClassifier:
    """Check the model and label before any document is scored; errors name the file."""
    backend = backend_of(config)
    if backend == BACKEND_TRANSFORMERS:
        resolve_label(config.model, config.label)
        return ResolvedClassifier(backend, config.model, config.label, Normalization())
    check_fasttext_file(config.model)
    card = read_model_card(config.model)
    normalization = Normalization()
    label = config.label
    if card is not None:
        where = os.path.join(os.path.dirname(os.path.abspath(config.model)), MODEL_CARD)
        normalization = Normalization.from_json(card.get("normalization", {}), where)
        label = label or (card.get("labels") or {}).get("positive")
    label = label or DEFAULT_FASTTEXT_LABEL
    model = load_fasttext(config.model)
    check_label(model.get_labels(), label, config.model)
    return ResolvedClassifier(backend, config.model, label, normalization)


def prepare(config: ClassifierConfig, open_binary: OpenBinary | None = None) -> ResolvedClassifier:
    """Once per pipeline, before it starts: a missing file, a wrong format or an unknown label fails here."""
    return resolve(config)


def decide_threshold(score: Any, threshold: float, reason: str, detail_rule: str) -> Verdict | None:
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return CLASSIFIER_SCORE_MISSING, "no classifier score"
    if score < threshold:
        return reason, f"score {score:.6g} < {threshold:.6g} ({detail_rule})"
    return None


def make_decide(step_name: str):
    column = score_column(step_name)

    def decide(config: ClassifierConfig, row: Mapping[str, Any]) -> Verdict | None:
        """The fixed threshold; `keep_top_fraction` needs the corpus (see top_fraction_threshold)."""
        if config.threshold is None:
            return None
        return decide_threshold(row.get(column), config.threshold, CLASSIFIER_BELOW_THRESHOLD, "threshold")

    return decide


def top_fraction_threshold(scores: Iterable[float | None], fraction: float) -> float | None:
    """The lowest score kept when keeping the best `fraction` of `scores` (ties are all kept).

    Keeps the ceil(fraction * n) highest scores; None when there are no scores.
    Missing and NaN scores never count as kept.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be within (0, 1], got {fraction!r}")
    ranked = sorted((float(s) for s in scores if s is not None and not math.isnan(s)), reverse=True)
    if not ranked:
        return None
    # The epsilon keeps 0.1 * 200 (= 20.000000000000004 in floating point) at 20.
    return ranked[max(1, math.ceil(fraction * len(ranked) - 1e-9)) - 1]


def quantile_threshold(quantiles: Sequence[float], fraction: float, count: int) -> float | None:
    """The same cut from `count` scores' approximate quantiles, as `beam.ApproximateQuantiles` returns them.

    Beam's `quantiles[i]` (min at 0, max at the end) is the element of
    ascending rank ceil(i * count / (len - 1)) - 1; the cut is the element of
    rank count - ceil(fraction * count). Exact while count < len(quantiles)
    (and while Beam's sketch is exact), within Beam's rank error beyond.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be within (0, 1], got {fraction!r}")
    if not quantiles or count <= 0:
        return None
    kept = max(1, math.ceil(fraction * count - 1e-9))
    rank = count - kept
    index = math.floor((rank + 1) * (len(quantiles) - 1) / count + 1e-9)
    return float(quantiles[min(len(quantiles) - 1, max(0, index))])


def top_fraction_verdict(score: Any, threshold: float | None, fraction: float) -> Verdict | None:
    """A stored or just-scored row judged against the corpus cut."""
    if threshold is None:
        return None
    return decide_threshold(score, threshold, CLASSIFIER_BELOW_TOP_FRACTION, f"keep_top_fraction {fraction}")


class ClassifierStep:
    """The built step: one model per worker, scoring a batch of documents at once."""

    def __init__(self, step_name: str, config: ClassifierConfig, resolved: ResolvedClassifier | None = None):
        resolved = resolved or resolve(config)
        self._column = score_column(step_name)
        self._config = config
        self._decide = make_decide(step_name)
        if resolved.backend == BACKEND_TRANSFORMERS:
            self._scorer = HFScorer(
                resolved.model, resolved.label, config.batch_size, config.max_length, config.device, config.threads
            )
        else:
            self._scorer = FastTextScorer(resolved.model, resolved.label or DEFAULT_FASTTEXT_LABEL, resolved.normalization)

    def __call__(self, docs: Sequence[Document]) -> list[StepResult]:
        if not docs:
            return []
        scores = self._scorer.score([doc.text for doc in docs])
        results = []
        for score in scores:
            signals = {self._column: float(score)}
            results.append(verdict_result(signals, self._decide(self._config, signals)))
        return results

    def close(self) -> None:
        self._scorer.close()


@lru_cache(maxsize=None)
def classifier_spec(step_name: str = STEP_PREFIX) -> StepSpec:
    """The StepSpec of one classifier step name (`classifier` or `classifier_<name>`)."""
    if not is_classifier_step_name(step_name):
        raise ValueError(f"{step_name!r} is not a classifier step name: use 'classifier' or 'classifier_<name>' (a-z, 0-9, _)")

    def build(config: ClassifierConfig, resolved: ResolvedClassifier | None = None) -> ClassifierStep:
        return ClassifierStep(step_name, config, resolved)

    return StepSpec(
        name=step_name,
        config_type=ClassifierConfig,
        build=build,
        signals=((score_column(step_name), "float"),),
        reasons=REASONS,
        description="Learned quality classifier (fastText or transformers): a score, then a threshold or the top fraction.",
        batch=True,
        decide=make_decide(step_name),
        recompute_fields=("model", "label", "backend", "max_length"),
        prepare=prepare,
    )


CLASSIFIER_STEP = classifier_spec(STEP_PREFIX)
