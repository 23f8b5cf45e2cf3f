"""Texts and builders shared by the filter tests."""
from __future__ import annotations

import dataclasses
import string
from typing import Any

from winnow.curation.filters import FILTER_STEPS
from winnow.curation.types import Document, StepResult

# Ten distinct English lines (about 150 words) that pass every FineWeb rule.
CLEAN_LINES = (
    "The river town woke early, and the bakers lit their ovens before the first boats arrived.",
    "Fishermen unloaded crates of silver herring while gulls circled above the narrow harbour wall.",
    "By seven o'clock the market square was crowded with farmers selling apples, cheese and honey.",
    "Children ran between the stalls, and their parents argued cheerfully about the price of bread.",
    "A travelling musician played an old accordion that had belonged to his grandfather in Lisbon.",
    "Most visitors stayed only for lunch, but a few rented rooms above the quiet bookshop on Mill Street.",
    "In the afternoon a light rain drifted in from the sea, and the cafes pulled their awnings down.",
    "The mayor opened the new library with a short speech that thanked every volunteer by name.",
    "Later, the school choir sang three songs, and nobody seemed to mind the steady drizzle at all.",
    "When evening came, lanterns glowed along the quay and the last ferry left for the island.",
)
CLEAN_TEXT = "\n".join(CLEAN_LINES)


def build(step_name: str, **overrides: Any):
    """The named step built from its default config with `overrides` applied."""
    spec = FILTER_STEPS[step_name]
    return spec.build(dataclasses.replace(spec.config_type(), **overrides))


def run(step_name: str, text: str, url: str = "", language: str = "en", **overrides: Any) -> StepResult:
    return build(step_name, **overrides)(Document(text, url=url, language=language))


def filler_words(count: int, length: int = 6) -> list[str]:
    """`count` distinct lower-case words of `length` letters, all starting with 'z'."""
    letters = string.ascii_lowercase
    out = []
    for i in range(count):
        digits = []
        for _ in range(length - 1):
            i, r = divmod(i, 26)
            digits.append(letters[r])
        out.append("z" + "".join(reversed(digits)))
    return out
