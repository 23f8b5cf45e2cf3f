"""Chunks whose spaCy tokens are known without asking spaCy ("plain" chunks), for `reference_units`.

spaCy tokenizes each whitespace-separated chunk on its own; most chunks of web
text are a word with brackets, quotes, hyphens or one trailing mark, and
spaCy splits each of those off as a token of its own unless one of its
special cases (abbreviations, emoticons, contractions) applies. Splitting
them here is much cheaper than a spaCy call. Every shape accepted here was
checked against spaCy on all 202,549 distinct chunks of ../shared/data's
ground-truth texts and the benchmark pages, and tests compare random and
combinatorial chunks (tests/curation/filters/test_reference_units.py).
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Set

# What a plain chunk may start and end with. Every one is a punctuation token; the
# sentencizer class of each: a sentence-final mark (p) or other punctuation (q).
OPENERS = frozenset("([\"\u201c\u2018")
CLOSERS = frozenset(")]\"\u201d\u2019")
PLAIN_MARKS = frozenset(",;:!?.")
# Marks a plain chunk may have between its word and its closers (not ":" or ";", which
# start emoticons with a closing bracket).
INNER_MARKS = frozenset(",!?.")
# What joins words of letters in a chunk that spaCy splits into words and joiners
# ("well-known", "day—and"). Each joiner is a "q" token.
JOINERS = ("-", "\u2013", "\u2014")
# spaCy's English possessive suffixes (never split further, never punctuation).
POSSESSIVES = frozenset(("'s", "'S", "\u2019s", "\u2019S"))
# The sentencizer class of each token a plain chunk can have besides words (which are "o").
PLAIN_CLASSES = {
    **{mark: "p" for mark in ".!?"}, **{mark: "q" for mark in ",;:-"},
    **{mark: "q" for mark in OPENERS | CLOSERS},
}

Split = tuple[tuple[str, ...], str]  # (tokens, one sentencizer class per token)


def split_plain(chunk: str, special: Set[str], units: Set[str]) -> Split | None:
    """(tokens, classes) of a plain chunk as spaCy splits it, or None for a chunk spaCy must split.

    `special` holds spaCy's special cases (the tokenizer's rules), `units` the ASCII
    units its suffix rule splits off after a digit ("km", "GB").
    """
    # Many chunks are a word and one mark: what `_split_general` gives them, sooner.
    core, mark = chunk[:-1], chunk[-1:]
    if (
        mark in PLAIN_MARKS and core.isalpha() and chunk not in special and core not in special
        and (mark != "." or _splits_final_period(core))
    ):
        return (core, mark), "o" + PLAIN_CLASSES[mark]
    # A word and a possessive ("CBP's", "Serbia’s"): spaCy's suffix "'s", nothing else.
    stem, suffix = chunk[:-2], chunk[-2:]
    if suffix in POSSESSIVES and stem.isalpha() and chunk not in special and stem not in special:
        return (stem, suffix), "oo"
    split = _split_simple(chunk, special)
    if split is not None:
        return split
    if chunk.isascii() and chunk.isalnum():
        return _split_alnum(chunk, special, units)
    if _DIGIT_RUNS_RE.fullmatch(chunk):
        return _split_digit_runs(chunk, special)
    tokens = _split_general(chunk, special)
    if tokens is None:
        return _split_number(chunk, special)
    return tokens, "".join([PLAIN_CLASSES.get(token, "o") for token in tokens])


def _splits_final_period(word: str) -> bool:
    """Whether spaCy splits a "." off after this word of letters: after a lower-case letter or a
    Hangul syllable (spaCy counts uncased scripts as lower case: "했다."), or after two ASCII
    capitals ("NYAG." "AWD."); not after a lone letter or one capital ("B." "SpaceX.")."""
    if len(word) < 2:
        return False
    last = word[-1]
    return last.islower() or _HANGUL_FIRST <= last <= _HANGUL_LAST or (word[-2:].isascii() and word[-2:].isupper())


# Hangul syllables, the Korean letters of web text.
_HANGUL_FIRST, _HANGUL_LAST = "\uac00", "\ud7a3"


# ASCII letters and digits, a digit last before the trailing letters (if any).
_ALNUM_RE = re.compile(r"[A-Za-z0-9]*[0-9]([A-Za-z]*)")


def _split_alnum(chunk: str, special: Set[str], units: Set[str]) -> Split | None:
    """(tokens, classes) of a chunk of ASCII letters and digits ("RAV4", "4Motion", "128GB").

    No prefix or infix rule applies to such a chunk; the one suffix rule is a unit
    right after a digit ("128GB" -> "128", "GB", while "1900R" stays whole). Unless
    the chunk or a piece of it is a special case ("9am").
    """
    match = _ALNUM_RE.fullmatch(chunk)
    if match is None or chunk in special:
        return None
    tail = match.group(1)
    if tail not in units:
        return (chunk,), "o"
    head = chunk[: -len(tail)]
    if head in special or tail in special:
        return None
    return (head, tail), "oo"


# ASCII digit groups joined by ":", a minus sign or an en dash ("4:25", "30−35"), or "%"
# and digits ("%24": a percent sign before the number, as some sites write it).
_DIGIT_RUNS_RE = re.compile("[0-9]+(?:[:\u2212\u2013][0-9]+)+|%[0-9]+")


def _split_digit_runs(chunk: str, special: Set[str]) -> Split | None:
    """(tokens, classes) of a `_DIGIT_RUNS_RE` chunk: one token (no infix rule splits digits from
    digits on those marks), or "%" (a prefix) and the digits. Unless a special case applies."""
    if chunk in special:
        return None
    if chunk[0] != "%":
        return (chunk,), "o"
    digits = chunk[1:]
    return None if digits in special else (("%", digits), "qo")


# A number: an optional "$", ASCII digit groups joined by single "," or "." (`505,796`,
# `55.12`), an optional "%", at most one trailing mark.
_NUMBER_RE = re.compile(r"(\$?)([0-9]+(?:[.,][0-9]+)*)(%?)([,;:!?.]?)")
# "$" is a currency symbol, not punctuation, for spaCy's IS_PUNCT; "%" is punctuation.
_NUMBER_CLASSES = {**PLAIN_CLASSES, "$": "o", "%": "q"}


def _split_number(chunk: str, special: Set[str]) -> Split | None:
    """(tokens, classes) of a number chunk, or None.

    spaCy's English rules split "$" off as a prefix, then the mark and "%" (a
    unit after a digit) as suffixes; no infix applies between digits and a
    single "," or ".". Unless a run of the tokens is a special case.
    """
    match = _NUMBER_RE.fullmatch(chunk)
    if match is None:
        return None
    tokens = tuple(part for part in match.groups() if part)
    runs = ["".join(tokens[i:j]) for i in range(len(tokens)) for j in range(i + 1, len(tokens) + 1)]
    if not special.isdisjoint(runs):
        return None
    return tokens, "".join([_NUMBER_CLASSES.get(token, "o") for token in tokens])


def _split_simple(chunk: str, special: Set[str]) -> Split | None:
    """What `_split_general` gives the three commonest shapes, sooner: one opener and a word
    ("“We"), a word and one closer ("said”"), words joined by hyphens ("well-known"); and
    words joined by en or em dashes ("day—and"), which spaCy splits as it splits hyphens."""
    first, rest = chunk[:1], chunk[1:]
    if first in OPENERS and rest.isalpha() and chunk not in special and rest not in special:
        return (first, rest), PLAIN_CLASSES[first] + "o"
    core, last = chunk[:-1], chunk[-1:]
    if last in CLOSERS and core.isalpha() and chunk not in special and core not in special:
        return (core, last), "o" + PLAIN_CLASSES[last]
    # A word, a mark and one closer ('said,”' 'it."'), as `_split_general` checks them.
    word, mark = core[:-1], core[-1:]
    if (
        last in CLOSERS and mark in INNER_MARKS and word.isalpha()
        and (mark != "." or (len(word) > 1 and word[-1].islower()))
        and special.isdisjoint((chunk, core, word, word + last, mark + last))
    ):
        return (word, mark, last), "o" + PLAIN_CLASSES[mark] + PLAIN_CLASSES[last]
    for joiner in JOINERS:
        if joiner not in chunk:
            continue
        parts = chunk.split(joiner)
        if all(map(str.isalpha, parts)) and chunk not in special and special.isdisjoint(parts):
            tokens = tuple(itertools.chain.from_iterable(zip(parts, itertools.repeat(joiner))))[:-1]
            return tokens, "oq" * (len(parts) - 1) + "o"
    return None


def _split_general(chunk: str, special: Set[str]) -> tuple[str, ...] | None:
    """The tokens of a plain chunk without asking spaCy, or None for any other chunk.

    A plain chunk is: opening brackets or quotes, then letters or ASCII digits
    (hyphenated parts allowed), then closing brackets or quotes, then at
    most one of , ; : ! ? . (or one of , . ! ? before a single closer:
    `said,”`), and no piece of it, nor of its run of openers or of
    closers, is one of spaCy's special cases. spaCy splits off each bracket,
    quote, hyphen and mark as a token. Left to spaCy: a "." after a lone or
    upper-case letter ("B." "SpaceX." stay whole), ":" after a closer
    (emoticons), "’’" (one token). Nine in ten chunks of web text are plain.
    """
    start = 0
    while start < len(chunk) and chunk[start] in OPENERS:
        start += 1
    stop = len(chunk)
    mark = chunk[-1] if chunk[-1] in PLAIN_MARKS and stop > start else ""
    stop -= len(mark)
    core_stop = stop
    while core_stop > start and chunk[core_stop - 1] in CLOSERS:
        core_stop -= 1
    # A mark before the closers instead ("word.”" "word,\""), when none follows them.
    inner = ""
    if not mark and core_stop < stop and core_stop - 1 > start and chunk[core_stop - 1] in INNER_MARKS:
        core_stop -= 1
        inner = chunk[core_stop]
    core, closers = chunk[start:core_stop], chunk[core_stop + len(inner) : stop]
    if not core:
        return None
    parts = core.split("-")
    # Hyphens split letters from letters and digits from anything ("5-year", "2021-22"),
    # never letters from digits ("COVID-19" is one token).
    if not all(map(_is_plain_part, parts)) or any(a.isalpha() and b.isdigit() for a, b in zip(parts, parts[1:])):
        return None
    last = parts[-1]
    if (mark == "." and not closers or inner == ".") and (len(last) == 1 or not last[-1].islower()):
        return None
    if mark == ":" and closers:
        return None
    pieces = (chunk, core, core + mark, chunk[start:], chunk[:stop], last + mark, core + closers[:1], last + closers[:1])
    if not (special.isdisjoint(pieces) and special.isdisjoint(parts)):
        return None
    # spaCy's special-case pass re-joins neighbouring tokens that make a special case ("’’").
    if not (special.isdisjoint(_substrings(chunk[:start])) and special.isdisjoint(_substrings(chunk[core_stop:]))):
        return None
    # ("’’" after a mark stays one token, so one closer only.)
    if inner and (len(closers) != 1 or not special.isdisjoint(_inner_pieces(chunk, start, core_stop, last))):
        return None
    out = list(chunk[:start])
    for index, part in enumerate(parts):
        if index:
            out.append("-")
        out.append(part)
    if inner:
        out.append(inner)
    out.extend(closers)
    if mark:
        out.append(mark)
    return tuple(out)


def _is_plain_part(part: str) -> bool:
    return part.isalpha() or (part.isascii() and part.isdigit())


def _substrings(text: str) -> list[str]:
    """Every substring of two or more characters of a (short) run of openers or closers and marks."""
    return [text[i:j] for i in range(len(text)) for j in range(i + 2, len(text) + 1)]


def _inner_pieces(chunk: str, start: int, core_stop: int, last: str) -> list[str]:
    """Every string spaCy's affix loop may test as a special case in openers + word + mark + closers (and more)."""
    tails = [chunk[core_stop:stop] for stop in range(core_stop, len(chunk) + 1)]
    return [chunk[begin:core_stop] + tail for begin in range(start + 1) for tail in tails] + [last + tail for tail in tails]
