"""The text units of the reference implementation (DataTrove 0.10.1, English), reproduced exactly.

DataTrove splits English words and sentences with spaCy's blank English
pipeline (its tokenizer plus the rule-based `sentencizer`); the Gopher,
C4 and FineWeb filters count those tokens. Winnow uses the same spaCy
tokenizer, because its hundreds of exceptions ("don't" -> "do", "n't";
"cannot" -> "can", "not"; abbreviations; URLs; emoticons) decide word
counts, n-grams and stop words, and no regex reproduces them.

Calling spaCy on every text costs about 4 ms per news page, more than the
whole filter chain may spend. But spaCy tokenizes each whitespace-separated
chunk on its own (whitespace never joins or splits a token), so the tokens of
a chunk are a function of the chunk. Winnow caches them per chunk and sends
spaCy only the chunks it has not seen, one per line, once per text: on web
text most chunks are common words, so spaCy sees a small share of the text.
The cache changes speed, never output.

One exception is known: spaCy's special-case pass can split a chunk
differently when a neighbouring chunk ends in the same quote characters it
starts with (`,'' ''They` in the text: the second chunk becomes "'", "'",
"They" instead of "''", "They"). Winnow always gives the chunk's own
tokenization; docs/filters.md counts the pages where this changes a number.

Sentence counts follow spaCy's `Sentencizer.predict`: a token starts a new
sentence when it is neither punctuation nor a sentence-final mark and a
sentence-final mark came since the last start. Each token is classed once
(`o` ordinary, `p` a sentence-final mark, `q` other punctuation), so a line's
sentences are one regex count over its class string.
"""
from __future__ import annotations

import functools
import itertools
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from winnow.curation.filters.plain_chunks import split_plain
from winnow.curation.filters.spacy_import import torch_hidden_from_thinc


# Chunks kept in the cache before it is emptied (bounded memory on long runs).
CHUNK_CACHE_LIMIT = 400_000
# Chunks sent to spaCy before its pipeline is reloaded: its vocabulary keeps every token
# string it has seen (faster than a memory zone per call, which re-creates "," and "(" each
# time), so a fresh one bounds the memory.
SPACY_RELOAD_CHUNKS = 100_000

# DataTrove's TERMINAL_PUNCTUATION: Unicode's Sentence_Terminal marks as of its
# writing (Unicode 14), plus three Khmer signs (U+17D6, U+17D9, U+17DA).
# FineWeb's line-punctuation rule ends lines with these; note that it has no
# closing quote, apostrophe or ellipsis character.
_TERMINAL_RANGES = (
    (0x21, 0x21), (0x2E, 0x2E), (0x3F, 0x3F), (0x589, 0x589), (0x61D, 0x61F), (0x6D4, 0x6D4), (0x700, 0x702),
    (0x7F9, 0x7F9), (0x837, 0x837), (0x839, 0x839), (0x83D, 0x83E), (0x964, 0x965), (0x104A, 0x104B),
    (0x1362, 0x1362), (0x1367, 0x1368), (0x166E, 0x166E), (0x1735, 0x1736), (0x17D4, 0x17D6), (0x17D9, 0x17DA),
    (0x1803, 0x1803), (0x1809, 0x1809), (0x1944, 0x1945), (0x1AA8, 0x1AAB), (0x1B5A, 0x1B5B), (0x1B5E, 0x1B5F),
    (0x1B7D, 0x1B7E), (0x1C3B, 0x1C3C), (0x1C7E, 0x1C7F), (0x203C, 0x203D), (0x2047, 0x2049), (0x2E2E, 0x2E2E),
    (0x2E3C, 0x2E3C), (0x2E53, 0x2E54), (0x3002, 0x3002), (0xA4FF, 0xA4FF), (0xA60E, 0xA60F), (0xA6F3, 0xA6F3),
    (0xA6F7, 0xA6F7), (0xA876, 0xA877), (0xA8CE, 0xA8CF), (0xA92F, 0xA92F), (0xA9C8, 0xA9C9), (0xAA5D, 0xAA5F),
    (0xAAF0, 0xAAF1), (0xABEB, 0xABEB), (0xFE52, 0xFE52), (0xFE56, 0xFE57), (0xFF01, 0xFF01), (0xFF0E, 0xFF0E),
    (0xFF1F, 0xFF1F), (0xFF61, 0xFF61), (0x10A56, 0x10A57), (0x10F55, 0x10F59), (0x10F86, 0x10F89),
    (0x11047, 0x11048), (0x110BE, 0x110C1), (0x11141, 0x11143), (0x111C5, 0x111C6), (0x111CD, 0x111CD),
    (0x111DE, 0x111DF), (0x11238, 0x11239), (0x1123B, 0x1123C), (0x112A9, 0x112A9), (0x1144B, 0x1144C),
    (0x115C2, 0x115C3), (0x115C9, 0x115D7), (0x11641, 0x11642), (0x1173C, 0x1173E), (0x11944, 0x11944),
    (0x11946, 0x11946), (0x11A42, 0x11A43), (0x11A9B, 0x11A9C), (0x11C41, 0x11C42), (0x11EF7, 0x11EF8),
    (0x11F43, 0x11F44), (0x16A6E, 0x16A6F), (0x16AF5, 0x16AF5), (0x16B37, 0x16B38), (0x16B44, 0x16B44),
    (0x16E98, 0x16E98), (0x1BC9F, 0x1BC9F), (0x1DA88, 0x1DA88),
)
TERMINAL_PUNCTUATION = tuple(sorted(chr(c) for lo, hi in _TERMINAL_RANGES for c in range(lo, hi + 1)))

