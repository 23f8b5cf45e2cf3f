"""DataTrove's English units, reproduced: words and sentences against spaCy itself, n-gram counts by hand."""
from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

spacy = pytest.importorskip("spacy", reason="the reference units need spacy (the curate extra)")

from winnow.curation.filters import ngrams  # noqa: E402
from winnow.curation.filters import reference_units as ru  # noqa: E402


@pytest.fixture(scope="module")
def nlp():
    pipeline = spacy.blank("en")
    pipeline.add_pipe("sentencizer")
    return pipeline


def spacy_words(nlp, text: str) -> tuple[str, ...]:
    return tuple(t.text.strip() for t in nlp.tokenizer(text) if t.text.strip())


def assert_chunks_match_spacy(nlp, chunks, sentence_suffix: str = "", kinds: bool = False) -> None:
    """Each chunk, from an empty cache, splits into spaCy's tokens and sentences (the chunk
    followed by `sentence_suffix`); with `kinds`, its kind counts agree with its words."""
    ru.set_token_cache(None)
    for chunk in chunks:
        assert ru.words(chunk) == spacy_words(nlp, chunk), repr(chunk)
        line = chunk + sentence_suffix
        assert ru.line_sentence_count(line) == len(list(nlp(line).sents)), repr(chunk)
        if kinds:
            assert ru.kind_counts(chunk) == (
                sum(map(ru.is_symbol_word, ru.words(chunk))),
                sum(1 for w in ru.words(chunk) if not ru.is_symbol_word(w) and not any(map(str.isalpha, w))),
                sum(len(w) for w in ru.words(chunk) if ru.is_symbol_word(w)),
            ), repr(chunk)


TRICKY = [
    "Don't stop: well-known café, naïve! I can't, won't; cannot.",
    "Visit https://example.com/a-b?c=d or e-mail a.b@example.org :) U.S. and U.K. (ok).",
    "Mr. Smith paid $1,000.50 in 2021-22... \"Quoted,\" he said (twice).",
    "SpaceX. pH. B. eV. Apr. etc. e.g. i.e. 5km 10,000 3.5% #tag @user",
    "\u201cCurly\u201d \u2018quotes\u2019 \u2014 dashes \u2013 and\u2026 ellipses",
    "हिन्दी भाषा, русский язык. 中文字符。",
    "said,'' ''They went.",  # spaCy's one context-dependent case: see reference_units
]


@pytest.mark.parametrize("text", TRICKY[:-1])
def test_words_are_spacys_tokens(nlp, text):
    ru.set_token_cache(None)
    assert ru.words(text) == spacy_words(nlp, text)
    # Learned chunks give the same words from the cache.
    ru.text_words.cache_clear()
    assert ru.words(text) == spacy_words(nlp, text)


def test_words_of_a_chunk_do_not_depend_on_its_neighbours_in_the_batch(nlp):
    """Unseen chunks go to spaCy together; a neighbour's quotes must not change a chunk's tokens."""
    ru.set_token_cache(None)
    ru.words("''One student,'' ''They far.''")
    assert ru.words("''They") == spacy_words(nlp, "''They") == ("''", "They")


def test_random_chunks_match_spacy(nlp):
    rng = random.Random(11)
    alphabet = list("abcXYZ019.,;:!?'\"()[]-$%#@/\u201c\u201d\u2018\u2019\u2026 ") + ["Apr", "Fla", "D-", "8)", "can", "not"]
    ru.set_token_cache(None)
    for _ in range(1500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        assert ru.words(text) == spacy_words(nlp, text), repr(text)


def test_word_mark_and_quote_chunks_match_spacy(nlp):
    """Every opener / word / mark / closer combination the shortcuts of `_Tokenizer._plain` and
    `_learn_plain` accept or refuse: tokens and sentence classes equal spaCy's, chunk by chunk."""
    openers = ["", "\u201c", '"', "(", "\u2018"]
    cores = ["said", "a", "B", "Apr", "etc", "Inc", "well-known", "SpaceX", "U.S", "can", "n't", "12", "caf\u00e9"]
    marks = ["", ",", ".", "!", "?", ":", ";"]
    closers = ["", "\u201d", '"', "\u2019", ")", "]", "\u2019\u2019", "\"\"", "\u201d)", "''"]
    chunks = [o + c + m + q for o in openers for c in cores for m in marks for q in closers]
    chunks += [o + c + q + m for o in openers for c in cores for m in marks for q in closers]
    assert_chunks_match_spacy(nlp, chunks)


def test_possessive_chunks_match_spacy(nlp):
    """The possessive shortcut of `_learn_plain` ("CBP's" -> "CBP", "'s"), and the chunks it must
    leave to spaCy (special cases such as "It's" or "Let’s", stems with digits or marks)."""
    stems = ["CBP", "Serbia", "It", "it", "Let", "he", "She", "that", "what", "Dont", "cannot", "2000", "U.S", "caf\u00e9",
             "\u4e2d\u6587", "well-known", "(Lam", "Ma"]
    chunks = [stem + suffix for stem in stems for suffix in ("'s", "'S", "\u2019s", "\u2019S")]
    chunks += [chunk + mark for chunk in chunks for mark in (",", ".", "\u201d")]
    assert_chunks_match_spacy(nlp, chunks, kinds=True)


def test_sentence_counts_match_the_sentencizer(nlp):
    rng = random.Random(5)
    alphabet = list("ab Xy.!?\u2026\"')(,;  \t\u00a0") + ["Mr.", "e.g.", "...", "!!", " . "]
    samples = ["Mr. Smith met Dr. Jones at 5 p.m. on Monday!", "Wow.  !! Next", "It was great!!! Really? Yes."]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))).strip() for _ in range(600)]
    ru.set_token_cache(None)
    for line in samples:
        if not line:
            continue
        assert ru.line_sentence_count(line) == len(list(nlp(line).sents)), repr(line)


