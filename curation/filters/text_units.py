"""Text helpers shared by the filters: script detection, duplicate counts, n-gram hashes.

The words and sentences the Gopher, C4 and FineWeb rules count are DataTrove's
(spaCy's English tokens): see `reference_units`.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np

# Languages written without spaces between words: English word rules say
# nothing about them (a whole Chinese sentence would be one "word").
SPACELESS_LANGUAGES = frozenset(
    {"zh", "ja", "th", "lo", "km", "my", "bo", "dz", "yue", "wuu", "gan", "hak", "nan", "cjy", "hsn", "lzh"}
)

# Han, kana, Thai, Lao, Tibetan, Myanmar, Khmer and CJK punctuation / fullwidth forms.
_SPACELESS_CHAR_RE = re.compile(
    "[\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff\u3000-\u30ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f]+"
)
_NON_SPACE_RE = re.compile(r"\S+")
# A document whose visible characters are at least this share spaceless-script
# characters is treated as spaceless even without a language label.
SPACELESS_SCRIPT_SHARE = 0.3

# Multiplier of the polynomial rolling hash over word ids (odd, 64-bit, arbitrary).
_NGRAM_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)


def normalise_language(language: str) -> str:
    """`en`, `en-US`, `eng_Latn`, `__label__en` -> the bare lower-case code (`en`, `eng`)."""
    code = language.strip().lower().removeprefix("__label__")
    return re.split(r"[-_]", code, maxsplit=1)[0] if code else ""


@functools.lru_cache(maxsize=8)
def is_spaceless(text: str, language: str = "") -> bool:
    """True for text in a script written without spaces between words (by label or by script)."""
    if normalise_language(language) in SPACELESS_LANGUAGES:
        return True
    if text.isascii() or not _may_hold_spaceless_chars(text) or not _SPACELESS_CHAR_RE.search(text):
        return False
    spaceless = sum(map(len, _SPACELESS_CHAR_RE.findall(text)))
    visible = sum(map(len, _NON_SPACE_RE.findall(text)))
    return spaceless >= SPACELESS_SCRIPT_SHARE * visible


# The first UTF-8 byte of every character of `_SPACELESS_CHAR_RE` (U+0E00-U+109F and U+1780-U+17FF
# start with E0 or E1, U+3000-U+9FFF with E3-E9, U+F900-U+FFEF with EF, U+20000 and above with F0):
# general punctuation (E2: curly quotes, dashes) and Latin, Greek or Cyrillic letters start with none.
_SPACELESS_LEAD_BYTES = tuple(bytes([b]) for b in (0xE0, 0xE1, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEF, 0xF0))


def _may_hold_spaceless_chars(text: str) -> bool:
    """False when no character of `text` can be a spaceless-script one: a few byte searches (memchr)
    of the UTF-8 text, much faster than the regex, which then checks the pages this keeps."""
    data = text.encode("utf-8", "surrogatepass")
    return any(lead in data for lead in _SPACELESS_LEAD_BYTES)


def duplicate_stats(items: Sequence[str]) -> tuple[int, int]:
    """(count, characters) of items that repeat an earlier item; the first occurrence is not a duplicate."""
    seen: set[str] = set()
    dup_count = 0
    dup_chars = 0
    for item in items:
        if item in seen:
            dup_count += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return dup_count, dup_chars


def word_ids(tokens: Sequence[str]) -> np.ndarray:
    """One 64-bit number per word, equal for equal words, so n-grams can be hashed as numbers.

    The number is the word's string hash: computed in C (a dict of dense ids
    cost a Python call per word, a fifth of all filter time), and two
    different words share it with probability about 2**-64.
    """
    return np.fromiter(map(hash, tokens), dtype=np.int64, count=len(tokens)).view(np.uint64)


def ngram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """64-bit polynomial hashes of every n-gram of `ids` (wrapping arithmetic, vectorised)."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    # +1 so that id 0 still contributes to the hash.
    shifted = ids + np.uint64(1)
    h = shifted[:count].copy()
    for k in range(1, n):
        h *= _NGRAM_HASH_BASE
        h += shifted[k : k + count]
    return h
