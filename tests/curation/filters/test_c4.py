"""c4: line cleaning (edits the text) and one document per page-rejection reason."""
from __future__ import annotations

import pytest

from winnow.curation.filters import c4

from .helpers import CLEAN_LINES, CLEAN_TEXT, run

PAPER = {"filter_no_terminal_punct": True, "min_words_per_line": 5, "min_sentences": 3, "max_page_length": 190_000}


def test_clean_text_is_kept_unchanged():
    result = run("c4", CLEAN_TEXT)
    assert result.kept
    assert result.text is None  # nothing edited
    assert result.signals["c4_lines_removed"] == 0
    assert result.signals["c4_sentence_count"] == 10


def test_line_rules_edit_the_text_and_count_what_they_removed():
    noisy = [
        CLEAN_LINES[0],
        "Please enable JavaScript to view the comments powered by Disqus.",
        CLEAN_LINES[1] + "[1]",
        "This site uses cookies to improve your experience.",
        "Share this",  # 2 words
        CLEAN_LINES[2] + "[edit]",
        "",
        *CLEAN_LINES[3:],
    ]
    text = "\n".join(noisy)
    result = run("c4", text)
    assert result.kept
    assert result.text == CLEAN_TEXT
    s = result.signals
    assert s["c4_lines_removed_javascript"] == 1
    assert s["c4_lines_removed_policy"] == 1
    assert s["c4_lines_removed_too_few_words"] == 1
    assert s["c4_citations_removed"] == 2
    assert s["c4_lines_removed"] == 3
    assert s["c4_chars_removed"] == len(text) - len(CLEAN_TEXT)


def test_terminal_punctuation_rule_is_off_in_fineweb_and_on_in_the_paper():
    lines = [*CLEAN_LINES, "Read the full story on our partner site", "And then they all went home..."]
    text = "\n".join(lines)
    fineweb = run("c4", text)
    assert fineweb.kept and fineweb.text is None
    paper = run("c4", text, **PAPER)
    assert paper.kept
    assert paper.text == CLEAN_TEXT
    assert paper.signals["c4_lines_removed_no_terminal_punct"] == 2


def test_min_words_per_line_differs_between_paper_and_fineweb():
    text = CLEAN_TEXT + "\nIt rained all day."  # 4 words
    assert run("c4", text).text is None
    assert run("c4", text, **PAPER).text == CLEAN_TEXT


def assert_trips_only(text: str, reason: str, field: str, disabled=None, **extra) -> dict:
    result = run("c4", text, **extra)
    assert result.reason == reason, (result.reason, result.detail)
    assert result.text is None
    relaxed = run("c4", text, **{**extra, field: disabled})
    assert relaxed.kept, (relaxed.reason, relaxed.detail)
    return dict(result.signals)


def test_no_lines_left():
    result = run("c4", "Home\nAbout us\nContact\n\n")
    assert result.reason == c4.C4_NO_LINES_LEFT
    assert result.signals["c4_lines_removed"] == 3
    assert result.signals["c4_lines_removed_too_few_words"] == 3


def test_too_few_sentences():
    text = "\n".join(CLEAN_LINES[:4])
    signals = assert_trips_only(text, c4.C4_TOO_FEW_SENTENCES, "min_sentences")
    assert signals["c4_sentence_count"] == 4
    # The paper's 3 sentences keep it.
    assert run("c4", text, **PAPER).kept


def test_lorem_ipsum():
    text = CLEAN_TEXT + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit."
    signals = assert_trips_only(text, c4.C4_LOREM_IPSUM, "drop_lorem_ipsum", disabled=False)
    assert signals["c4_has_lorem_ipsum"] is True


def test_curly_bracket():
    text = CLEAN_TEXT + "\nThe config looked like {debug: true} in the old days."
    signals = assert_trips_only(text, c4.C4_CURLY_BRACKET, "drop_curly_bracket", disabled=False)
    assert signals["c4_has_curly_bracket"] is True


def test_curly_bracket_on_a_removed_line_does_not_drop_the_page():
    assert run("c4", CLEAN_TEXT + "\n}").kept


def test_word_too_long_drops_its_line_not_the_page():
    text = CLEAN_TEXT + "\nThe token " + "a" * 1001 + " was pasted here."
    result = run("c4", text)
    assert result.kept
    assert result.text == CLEAN_TEXT
    assert result.signals["c4_lines_removed_too_long_word"] == 1
    assert run("c4", text, max_word_length=None).text is None  # rule off: nothing removed


def test_lorem_ipsum_and_curly_bracket_are_checked_before_javascript_and_policy_lines():
    """TFDS and DataTrove drop the page here; the policy or javascript line never gets removed first."""
    policy = CLEAN_TEXT + "\nRead our privacy policy {here} before you sign up."
    assert run("c4", policy).reason == c4.C4_CURLY_BRACKET
    lorem = CLEAN_TEXT + "\nLorem ipsum dolor sit amet, see the terms of use."
    assert run("c4", lorem).reason == c4.C4_LOREM_IPSUM
    # A javascript line goes before the `{` check: the line is dropped, the page kept.
    script = CLEAN_TEXT + "\nThis page needs javascript {enabled} to work."
    result = run("c4", script)
    assert result.kept and result.text == CLEAN_TEXT