# DataTrove's PUNCTUATION_SET: ASCII and common typographic punctuation, the C0
# and C1 control characters except tab and newline, a fullwidth digit one (as
# DataTrove lists it), and the terminal marks. A token made only of these is a
# "symbol word", which Gopher's word count and mean word length leave out.
_PUNCTUATION_CHARS = (
    "\"#$%&'()*+,-/:;<=>@[\\]^_`{|}~\u00ab\u00b4\u00bb\u2013\u2014\u2019\u201c\u201d\u201e\u2026\u2236\u2501"
    "\u25ba\u3001\u3008\u3009\u300a\u300b\u300c\u300d\u3010\u3011\uff05\uff08\uff09\uff0c\uff11\uff1a\uff1b\uff5e"
)
_CONTROL_CHARS = "".join(chr(c) for c in (*range(0x0, 0x9), *range(0xB, 0x20), *range(0x7F, 0xA0)))
PUNCTUATION_SET = frozenset(_PUNCTUATION_CHARS + _CONTROL_CHARS).union(TERMINAL_PUNCTUATION)

_SPACE_RUN_RE = re.compile(r"(\s+)")
# A sentence-final mark, then punctuation, then an ordinary token: one new sentence.
_SENTENCE_BREAK_RE = re.compile("p[pq]*o")


# Token kinds (`token_kinds`): a pure-punctuation token, a word
# with no letter, a word with a letter. Punctuation tokens never contain a letter.
SYMBOL, WORD_NO_LETTER, WORD_WITH_LETTER = 0, 1, 2


def _kind(token: str) -> int:
    if is_symbol_word(token):
        return SYMBOL
    return WORD_WITH_LETTER if any(map(str.isalpha, token)) else WORD_NO_LETTER


