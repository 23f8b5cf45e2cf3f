"""The text a fastText classifier sees: one line, whitespace collapsed.

fastText reads one example per line, so training data and the text scored must
both be single lines; DCLM's scorer joins a page's lines with spaces and
changes nothing else (no lowercasing, punctuation kept). Winnow does the same
by default and records the settings in model.json, so a model is always scored
with the normalization it was trained with.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_SURROGATES = re.compile("[\ud800-\udfff]")

# fastText is linear in length and a page's quality shows well before 100k
# characters; the cap bounds the cost of pathological pages.
DEFAULT_MAX_CHARS = 100_000


@dataclass(frozen=True)
class Normalization:
    """How text becomes a fastText line; stored in model.json under `normalization`."""

    lowercase: bool = False
    max_chars: int = DEFAULT_MAX_CHARS

    def __post_init__(self) -> None:
        if self.max_chars <= 0:
            raise ValueError(f"max_chars must be > 0, got {self.max_chars!r}")

    def to_json(self) -> dict[str, object]:
        return {"lowercase": self.lowercase, "max_chars": self.max_chars}

    @classmethod
    def from_json(cls, data: object, where: str) -> Normalization:
        if not isinstance(data, dict) or set(data) - {"lowercase", "max_chars"}:
            raise ValueError(f"{where}: 'normalization' must be a mapping with lowercase and max_chars, got {data!r}")
        lowercase, max_chars = data.get("lowercase", False), data.get("max_chars", DEFAULT_MAX_CHARS)
        if not isinstance(lowercase, bool) or not isinstance(max_chars, int) or isinstance(max_chars, bool):
            raise ValueError(f"{where}: 'normalization' has wrong types: {data!r}")
        return cls(lowercase=lowercase, max_chars=max_chars)


def normalize_text(text: str, settings: Normalization = Normalization()) -> str:
    """One line: the first `max_chars` characters, every whitespace run (newlines too) one space.

    Lone surrogates are dropped because fastText's binding accepts only text
    that encodes to UTF-8.
    """
    line = " ".join(text[: settings.max_chars].split())
    if settings.lowercase:
        line = line.lower()
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = _SURROGATES.sub("", line)
    return line
