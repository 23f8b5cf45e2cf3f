"""Splitting text into the units the filters count: words, lines, paragraphs, sentences.

Everything here is regex- or str-method-based (no spaCy, no nltk) because it
runs on every document of a crawl. Words are Unicode-aware runs of word
characters, so symbols and punctuation are never words ("words that are not
pure symbols" in Gopher's terms) and combining marks stay inside the word they
belong to (Devanagari vowel signs, Arabic harakat, ...).
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

# Endings that make a line "end in terminal punctuation" (FineWeb's stop chars,
# plus the CJK full stops so CJK lines are not all counted as unterminated).
TERMINAL_PUNCTUATION = (".", "!", "?", '"', "'", "\u201d", "\u2019", "\u2026", "\u3002", "\uff01", "\uff1f")
ELLIPSES = ("...", "\u2026")
BULLETS = ("\u2022", "\u2023", "\u25e6", "\u2043", "\u2219", "\u25aa", "\u25cf", "\u00b7", "-", "*", "\u2013")

_PARAGRAPH_SPLIT_RE = re.compile(r"\n{2,}")
_LINE_SPLIT_RE = re.compile(r"\n+")
# A sentence ends at terminal punctuation (and closing quotes/brackets) followed
# by whitespace or the end of the text; CJK full stops need no space after them.
_SENTENCE_END_RE = re.compile(r"(?:[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s|$)|[\u3002\uff01\uff1f]+)")
_HAS_WORD_CHAR_RE = re.compile(r"\w")

# Multiplier of the polynomial rolling hash over word ids (odd, 64-bit, arbitrary).
_NGRAM_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)


# Combining marks of the scripts that write words with them (Latin diacritics,
# Cyrillic, Hebrew, Arabic, Syriac, Thaana, the Indic blocks minus the dandas,
# Thai). Python's `\w` excludes marks, which would split "हिन्दी" into pieces.
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
    "\u0730-\u074a\u07a6-\u07b0\u0900-\u0963\u0966-\u0dff\u0e31\u0e34-\u0e3a\u0e47-\u0e4e"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
_WORD_UNIT = f"[\\w{_MARKS}]+"
# Apostrophes and hyphens inside a word keep it whole ("don't", "well-known").
_WORD_RE = re.compile(f"{_WORD_UNIT}(?:['\u2019\\-]{_WORD_UNIT})*")
# The same words for ASCII text, where `\w` is [A-Za-z0-9_], no marks occur and the
# only apostrophe is "'": a small character set the regex engine tests 1.5x faster.
_ASCII_WORD_RE = re.compile(r"[A-Za-z0-9_]+(?:['\-][A-Za-z0-9_]+)*")


@functools.lru_cache(maxsize=8)
def words(text: str) -> tuple[str, ...]:
    """The words of `text`: runs of letters, digits and marks; punctuation and symbols are dropped.

    Cached for the last few texts because consecutive steps split the same document.
    """
    return tuple((_ASCII_WORD_RE if text.isascii() else _WORD_RE).findall(text))


_LETTER_RE = re.compile(r"[^\W\d_]")


def has_letter(word: str) -> bool:
    """True when `word` contains at least one letter (not only digits, underscores or marks)."""
    return _LETTER_RE.search(word) is not None


@functools.lru_cache(maxsize=8)
def lines(text: str) -> tuple[str, ...]:
    """Non-empty lines (split on runs of newlines), as Gopher's line rules see them. Cached like `words`."""
    # Splitting on single newlines and dropping blank pieces is splitting on runs of them.
    return tuple(line for line in text.split("\n") if line.strip())


def paragraphs(text: str) -> list[str]:
    """Non-empty paragraphs, split on two or more newlines."""
    return [p for p in _PARAGRAPH_SPLIT_RE.split(text.strip()) if p.strip()]


def sentence_count(text: str) -> int:
    """Number of sentences: terminators, plus one for trailing text without a terminator."""
    ends = list(_SENTENCE_END_RE.finditer(text))
    count = len(ends)
    tail = text[ends[-1].end():] if ends else text
    if _HAS_WORD_CHAR_RE.search(tail):
        count += 1
    return count


def sentence_count_of_lines(text: str) -> int:
    """`sum(sentence_count(line) for line in text.split("\n"))`, in one pass over the text.

    A terminator never spans a newline and its lookahead sees a newline as the
    whitespace that ends a line, so the whole-text matches are the per-line
    matches. The +1 of a line goes with its tail: the text between its last
    terminator (or its start) and its end, which in the whole-text split is
    every newline-ended segment of a piece, plus the very last segment.
    """
    pieces = _SENTENCE_END_RE.split(text)
    count = len(pieces) - 1
    last = len(pieces) - 1
    search = _HAS_WORD_CHAR_RE.search
    for index, piece in enumerate(pieces):
        if "\n" not in piece:
            if index == last and search(piece):
                count += 1
            continue
        segments = piece.split("\n")
        tails = segments if index == last else segments[:-1]
        count += sum(1 for segment in tails if search(segment))
    return count