class _Tokenizer:
    """spaCy's blank English tokenizer, loaded on first use, with per-chunk and per-token caches."""

    def __init__(self) -> None:
        self._nlp: Any = None
        self._punct_chars: frozenset[str] = frozenset()
        # chunk -> (its tokens joined by single spaces, one sentencizer class per token (o, p, q),
        # its token kinds summed (`_pack_counts`)). One entry, read with one lookup: the cache's
        # lookups cost more than anything done with what they return.
        self.entries: dict[str, ChunkEntry] = {}
        self._special: frozenset[str] = frozenset()
        self._units: frozenset[str] = frozenset()  # the ASCII units of spaCy's suffix rule ("km", "GB")
        self.letter_special: frozenset[str] = frozenset()  # the special cases made only of letters
        self.letter_special_spaced: dict[str, str] = {}  # each of those -> its tokens joined by spaces
        self.letter_special_classes: dict[str, str] = {}  # each of those -> its sentencizer classes
        self._attrs: list[int] = []
        self._sent_to_spacy = 0
        # Beam's local workers are threads sharing this one cache. `clear` replaces the dict
        # (never empties it in place), and `learn` hands back the dict it filled, under
        # this lock: a reader never sees a chunk vanish between learning and reading it.
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with torch_hidden_from_thinc():
            import spacy
            from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH
            from spacy.lang.char_classes import UNITS
            from spacy.pipeline import Sentencizer

        self._nlp = spacy.blank("en")
        # Winnow reads a token's text, IS_SPACE and IS_PUNCT only; the twenty other attributes
        # spaCy computes for each new string (shape, norm, like_num...) cost about 40% of
        # tokenizing an unseen chunk and never change where the tokenizer splits.
        getters = self._nlp.vocab.lex_attr_getters
        self._nlp.vocab.lex_attr_getters = {attr: getters[attr] for attr in (IS_SPACE, IS_PUNCT)}
        self._sent_to_spacy = 0
        self._attrs = [IDX, LENGTH, IS_SPACE, IS_PUNCT]  # what `_learn_missing` reads of each token
        self._punct_chars = frozenset(Sentencizer.default_punct_chars)
        self._special = frozenset(self._nlp.tokenizer.rules)
        self._units = frozenset(unit for unit in UNITS.split("|") if unit.isascii() and unit.isalpha())
        self.letter_special = frozenset(rule for rule in self._special if rule.isalpha())
        self._seed()
        # (Never changed once made: threads may read it while another one reloads spaCy.)
        self.letter_special_spaced = {rule: self.entries[rule][0] for rule in self.letter_special}
        self.letter_special_classes = {rule: self.entries[rule][1] for rule in self.letter_special}
        return self._nlp

    def _seed(self) -> None:
        """Cache the special cases made only of letters ("cannot", "Dont"), the only letter chunks
        that are not one token of their own. Any other chunk of letters is never cached: `words` and
        `line_sentence_count` read it as itself, an ordinary word (class "o", WORD_WITH_LETTER)."""
        self._learn_missing([rule for rule in self.letter_special if rule not in self.entries])

    def clear(self) -> None:
        self.entries = {}
        if self._nlp is not None:
            self._seed()

    def learn(self, chunks: Iterable[str]) -> dict[str, ChunkEntry]:
        """Tokenize, in one spaCy call, the chunks not yet in the cache (chunks of letters need none).

        Returns the entries dict that holds every non-letter chunk of `chunks`: read that,
        not the attribute, which another thread may replace meanwhile.
        """
        return self.learn_set(set(itertools.filterfalse(str.isalpha, chunks)))

    def learn_set(self, wanted: set[str]) -> dict[str, ChunkEntry]:
        """`learn` for a set of chunks none of which is made only of letters."""
        with self._lock:
            if self._nlp is None:
                self._load()
            missing = list(wanted.difference(self.entries))
            if missing:
                if len(self.entries) + len(missing) > CHUNK_CACHE_LIMIT:
                    self.clear()
                    # What was cached before the clear is gone too: learn every chunk again.
                    missing = list(wanted.difference(self.entries))
                self._learn_missing(missing)
            return self.entries

    def _learn_missing(self, missing: list[str]) -> None:
        nlp = self._nlp
        missing = self._learn_plain(missing)
        if not missing:
            return
        if self._sent_to_spacy > SPACY_RELOAD_CHUNKS:
            nlp = self._load()
        self._sent_to_spacy += len(missing)
        # Newlines, not spaces, between chunks: a newline is a token of its own, so spaCy's
        # special-case pass cannot join tokens of two chunks that were never neighbours.
        # (The order of `missing` does not matter for the same reason.)
        joined = "\n".join(missing)
        punct_chars = self._punct_chars
        entries = self.entries
        nlp.max_length = len(joined) + 10
        # Read the tokens as one integer array: a spaCy `Token` object per token cost more
        # than the tokenizing itself.
        rows = nlp.tokenizer(joined).to_array(self._attrs).tolist()
        index, end = 0, len(missing[0])
        texts: list[str] = []
        marks: list[str] = []
        for start, length, is_space, is_punct in rows:
            if is_space:
                continue
            while start >= end:
                chunk = missing[index]
                entries[chunk] = _entry(texts, "".join(marks))
                texts, marks = [], []
                index += 1
                end += 1 + len(missing[index])
            text = joined[start : start + length]
            texts.append(text)
            marks.append("p" if text in punct_chars else ("q" if is_punct else "o"))
        chunk = missing[index]
        entries[chunk] = _entry(texts, "".join(marks))

    def _learn_plain(self, chunks: list[str]) -> list[str]:
        """Cache the plain chunks (`plain_chunks.split_plain`); return the others, for spaCy."""
        rest = []
        entries, special, units = self.entries, self._special, self._units
        for chunk in chunks:
            split = split_plain(chunk, special, units)
            if split is None:
                rest.append(chunk)
            else:
                entries[chunk] = _entry(*split)
        return rest