def test_symbol_words_and_terminal_marks():
    assert ru.is_symbol_word("...") and ru.is_symbol_word("|") and ru.is_symbol_word("\u201c")
    assert not ru.is_symbol_word("a.") and not ru.is_symbol_word("1")
    assert "." in ru.TERMINAL_PUNCTUATION and "\u3002" in ru.TERMINAL_PUNCTUATION
    for mark in ("\u201d", "\u2019", "\u2026", '"', "'"):
        assert mark not in ru.TERMINAL_PUNCTUATION


def test_top_ngram_counts_once_and_breaks_ties_by_first_occurrence():
    # "a b" and "c dd" both occur twice; "a b" comes first: 3 characters ("a b") times 2.
    assert ngrams.top_ngram_chars(("a", "b", "c", "dd", "a", "b", "c", "dd"), 2) == 6
    assert ngrams.top_ngram_chars(("c", "dd", "a", "b", "c", "dd", "a", "b"), 2) == 8
    assert ngrams.top_ngram_chars(("only", "once", "here"), 2) == len("only once")
    assert ngrams.top_ngram_chars(("one",), 2) == 0


def test_duplicate_ngrams_scan_greedily_and_join_without_spaces():
    words = ("x", "y", "z", "x", "y", "z", "x", "y", "z")
    # 2-grams: "xy" "yz" "zx" new; at 3 "xy" seen (+2, jump to 5); "zx" seen (+2, jump to 7); "yz" seen (+2).
    assert ngrams.duplicate_ngram_chars(words, (2,)) == {2: 6}
    assert ngrams.duplicate_ngram_chars(("ab", "c", "a", "bc"), (2,)) == {2: 3}
    assert ngrams.duplicate_ngram_chars(("a", "b"), (5,)) == {5: 0}