def normalise_language(language: str) -> str:
    """`en`, `en-US`, `eng_Latn`, `__label__en` -> the bare lower-case code (`en`, `eng`)."""
    code = language.strip().lower().removeprefix("__label__")
    return re.split(r"[-_]", code, maxsplit=1)[0] if code else ""


@functools.lru_cache(maxsize=8)
def is_spaceless(text: str, language: str = "") -> bool:
    """True for text in a script written without spaces between words (by label or by script)."""
    if normalise_language(language) in SPACELESS_LANGUAGES:
        return True
    if text.isascii() or not _SPACELESS_CHAR_RE.search(text):
        return False
    spaceless = sum(map(len, _SPACELESS_CHAR_RE.findall(text)))
    visible = sum(map(len, _NON_SPACE_RE.findall(text)))
    return spaceless >= SPACELESS_SCRIPT_SHARE * visible


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


def covered_chars(starts: np.ndarray, n: int, char_lengths: np.ndarray) -> int:
    """Characters of the words covered by n-grams starting at `starts` (overlaps counted once).

    `starts` must be strictly increasing (as np.flatnonzero returns them).
    """
    if len(starts) == 0:
        return 0
    if n == 1:
        return int(char_lengths[starts].sum())
    # Merge overlapping spans [start, start + n) with a difference array; the
    # indices are unique, so plain fancy-index updates are exact.
    marks = np.zeros(len(char_lengths) + 1, dtype=np.int32)
    marks[starts] += 1
    marks[starts + n] -= 1
    covered = np.cumsum(marks[:-1]) > 0
    return int(char_lengths[covered].sum())


def top_ngram_char_fraction(ids: np.ndarray, char_lengths: np.ndarray, n: int, total_chars: int) -> float:
    """Share of word characters covered by the most frequent n-gram, when it occurs more than once.

    Of several equally frequent n-grams the one that occurs first counts (as
    `Counter.most_common` picks it), whatever the word hashes are.
    """
    hashes = ngram_hashes(ids, n)
    if len(hashes) < 2 or total_chars <= 0:
        return 0.0
    order = np.argsort(hashes)
    ordered = hashes[order]
    # Runs of equal hashes in sorted order are the n-gram counts.
    run_starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    run_lengths = np.diff(np.append(run_starts, len(ordered)))
    most = int(run_lengths.max())
    if most < 2:
        return 0.0
    # The first occurrence of each n-gram is the smallest position in its run.
    first_seen = np.minimum.reduceat(order, run_starts)
    tied = np.flatnonzero(run_lengths == most)
    top = tied[int(np.argmin(first_seen[tied]))]
    starts = np.flatnonzero(hashes == ordered[run_starts[top]])
    return min(1.0, covered_chars(starts, n, char_lengths) / total_chars)


def repeated_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the entries of `values` that occur more than once."""
    order = np.argsort(values)
    ordered = values[order]
    equal_next = ordered[1:] == ordered[:-1]
    repeated_sorted = np.zeros(len(values), dtype=bool)
    repeated_sorted[1:] |= equal_next
    repeated_sorted[:-1] |= equal_next
    mask = np.empty(len(values), dtype=bool)
    mask[order] = repeated_sorted
    return mask


def duplicate_ngram_char_fractions(
    ids: np.ndarray, char_lengths: np.ndarray, sizes: Sequence[int], total_chars: int
) -> dict[int, float]:
    """For each n in `sizes` (consecutive, increasing), the share of word characters in repeated n-grams.

    An (n+1)-gram can only repeat where its leading n-gram repeats, so each size
    only hashes the survivors of the previous one: on ordinary text the work
    shrinks to almost nothing after the first size.
    """
    if any(b != a + 1 for a, b in zip(sizes, sizes[1:])):
        raise ValueError(f"n-gram sizes must be consecutive and increasing, got {list(sizes)}")
    fractions = {n: 0.0 for n in sizes}
    if not sizes or total_chars <= 0:
        return fractions
    n = sizes[0]
    hashes = ngram_hashes(ids, n)
    starts = np.arange(len(hashes))
    shifted = ids + np.uint64(1)
    for index, n in enumerate(sizes):
        if index:
            # Extend every surviving n-gram by one word, dropping those that run off the end.
            keep = starts + n <= len(ids)
            starts = starts[keep]
            hashes = hashes[keep] * _NGRAM_HASH_BASE + shifted[starts + n - 1]
        if len(hashes) < 2:
            break
        repeated = repeated_mask(hashes)
        starts = starts[repeated]
        hashes = hashes[repeated]
        if len(starts) == 0:
            break
        fractions[n] = min(1.0, covered_chars(starts, n, char_lengths) / total_chars)
    return fractions
