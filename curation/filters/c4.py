"""C4's line cleaning and page rules (Raffel et al. 2020, TFDS c4_utils), as step `c4`.

This step EDITS the text: it drops lines that fail the line rules, removes
citation markers, and returns the cleaned text with the number of lines and
characters it removed. Page rules then judge the cleaned page, as the reference
implementation does: "lorem ipsum" and `{` only count on lines that survived
the line rules.

Defaults follow FineWeb's run of this filter (no terminal-punctuation rule,
3 words per line, 5 sentences per page, no page-length cap); the `c4` recipe
sets the paper's numbers. The paper's bad-words page rule is the separate step `c4_badwords`.
Text in scripts without spaces skips the two word rules (words per line, word
length), recorded in `c4_word_rules_skipped`. The cleaned text is returned only
for kept documents; a rejected one keeps its input text.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from winnow.curation.filters import text_units as tu
from winnow.curation.types import Document, Step, StepResult, StepSpec, Verdict, verdict_result

C4_NO_LINES_LEFT = "c4_no_lines_left"
C4_TOO_FEW_SENTENCES = "c4_too_few_sentences"
C4_LOREM_IPSUM = "c4_lorem_ipsum"
C4_CURLY_BRACKET = "c4_curly_bracket"
C4_WORD_TOO_LONG = "c4_word_too_long"
C4_PAGE_TOO_LONG = "c4_page_too_long"

REASONS = (C4_NO_LINES_LEFT, C4_TOO_FEW_SENTENCES, C4_LOREM_IPSUM, C4_CURLY_BRACKET, C4_WORD_TOO_LONG, C4_PAGE_TOO_LONG)

SIGNALS: tuple[tuple[str, str], ...] = (
    ("c4_page_chars", "int"),  # characters of the page before line cleaning
    ("c4_lines_kept", "int"),  # non-blank lines left after line cleaning
    ("c4_lines_removed", "int"),  # non-blank lines dropped, >= 0
    ("c4_chars_removed", "int"),  # len(input) - len(output), >= 0
    ("c4_lines_removed_no_terminal_punct", "int"),
    ("c4_lines_removed_too_few_words", "int"),
    ("c4_lines_removed_javascript", "int"),
    ("c4_lines_removed_policy", "int"),
    ("c4_citations_removed", "int"),
    ("c4_sentence_count", "int"),  # sentences in the cleaned text
    ("c4_max_word_length", "int"),  # longest whitespace token of the cleaned text
    ("c4_has_lorem_ipsum", "bool"),
    ("c4_has_curly_bracket", "bool"),
    ("c4_word_rules_skipped", "bool"),  # spaceless script: words-per-line and word-length rules off
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
# Wikipedia-style citation markers: [1], [23], [edit], [citation needed].
_CITATION_RE = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]", re.IGNORECASE)
# TFDS's terminal marks; a line ending in an ellipsis is not terminated.
C4_END_MARKS = (".", "?", "!", '"')


@dataclass(frozen=True)
class C4Config:
    """C4 line and page rules; numeric thresholds set to None disable their rule."""

    filter_no_terminal_punct: bool = False
    min_words_per_line: int | None = 3
    min_sentences: int | None = 5
    max_word_length: int | None = 1000
    max_page_length: int | None = None
    drop_lorem_ipsum: bool = True
    drop_curly_bracket: bool = True
    drop_javascript_lines: bool = True
    drop_policy_lines: bool = True
    remove_citations: bool = True


@dataclass(frozen=True)
class CleanedPage:
    """The output of line cleaning and what it counted."""

    text: str
    lines_kept: int
    removed_no_terminal_punct: int
    removed_too_few_words: int
    removed_javascript: int
    removed_policy: int
    citations_removed: int

    @property
    def lines_removed(self) -> int:
        return (
            self.removed_no_terminal_punct + self.removed_too_few_words + self.removed_javascript + self.removed_policy
        )


def clean_lines(text: str, config: C4Config, skip_word_rules: bool = False) -> CleanedPage:
    """Apply the line rules; blank lines are dropped without being counted as removed.

    `skip_word_rules` turns off the words-per-line rule, for scripts without spaces.
    """
    kept: list[str] = []
    no_punct = few_words = javascript = policy = citations = 0
    min_words = None if skip_word_rules else config.min_words_per_line
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if config.remove_citations and "[" in line:
            line, n = _CITATION_RE.subn("", line)
            citations += n
            line = line.strip()
        if config.filter_no_terminal_punct and (not line.endswith(C4_END_MARKS) or line.endswith("...")):
            no_punct += 1
            continue
        if min_words is not None and len(line.split()) < min_words:
            few_words += 1
            continue
        lower = line.lower()
        if config.drop_javascript_lines and "javascript" in lower:
            javascript += 1
            continue
        if config.drop_policy_lines and any(p in lower for p in POLICY_SUBSTRINGS):
            policy += 1
            continue
        kept.append(line)
    return CleanedPage("\n".join(kept), len(kept), no_punct, few_words, javascript, policy, citations)


def c4_signals(text: str, language: str, config: C4Config) -> tuple[CleanedPage, dict[str, int | bool]]:
    """The cleaned page and every c4 signal."""
    skip_word_rules = tu.is_spaceless(text, language)
    page = clean_lines(text, config, skip_word_rules)
    cleaned = page.text
    signals: dict[str, int | bool] = {
        "c4_page_chars": len(text),
        "c4_lines_kept": page.lines_kept,
        "c4_lines_removed": page.lines_removed,
        "c4_chars_removed": max(0, len(text) - len(cleaned)),
        "c4_lines_removed_no_terminal_punct": page.removed_no_terminal_punct,
        "c4_lines_removed_too_few_words": page.removed_too_few_words,
        "c4_lines_removed_javascript": page.removed_javascript,
        "c4_lines_removed_policy": page.removed_policy,
        "c4_citations_removed": page.citations_removed,
        "c4_sentence_count": tu.sentence_count_of_lines(cleaned) if cleaned else 0,
        "c4_max_word_length": max(map(len, cleaned.split()), default=0),
        "c4_has_lorem_ipsum": "lorem ipsum" in cleaned.lower(),
        "c4_has_curly_bracket": "{" in cleaned,
        "c4_word_rules_skipped": skip_word_rules,
    }
    return page, signals


def decide(config: C4Config, signals: Mapping[str, Any]) -> Verdict | None:
    """C4's page rules, on the signals of the cleaned page."""
    if config.max_page_length is not None and signals["c4_page_chars"] > config.max_page_length:
        return C4_PAGE_TOO_LONG, f"{signals['c4_page_chars']} chars > {config.max_page_length}"
    if signals["c4_lines_kept"] == 0:
        return C4_NO_LINES_LEFT, f"all {signals['c4_lines_removed']} non-blank lines removed"
    if config.drop_lorem_ipsum and signals["c4_has_lorem_ipsum"]:
        return C4_LOREM_IPSUM, "page contains 'lorem ipsum'"
    if config.drop_curly_bracket and signals["c4_has_curly_bracket"]:
        return C4_CURLY_BRACKET, "page contains '{'"
    too_long = config.max_word_length is not None and signals["c4_max_word_length"] > config.max_word_length
    if too_long and not signals["c4_word_rules_skipped"]:
        return C4_WORD_TOO_LONG, f"word of {signals['c4_max_word_length']} chars > {config.max_word_length}"
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
    "filter_no_terminal_punct", "min_words_per_line", "drop_javascript_lines", "drop_policy_lines", "remove_citations",
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