# A chunk's token kinds as one integer, so a text's totals are one C-level `sum`: symbol tokens,
# plus letterless words << 40, plus characters of symbol tokens << 80 (a text's totals never
# reach 2**40).
_COUNT_SHIFT = 40


ChunkEntry = tuple[str, str, int]  # (tokens joined by spaces, sentencizer classes, packed token kinds)


def _entry(tokens: Sequence[str], classes: str) -> ChunkEntry:
    return " ".join(tokens), classes, _pack_counts(tokens)


def _pack_counts(tokens: Sequence[str]) -> int:
    """The token kinds of a chunk's tokens, packed (see `_COUNT_SHIFT`)."""
    return sum(map(_packed_kind, itertools.filterfalse(str.isalpha, tokens)))


@functools.lru_cache(maxsize=1 << 14)
def _packed_kind(token: str) -> int:
    """One token's `_pack_counts` (a word with a letter is 0); remembered, as marks and digits recur."""
    kind = _kind(token)
    if kind == SYMBOL:
        return 1 + (len(token) << 2 * _COUNT_SHIFT)
    return 1 << _COUNT_SHIFT if kind == WORD_NO_LETTER else 0


_TOKENIZER = _Tokenizer()


@dataclass(frozen=True)
class TextWords:
    """DataTrove's English words of one text and what the filters count of them, made once per text.

    The Gopher, C4 and FineWeb steps all read the same document: splitting it
    once, and reading the token cache once per distinct chunk of it, is what
    keeps the chain cheap. (The cache holds some 100k chunks scattered in memory;
    its lookups cost several times more than ones in `classes`, which holds this
    text's chunks only.) The words are kept as one string, joined by single
    spaces: no word holds whitespace, so that string is the word sequence, and
    it is built in C without a Python object per word.
    """

    spaced: str  # the words joined by single spaces ("" without words)
    word_count: int  # spaCy's tokens, whitespace dropped; punctuation tokens are words
    symbol_tokens: int  # words made only of DataTrove's punctuation
    letterless_words: int  # other words with no letter
    symbol_chars: int  # characters of the symbol tokens
    classes: Mapping[str, str]  # sentencizer classes of this text's chunks that are not plain words
    single_spaced: bool  # its only whitespace is newlines and single spaces (see `spaced_line_marks`)

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.spaced.split(" ")) if self.spaced else ()

    def distinct_present(self, candidates: frozenset[str]) -> int:
        """How many of `candidates` are words of the text (each counted once, case-sensitive)."""
        if len(candidates) > _FEW_CANDIDATES:
            return len(candidates.intersection(self.words))
        # A word is a space-delimited piece of the padded string; a candidate holding
        # whitespace (or empty) is never a word.
        padded = f" {self.spaced} "
        return sum(1 for word in candidates if word and not any(map(str.isspace, word)) and f" {word} " in padded)


# Up to this many candidates, `distinct_present` searches the word string for each one
# (a few fast substring searches) instead of making a set of the words.
_FEW_CANDIDATES = 32


