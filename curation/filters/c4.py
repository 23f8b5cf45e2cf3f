"""C4's line cleaning and page rules (Raffel et al. 2020, TFDS c4_utils), as step `c4`.

This step EDITS the text: it drops lines that fail the line rules, removes
citation markers, and returns the cleaned text with the number of lines and
characters it removed. The cleaned text comes back for rejected documents
too (in annotate mode they go on through the recipe).

Lines are judged as DataTrove 0.10.1's `C4QualityFilter` judges them, which
follows TFDS's `clean_page` in order: each stripped line is dropped for a
word over `max_word_length` characters (the line, not the page), then loses
its citation markers (case-sensitive), then is dropped for a missing terminal
mark or too few words; "lorem ipsum" on a line that got this far rejects the
page; then javascript lines are dropped; a `{` on a surviving line rejects the
page; then policy lines are dropped. Sentences are counted per kept line with
spaCy's sentencizer, as DataTrove counts them.

Defaults follow FineWeb's run of this filter (no terminal-punctuation rule,
3 words per line, 5 sentences per page, no page-length cap). Where DataTrove
departs from TFDS, options give TFDS's reading, and the `c4` recipe sets
them: `end_marks` without "'" and `count_words_after_citations`. The paper's
bad-words page rule is the separate step `c4_badwords`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from winnow.curation.filters import reference_units as ru
from winnow.curation.filters import text_units as tu
from winnow.curation.types import Document, Step, StepResult, StepSpec, Verdict, verdict_result

C4_NO_LINES_LEFT = "c4_no_lines_left"
C4_TOO_FEW_SENTENCES = "c4_too_few_sentences"
C4_LOREM_IPSUM = "c4_lorem_ipsum"
C4_CURLY_BRACKET = "c4_curly_bracket"
C4_PAGE_TOO_LONG = "c4_page_too_long"

REASONS = (C4_NO_LINES_LEFT, C4_TOO_FEW_SENTENCES, C4_LOREM_IPSUM, C4_CURLY_BRACKET, C4_PAGE_TOO_LONG)

SIGNALS: tuple[tuple[str, str], ...] = (
    ("c4_page_chars", "int"),  # characters of the page before line cleaning
    ("c4_lines_kept", "int"),  # lines left after line cleaning
    ("c4_lines_removed", "int"),  # non-blank lines dropped, >= 0
    ("c4_chars_removed", "int"),  # len(input) - len(output), >= 0
    ("c4_lines_removed_too_long_word", "int"),
    ("c4_lines_removed_no_terminal_punct", "int"),
    ("c4_lines_removed_too_few_words", "int"),
    ("c4_lines_removed_javascript", "int"),
    ("c4_lines_removed_policy", "int"),
    ("c4_citations_removed", "int"),
    ("c4_sentence_count", "int"),  # spaCy sentences of the kept lines
    ("c4_has_lorem_ipsum", "bool"),  # on a line that passed the word, punctuation and length rules
    ("c4_has_curly_bracket", "bool"),  # on a line that passed those and the javascript rule
    ("c4_word_rules_skipped", "bool"),  # spaceless script and skip_spaceless_scripts: word rules off
)

# Substrings of cookie banners and legal boilerplate (the TFDS list).
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
# Wikipedia-style citation markers, case-sensitive as in TFDS and DataTrove: [1], [23], [], [edit], [citation needed].
_CITATION_RE = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
# DataTrove's terminal marks; TFDS's lack "'". A line ending in "..." is never terminated.
DATATROVE_END_MARKS = (".", "?", "!", '"', "'")
TFDS_END_MARKS = (".", "?", "!", '"')
ELLIPSIS = "..."


@dataclass(frozen=True)
class C4Config:
    """C4 line and page rules; numeric thresholds set to None disable their rule.

    `end_marks`: the endings that count as terminal punctuation (DataTrove's by
    default; the `c4` recipe sets TFDS's). `count_words_after_citations`: count a
    line's words after its citation markers are removed, as TFDS does (DataTrove
    counts them before). `skip_spaceless_scripts` (Winnow's): no word rules for
    scripts written without spaces. All three change the text, so `select`
    cannot change them.
    """

    filter_no_terminal_punct: bool = False  # drop lines that do not end in one of end_marks
    min_words_per_line: int | None = 3  # drop lines with fewer words
    min_sentences: int | None = 5  # reject pages with fewer sentences
    max_word_length: int | None = 1000  # drop lines with a longer word, in characters
    max_page_length: int | None = None  # reject pages with more characters
    drop_lorem_ipsum: bool = True  # reject pages that contain 'lorem ipsum'
    drop_curly_bracket: bool = True  # reject pages that contain a curly bracket (code)
    drop_javascript_lines: bool = True  # drop lines that mention javascript
    drop_policy_lines: bool = True  # drop lines about terms of use, privacy or cookie policies
    remove_citations: bool = True  # remove Wikipedia-style citation markers such as [1] and [citation needed]
    end_marks: tuple[str, ...] = DATATROVE_END_MARKS
    count_words_after_citations: bool = False
    skip_spaceless_scripts: bool = False

    def __post_init__(self) -> None:
        if not self.end_marks or not all(isinstance(m, str) and m for m in self.end_marks):
            raise ValueError(f"end_marks must be a non-empty list of non-empty strings, got {self.end_marks!r}")
        object.__setattr__(self, "end_marks", tuple(self.end_marks))


@dataclass(frozen=True)
class CleanedPage:
    """The output of line cleaning and what it counted."""

    text: str
    lines_kept: int
    removed_too_long_word: int
    removed_no_terminal_punct: int
    removed_too_few_words: int
    removed_javascript: int
    removed_policy: int
    citations_removed: int
    sentences: int
    has_lorem_ipsum: bool
    has_curly_bracket: bool

    @property
    def lines_removed(self) -> int:
        return (
            self.removed_too_long_word + self.removed_no_terminal_punct + self.removed_too_few_words
            + self.removed_javascript + self.removed_policy
        )


@dataclass(frozen=True)
class _ContentHints:
    """Which content rules (lorem ipsum, javascript, `{`, policy) can match some line of a page."""

    lorem: bool = True
    javascript: bool = True
    curly: bool = True
    policy: bool = True


_EVERY_RULE = _ContentHints()


def _content_hints(text: str) -> _ContentHints:
    """The content rules whose substring occurs in the page at all, found once per page.

    A rule whose substring is nowhere in the page matches none of its lines, so
    most lines need no lower-casing and no substring search. (A line that lost
    citation markers is checked against every rule: removing "[1]" can join
    the two halves of a substring.)
    """
    lower = text.lower()
    return _ContentHints(
        "lorem ipsum" in lower, "javascript" in lower, "{" in text, any(p in lower for p in POLICY_SUBSTRINGS)
    )


def _line_fate(
    line: str, split: list[str], config: C4Config, word_rules: bool, hints: _ContentHints
) -> tuple[str, str, int]:
    """(what happens to one stripped line, the line after citation removal, citations removed).

    `split` is `line.split()`.

    The fate is "kept", the name of the line rule that drops it, or "lorem"/"curly"
    for the lines that reject the page (which then stay in the cleaned text).
    `hints`: the content rules that can match some line of the page.
    """
    n_words = len(split)
    limit = config.max_word_length
    # A word is never longer than its line, so most lines skip the per-word check.
    if word_rules and limit is not None and len(line) > limit and max(map(len, split)) > limit:
        return "too_long_word", line, 0
    cited = 0
    if config.remove_citations and "[" in line:
        line, cited = _CITATION_RE.subn("", line)
        if config.count_words_after_citations:
            n_words = len(line.split())
    if config.filter_no_terminal_punct and (not line.endswith(config.end_marks) or line.endswith(ELLIPSIS)):
        return "no_terminal_punct", line, cited
    if word_rules and config.min_words_per_line is not None and n_words < config.min_words_per_line:
        return "too_few_words", line, cited
    if cited:
        hints = _EVERY_RULE
    lower = line.lower() if hints.lorem or hints.javascript or hints.policy else ""
    if config.drop_lorem_ipsum and hints.lorem and "lorem ipsum" in lower:
        return "lorem", line, cited
    if config.drop_javascript_lines and hints.javascript and "javascript" in lower:
        return "javascript", line, cited
    if config.drop_curly_bracket and hints.curly and "{" in line:
        return "curly", line, cited
    if config.drop_policy_lines and hints.policy and any(p in lower for p in POLICY_SUBSTRINGS):
        return "policy", line, cited
    return "kept", line, cited


def clean_lines(text: str, config: C4Config, skip_word_rules: bool = False) -> CleanedPage:
    """Apply the line rules to every line; blank lines are dropped without being counted.

    Unlike DataTrove, which stops at the first line that rejects the page,
    every line is judged, so a rejected page still has all its counts. Lines
    that reject the page ("lorem ipsum", `{`) are kept in the cleaned text.
    """
    kept: list[str] = []
    removed = dict.fromkeys(("too_long_word", "no_terminal_punct", "too_few_words", "javascript", "policy"), 0)
    citations = 0
    lorem = curly = False
    units = ru.text_words(text)
    known = units.classes  # the sentence classes of the page's chunks, read once
    hints = _content_hints(text)
    marks: list[str] = []  # the sentencizer classes of each kept line's tokens
    words_dropped = 0  # the words of the dropped lines and citations
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        split = line.split()
        fate, line, cited = _line_fate(line, split, config, not skip_word_rules, hints)
        citations += cited
        if fate in removed:
            removed[fate] += 1
            words_dropped += ru.chunks_word_count(split, known)
            continue
        lorem = lorem or fate == "lorem"
        curly = curly or fate == "curly"
        if cited:  # the line lost citation markers: it may hold chunks the page does not
            cited_split = line.split()
            cited_known = ru.chunk_classes(cited_split)
            words_dropped += ru.chunks_word_count(split, known) - ru.chunks_word_count(cited_split, cited_known)
            if fate == "kept" and cited_split:
                marks.append(ru.line_marks(line, cited_split, cited_known))
        elif fate == "kept":
            if units.single_spaced:
                marks.append(ru.spaced_line_marks(split, known))
            else:
                marks.append(ru.line_marks(line, split, known))
        kept.append(line)
    cleaned = "\n".join(kept).strip()
    words_left = units.word_count - words_dropped
    # fineweb reads the edited text's word count next (`ru.remember_word_count`). (A text of
    # one chunk that spaCy reads as whitespace only has no word; `chunks_word_count` counts one.)
    if cleaned != text and words_left > 1:
        ru.remember_word_count(cleaned, words_left)
    return CleanedPage(
        cleaned, len(kept), removed["too_long_word"], removed["no_terminal_punct"],
        removed["too_few_words"], removed["javascript"], removed["policy"], citations, ru.sentence_count(marks),
        lorem, curly,
    )


def c4_signals(text: str, language: str, config: C4Config) -> tuple[CleanedPage, dict[str, int | bool]]:
    """The cleaned page and every c4 signal."""
    skip_word_rules = config.skip_spaceless_scripts and tu.is_spaceless(text, language)
    page = clean_lines(text, config, skip_word_rules)
    cleaned = page.text
    signals: dict[str, int | bool] = {
        "c4_page_chars": len(text),
        "c4_lines_kept": page.lines_kept,
        "c4_lines_removed": page.lines_removed,
        "c4_chars_removed": max(0, len(text) - len(cleaned)),
        "c4_lines_removed_too_long_word": page.removed_too_long_word,
        "c4_lines_removed_no_terminal_punct": page.removed_no_terminal_punct,
        "c4_lines_removed_too_few_words": page.removed_too_few_words,
        "c4_lines_removed_javascript": page.removed_javascript,
        "c4_lines_removed_policy": page.removed_policy,
        "c4_citations_removed": page.citations_removed,
        "c4_sentence_count": page.sentences,
        "c4_has_lorem_ipsum": page.has_lorem_ipsum,
        "c4_has_curly_bracket": page.has_curly_bracket,
        "c4_word_rules_skipped": skip_word_rules,
    }
    return page, signals


def decide(config: C4Config, signals: Mapping[str, Any]) -> Verdict | None:
    """C4's page rules, on the signals of the cleaned page.

    A page with no lines left fails the sentence rule in DataTrove (0 < min);
    Winnow names that case, and with the sentence rule off still rejects it.
    """
    if config.max_page_length is not None and signals["c4_page_chars"] > config.max_page_length:
        return C4_PAGE_TOO_LONG, f"{signals['c4_page_chars']} chars > {config.max_page_length}"
    if signals["c4_has_lorem_ipsum"]:
        return C4_LOREM_IPSUM, "a kept line contains 'lorem ipsum'"
    if signals["c4_has_curly_bracket"]:
        return C4_CURLY_BRACKET, "a kept line contains '{'"
    if signals["c4_lines_kept"] == 0:
        return C4_NO_LINES_LEFT, f"all {signals['c4_lines_removed']} non-blank lines removed"
    if config.min_sentences is not None and signals["c4_sentence_count"] < config.min_sentences:
        return C4_TOO_FEW_SENTENCES, f"{signals['c4_sentence_count']} sentences < {config.min_sentences}"
    return None


def build(config: C4Config) -> Step:
    """The c4 step: clean the lines, then apply the page rules to what is left."""
    def step(doc: Document) -> StepResult:
        page, signals = c4_signals(doc.text, doc.language, config)
        # The cleaned text comes with a rejection too: in annotate mode the document goes on.
        return verdict_result(signals, decide(config, signals), text=page.text if page.text != doc.text else None)

    return step


# Line rules edit the text: `winnow select` cannot change them without re-running curation.
LINE_RULE_FIELDS = (
    "filter_no_terminal_punct", "min_words_per_line", "max_word_length", "drop_lorem_ipsum", "drop_curly_bracket",
    "drop_javascript_lines", "drop_policy_lines", "remove_citations", "end_marks", "count_words_after_citations",
    "skip_spaceless_scripts",
)

C4_STEP = StepSpec(
    name="c4",
    config_type=C4Config,
    build=build,
    signals=SIGNALS,
    reasons=REASONS,
    decide=decide,
    edits_text=True,
    recompute_fields=LINE_RULE_FIELDS,
    description="C4 line cleaning (edits the text) and page rules.",
)