def test_citations_are_case_sensitive():
    text = CLEAN_TEXT + "\nThe vote was close [Edit] and the count was checked[edit] twice[2]."
    result = run("c4", text)
    assert result.signals["c4_citations_removed"] == 2
    assert result.text.endswith("The vote was close [Edit] and the count was checked twice.")


def test_tfds_end_marks_and_word_count():
    """The c4 recipe's TFDS settings: "'" does not end a line, and words are counted without citations."""
    text = CLEAN_TEXT + "\nThey all called the place 'home'\nA b[1] [2] [3] [4]."
    datatrove = run("c4", text, **PAPER)
    tfds = run("c4", text, **PAPER, end_marks=c4.TFDS_END_MARKS, count_words_after_citations=True)
    assert "They all called the place 'home'" in datatrove.text and "\nA b " in datatrove.text
    assert tfds.text == CLEAN_TEXT
    assert tfds.signals["c4_lines_removed_no_terminal_punct"] == 1
    assert tfds.signals["c4_lines_removed_too_few_words"] == 1


def test_sentences_are_spacy_sentencizer_sentences():
    text = "\n".join([*CLEAN_LINES[:3], "Mr. Smith met Dr. Jones at 5 p.m. on Monday!", "It was great!!! Really? Yes."])
    # Sentencizer: a new sentence after ".", "!" or "?" tokens; abbreviations keep their stops.
    assert run("c4", text).signals["c4_sentence_count"] == 3 + 1 + 3


def test_page_too_long():
    copies = 190_000 // len(CLEAN_TEXT) + 1
    text = "\n".join([CLEAN_TEXT] * copies)
    assert len(text) > 190_000
    result = run("c4", text, **PAPER)
    assert result.reason == c4.C4_PAGE_TOO_LONG
    assert run("c4", text, **{**PAPER, "max_page_length": None}).kept
    assert run("c4", text).kept  # FineWeb has no page-length cap


@pytest.mark.parametrize("reason", c4.REASONS)
def test_every_reason_is_a_named_prefixed_constant(reason):
    assert reason.startswith("c4_")


def test_substrings_joined_by_citation_removal_still_match():
    # The page holds no "javascript", "lorem ipsum" or "privacy policy" until "[1]" / "[]" are removed
    # from a line: the content rules are checked per line after removal, not only once per page.
    lines = [
        "Please enable java[1]script to see the comments below.",
        "Read our privacy[] policy before you continue reading.",
        *CLEAN_LINES,
    ]
    result = run("c4", "\n".join(lines))
    assert result.signals["c4_lines_removed_javascript"] == 1
    assert result.signals["c4_lines_removed_policy"] == 1
    assert result.text == CLEAN_TEXT
    lorem = run("c4", "\n".join(["This is lorem[2] ipsum dolor sit amet, the filler text.", *CLEAN_LINES]))
    assert lorem.reason == c4.C4_LOREM_IPSUM


def test_sentences_counted_alike_with_irregular_whitespace_in_lines():
    # Tabs, no-break spaces and double spaces inside lines are tokens of their own for spaCy's
    # sentencizer (they can start a sentence): pages holding them count line by line in full.
    lines = [line.replace(" ", "  ", 1).replace(". ", ".\t", 1) for line in CLEAN_LINES]
    result = run("c4", "\n".join(lines))
    from winnow.curation.filters import reference_units as ru

    assert result.signals["c4_sentence_count"] == sum(ru.line_sentence_count(line) for line in lines)


@pytest.mark.parametrize("text", [
    # Dropped lines (too few words, no end mark, javascript, policy), special cases ("cannot",
    # "don't"), citations removed from kept and dropped lines, a line left empty by them.
    "We cannot say it, don't we? Here it is.\nShort line.\nThis line has no end mark at all\n"
    "Enable javascript to see the rest of it.\nRead our privacy policy before you go.\n"
    "A cited claim[1] stands here, as written.[23]\n[4]\nA line of “quotes,” (brackets) and U.S. marks.",
    "The first line is long enough to stay.\n\n\t  Another line that stays as it is.  \nno\n",
])
def test_edited_text_word_count_is_the_word_count_of_the_edited_text(text):
    """c4 hands fineweb the edited text's word count (the page's minus the dropped lines'):
    it equals the count made from the edited text itself."""
    from winnow.curation.filters import reference_units as ru

    ru.set_token_cache(None)
    page = c4.clean_lines(text, c4.C4Config())
    assert page.text != text
    remembered = ru._KNOWN_WORD_COUNTS[page.text]
    ru.set_token_cache(None)
    assert remembered == ru.text_words(page.text).word_count == ru.word_count(page.text)