@functools.lru_cache(maxsize=8)
def text_words(text: str) -> TextWords:
    """The `TextWords` of `text`, cached for the last few texts (consecutive steps read the same document)."""
    chunks = text.split()
    others = list(itertools.filterfalse(str.isalpha, chunks))
    wanted_set = set(others)
    entries = _TOKENIZER.learn_set(wanted_set)
    wanted = list(wanted_set)
    # One cache lookup per distinct chunk, the entries transposed in C; later lookups go to
    # this text's small dicts.
    spaced_parts, class_parts, packed_parts = zip(*map(entries.__getitem__, wanted)) if wanted else ((), (), ())
    # Each chunk's words joined by spaces: a chunk of letters is one word, itself, unless it is
    # a special case such as "cannot" (those come first, in every text's table).
    spaced_of = _TOKENIZER.letter_special_spaced.copy()
    spaced_of.update(zip(wanted, spaced_parts))
    spaced = " ".join(map(spaced_of.get, chunks, chunks))
    # Token kinds are summed per non-letter chunk: a chunk of letters is only words with a letter.
    packed = sum(map(dict(zip(wanted, packed_parts)).__getitem__, others))
    mask = (1 << _COUNT_SHIFT) - 1
    word_count = spaced.count(" ") + 1 if spaced else 0
    # The words' characters are the chunks' characters: every other character is whitespace.
    whitespace = len(text) - (len(spaced) - max(word_count - 1, 0))
    single_spaced = "  " not in text and text.count(" ") + text.count("\n") == whitespace
    return TextWords(
        spaced, word_count, packed & mask, (packed >> _COUNT_SHIFT) & mask, packed >> 2 * _COUNT_SHIFT,
        dict(zip(wanted, class_parts)), single_spaced,
    )


def word_count(text: str) -> int:
    """`text_words(text).word_count`, from `remember_word_count` when an earlier step told it."""
    count = _KNOWN_WORD_COUNTS.get(text)
    return text_words(text).word_count if count is None else count


def remember_word_count(text: str, count: int) -> None:
    """Keep the `word_count` of `text` for a later step, as `chunks_word_count` gave it.

    c4 edits 3 pages in 10 by dropping lines, and fineweb reads only the word count of
    the edited text: c4 gets it by subtracting the dropped lines' words from the page's,
    instead of fineweb splitting and reading every chunk of the edited text again.
    """
    if len(_KNOWN_WORD_COUNTS) >= _KNOWN_WORD_COUNTS_LIMIT:
        _KNOWN_WORD_COUNTS.clear()  # (threads share it; a count lost is only computed again)
    _KNOWN_WORD_COUNTS[text] = count


_KNOWN_WORD_COUNTS: dict[str, int] = {}
_KNOWN_WORD_COUNTS_LIMIT = 64


def chunks_word_count(chunks: Iterable[str], known: Mapping[str, str]) -> int:
    """How many words the chunks add to a `TextWords.word_count`.

    `known` holds the classes (one per token) of each chunk not made only of letters
    (`TextWords.classes` or `chunk_classes`). A chunk of letters is one word unless it
    is a special case ("cannot"); a chunk spaCy reads as whitespace only still counts
    one (an empty piece of `TextWords.spaced`).
    """
    special = _TOKENIZER.letter_special_classes
    return sum([len(known.get(chunk) or special.get(chunk, "o")) for chunk in chunks])


def words(text: str) -> tuple[str, ...]:
    """DataTrove's English words of `text`: spaCy's tokens, whitespace tokens dropped.

    Punctuation tokens ("," "." "|" "(") are words here, as in DataTrove.
    """
    return text_words(text).words


def token_kinds(tokens: Sequence[str]) -> list[int]:
    """SYMBOL, WORD_NO_LETTER or WORD_WITH_LETTER for each token of `words()`."""
    return [WORD_WITH_LETTER if token.isalpha() else _token_kind(token) for token in tokens]


_token_kind = functools.lru_cache(maxsize=1 << 14)(_kind)