def test_loading_the_tokenizer_does_not_import_torch() -> None:
    """Issue 22 (small jobs): thinc's probe would import torch (about 1.3 CPU-s) for nothing;
    the tokens stay spaCy's, and torch still imports normally afterwards."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from winnow.curation.filters import reference_units as ru\n"
        "ru._TOKENIZER.learn([\"don't\", 'U.S.', 'hello'])\n"
        "assert ru._TOKENIZER.entries[\"don't\"][0] == \"do n't\", ru._TOKENIZER.entries\n"
        "assert 'torch' not in sys.modules\n"
        "import torch  # noqa: F401  (nothing else is hidden)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _top_by_counter(words, n):
    grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def _duplicates_by_scan(words, n):
    # DataTrove's find_all_duplicate, word for word.
    unique, total, index = set(), 0, 0
    while index < len(words) - n + 1:
        gram = "".join(words[index : index + n])
        if gram in unique:
            total += len(gram)
            index += n
        else:
            unique.add(gram)
            index += 1
    return total


def _random_word_lists(count):
    rng = random.Random(3)
    vocabulary = ["a", "b", "ab", "ba", "the", "of", ",", ".", "\u201d", "\u201c", "x" * 30]
    return [[rng.choice(vocabulary[: rng.randint(2, len(vocabulary))]) for _ in range(rng.randint(0, 60))]
            for _ in range(count)]


def test_ngram_counts_match_plain_python_on_random_words():
    for words in _random_word_lists(400):
        top = ngrams.top_ngram_chars_by_size(words, (2, 3, 4))
        assert top == {n: _top_by_counter(words, n) for n in (2, 3, 4)}, words
        dup = ngrams.duplicate_ngram_chars(words, (2, 5, 6, 10))
        assert dup == {n: _duplicates_by_scan(words, n) for n in (2, 5, 6, 10)}, words


def test_ngram_counts_stay_exact_when_every_hash_collides(monkeypatch):
    """Hashes only find candidates: texts decide, so even all-equal hashes give the same counts."""
    def colliding(codes):
        prefix, powers = original(codes)
        return np.zeros_like(prefix), powers

    original = ngrams._prefix_hashes
    monkeypatch.setattr(ngrams, "_prefix_hashes", colliding)
    for words in _random_word_lists(150):
        assert ngrams.top_ngram_chars_by_size(words, (2, 3)) == {n: _top_by_counter(words, n) for n in (2, 3)}, words
        assert ngrams.duplicate_ngram_chars(words, (5,)) == {5: _duplicates_by_scan(words, 5)}, words


def test_duplicate_ngrams_found_when_only_one_occurrence_starts_with_short_words():
    # The same joined 8-gram ("abcdefghijklmnopq") after short words (a 5-gram of 5 characters)
    # and after long ones (13 characters): both occurrences must be scanned.
    words = ["a", "b", "c", "d", "e", "fghij", "klmno", "pq", "zz", "abcdefg", "hi", "j", "kl", "m", "no", "p", "q"]
    expected = {n: _duplicates_by_scan(words, n) for n in (5, 8)}
    assert expected[8] == 17
    assert ngrams.duplicate_ngram_chars(words, (5, 8)) == expected


def test_number_chunks_match_spacy(nlp):
    """The number shortcut of `plain_chunks` ("$55.12", "505,796", "3.5%,"): tokens and classes as spaCy's."""
    rng = random.Random(7)
    chunks = ["$55.12", "505,796", "3.5%,", "$1,000.50.", "1.", "5%", "$5", "2021.", "1,2,3", "12:", "8.8", "1.2.3.4"]
    for _ in range(600):
        groups = [str(rng.randint(0, 10 ** rng.randint(1, 4))) for _ in range(rng.randint(1, 3))]
        number = groups[0] + "".join(rng.choice(".,") + g for g in groups[1:])
        chunks.append(rng.choice(["", "$"]) + number + rng.choice(["", "%"]) + rng.choice(["", *",;:!?."]))
    assert_chunks_match_spacy(nlp, chunks, sentence_suffix=" Next", kinds=True)


def test_hyphenated_digit_chunks_match_spacy(nlp):
    """Digit parts in hyphenated plain chunks: split from letters after them and from digits,
    never from letters before them ("COVID-19" stays one token)."""
    parts = ["5", "2021", "22", "year", "COVID", "B", "km", "am"]
    chunks = [a + "-" + b + tail for a in parts for b in parts for tail in ("", ",", ".", ")", "\u201d")]
    chunks += ["(" + chunk for chunk in chunks] + ["1-2-3", "a-1-b", "5-year-old", "9-11,"]
    assert_chunks_match_spacy(nlp, chunks, sentence_suffix=" Next")


def test_capitals_period_letter_digit_and_dash_chunks_match_spacy(nlp):
    """The shortcuts of `plain_chunks` for "NYAG." (a "." after two ASCII capitals), chunks of
    ASCII letters and digits ("RAV4" whole, "128GB" split at the unit, "9am" a special case),
    words joined by dashes ("day—and"), a word, a mark and a closer ('said,”'), digits joined by
    ":" or dashes ("4:25", "30−35") and "%" before digits ("%24")."""
    rng = random.Random(11)
    chunks = ["NYAG.", "AWD.", "AB.", "US.", "B.", "SpaceX.", "\u00c4B.", "eAB.", "MR.", "No.", "IT.", "PM.", "\ud588\ub2e4.", "\ub2e4.", "\ud55c\uad6dA."]
    chunks += ["4:25", "20:13", "30\u221235", "7\u201310", "1:2:3", "%24", "%9", "%24,", "4:25.", "%1.5"]
    chunks += ["RAV4", "4Motion", "128GB", "5km", "1900R", "A330neo", "9am", "12pm", "4G", "10x10km", "3rd", "mp3"]
    chunks += ["day\u2014and", "well\u2013being", "a\u2014b\u2014c", "a\u20145", "5\u2014a", "it\u2014s", "a\u2014"]
    chunks += ["said,\u201d", 'it."', "B.\u201d", "Mr.)", "no!]", "U.S.\u201d", "e.\u2019", "said:\u201d"]
    for _ in range(400):
        head = rng.choice(["", "A", "ab", "RAV", "x"]) + str(rng.randint(0, 10 ** rng.randint(0, 4)))
        chunks.append(head + rng.choice(["", "km", "m", "GB", "mph", "T", "am", "pm", "neo", "x", "th", "R"]))
    assert_chunks_match_spacy(nlp, chunks, sentence_suffix=" Next", kinds=True)
