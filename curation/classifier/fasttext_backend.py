"""fastText scoring: any supervised `.bin` or `.ftz` model, DCLM's included.

The score of a document is the model's probability for the configured label
(DCLM: `__label__hq`), computed over every label the model has, so a model
with more than two labels works too. Texts are scored in one `predict(list)`
call per batch (verified with fasttext-numpy2 under numpy 2; see
curation/langid.py for why that provider).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from winnow.curation.classifier.normalize import Normalization, normalize_text
from winnow.core.errors import ConfigurationError, ErrorFamily, InputError, RuntimeFailure

FASTTEXT_SUFFIXES = (".bin", ".ftz")
# The first four bytes of every fastText model file (FASTTEXT_FILEFORMAT_MAGIC_INT32, little endian).
_FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")


class ClassifierError(ErrorFamily):
    """A classifier model or its settings are unusable; the message names the file."""


class ClassifierConfigError(ClassifierError, ConfigurationError):
    """A named model, source or output path is wrong, or a label is not the model's; exit 2."""


class ClassifierInputError(ClassifierError, InputError):
    """A model file or training source exists but cannot be used; exit 3."""


class ClassifierTrainingFailed(ClassifierError, RuntimeFailure):
    """fastText ran and failed (the loss diverged, the quantizer gave up); exit 1."""


def check_fasttext_file(path: str) -> None:
    """Fail early, naming the file, when `path` is missing or is not a fastText model."""
    if not os.path.exists(path):
        raise ClassifierConfigError(f"classifier model not found: {path}")
    if not os.path.isfile(path):
        raise ClassifierConfigError(f"classifier model {path} is not a file (a transformers model is a folder with config.json)")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != _FASTTEXT_MAGIC:
        raise ClassifierInputError(f"classifier model {path} is not a fastText model (wrong file header)")


def load_fasttext(path: str) -> Any:
    """The loaded model; errors name the file."""
    check_fasttext_file(path)
    import fasttext

    try:
        model = fasttext.load_model(path)
    except ValueError as exc:
        raise ClassifierInputError(f"cannot load fastText model {path}: {exc}") from exc
    # Unsupervised (skipgram/cbow) models answer get_labels() with their words.
    if str(model.f.getArgs().model) != "model_name.supervised":
        raise ClassifierInputError(f"fastText model {path} is not a supervised classifier (it is a word-vector model)")
    return model


def check_label(labels: Sequence[str], label: str, path: str) -> None:
    if label not in labels:
        raise ClassifierConfigError(f"classifier model {path} has no label {label!r}; its labels are {sorted(labels)}")


class FastTextScorer:
    """Loaded once per worker; `score(texts)` is the label probability of each text."""

    def __init__(self, path: str, label: str, normalization: Normalization = Normalization()):
        self.path = path
        self.label = label
        self.normalization = normalization
        self._model = load_fasttext(path)
        self.labels = tuple(self._model.get_labels())
        check_label(self.labels, label, path)

    def score(self, texts: Sequence[str]) -> list[float]:
        lines = [normalize_text(text, self.normalization) for text in texts]
        # k=-1: every label, so the configured one is always among the answers.
        all_labels, all_probs = self._model.predict(lines, k=-1)
        return [self._label_prob(labels, probs) for labels, probs in zip(all_labels, all_probs)]

    def _label_prob(self, labels: Sequence[str], probs: Sequence[float]) -> float:
        for name, prob in zip(labels, probs):
            if name == self.label:
                # fastText's softmax can exceed 1 by rounding.
                return min(1.0, max(0.0, float(prob)))
        return 0.0  # an empty line gets no labels at all

    def close(self) -> None:
        self._model = None