def kind_counts(text: str) -> tuple[int, int, int]:
    """(symbol tokens, words with no letter, characters of symbol tokens) among `words(text)`."""
    units = text_words(text)
    return units.symbol_tokens, units.letterless_words, units.symbol_chars


def is_symbol_word(word: str) -> bool:
    """True when every character of `word` is in DataTrove's punctuation set."""
    return PUNCTUATION_SET.issuperset(word)


def line_sentence_count(line: str) -> int:
    """Sentences spaCy's sentencizer finds in `line` (as DataTrove's C4 filter counts them)."""
    chunks = line.split()
    if not chunks:
        return 0
    return sentence_count([line_marks(line, chunks, chunk_classes(chunks))])


def chunk_classes(chunks: Sequence[str]) -> Mapping[str, str]:
    """Sentencizer classes of chunks: a dict holding each of `chunks` not made only of letters."""
    entries = _TOKENIZER.entries  # a clear replaces this dict, never empties it: this one stays whole
    others = list(itertools.filterfalse(str.isalpha, chunks))
    # Usually every chunk is known already: then skip `learn` (its lock and sets).
    if not all(map(entries.__contains__, others)):
        entries = _TOKENIZER.learn(others)
    return {chunk: entries[chunk][1] for chunk in others}


def line_marks(line: str, chunks: Sequence[str], known: Mapping[str, str]) -> str:
    """The sentencizer class of each token of a non-blank `line` (see `sentence_count`).

    `chunks` is `line.split()`, and `known` holds every chunk of them not made only of
    letters (a `TextWords.classes` of the line's text, or the cache). Whitespace between
    chunks other than one plain space is a token of its own (an ordinary one, so it can
    start a sentence), as in spaCy.
    """
    marks = list(map(known.get, chunks, itertools.repeat("o")))
    if " ".join(chunks) != line:
        marks = _with_space_tokens(line, marks)
    return "".join(marks)


def spaced_line_marks(chunks: Sequence[str], known: Mapping[str, str]) -> str:
    """`line_marks` of a line that is its `chunks` joined by single spaces (a stripped line of a
    `TextWords.single_spaced` text): no whitespace token to add."""
    return "".join(map(known.get, chunks, itertools.repeat("o")))


def sentence_count(lines_marks: Sequence[str]) -> int:
    """Sentences of the lines whose `line_marks` these are, each line counted on its own."""
    # "|" is no class: no sentence break spans two lines. Each line starts one sentence.
    return len(lines_marks) + len(_SENTENCE_BREAK_RE.findall("|".join(lines_marks)))


def _with_space_tokens(line: str, marks: list[str]) -> list[str]:
    """`marks` with an "o" for each whitespace token spaCy makes between, before or after chunks."""
    parts = _SPACE_RUN_RE.split(line)
    out: list[str] = []
    chunk = 0
    for index, part in enumerate(parts):
        if index % 2:
            # spaCy folds one plain space after a token into that token; the rest of the run is a token.
            leading = index == 1 and not parts[0]
            if part if leading or part[0] != " " else part[1:]:
                out.append("o")
        elif part:
            out.append(marks[chunk])
            chunk += 1
    return out


def load_tokenizer() -> None:
    """Load spaCy's tokenizer now rather than on the first text (the extraction fork server
    does this once, so that every child it forks starts with it loaded)."""
    with _TOKENIZER._lock:
        if _TOKENIZER._nlp is None:
            _TOKENIZER._load()


def token_cache() -> dict[str, ChunkEntry]:
    """A copy of the token cache (benchmarks restore it to measure a given cache state)."""
    return dict(_TOKENIZER.entries)


def set_token_cache(state: dict[str, ChunkEntry] | None) -> None:
    """Replace the token caches (None empties them) and forget the per-text cache; outputs never depend on it.

    A loaded spaCy pipeline is replaced by a fresh one too, so that its own caches hold nothing either.
    """
    if _TOKENIZER._nlp is not None:
        _TOKENIZER._load()
    if state is None:
        _TOKENIZER.clear()
    else:
        _TOKENIZER.entries = dict(state)
    text_words.cache_clear()
    _KNOWN_WORD_COUNTS.clear()
