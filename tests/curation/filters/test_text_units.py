"""Script detection, n-gram hashing helpers, and CJK text versus English word rules."""
from __future__ import annotations

import pytest

from winnow.curation.filters import text_units as tu

from .helpers import run

CHINESE = "\n".join(
    [
        "今天早上天气很好，我们一起去城市北边的公园散步，看到很多老人在湖边打太极拳和下象棋。",
        "公园里的樱花已经开了，游客们纷纷拿出手机拍照，孩子们在草地上追着风筝跑来跑去。",
        "中午我们在附近的一家小饭馆吃了面条和饺子，老板说这家店已经开了三十多年了。",
        "下午我们参观了历史博物馆，里面展出了很多古代的瓷器、书画和青铜器，让人大开眼界。",
        "傍晚时分，夕阳把整个湖面染成了金色，我们坐在长椅上聊天，直到路灯一盏盏亮起来。",
        "回家的路上，地铁里挤满了下班的人，但大家都很安静，有的看书，有的闭目养神。",
    ]
)


def test_word_ids_equal_exactly_for_equal_words():
    ids = tu.word_ids(("to", "be", "or", "not", "to", "be"))
    assert ids.dtype.name == "uint64"
    assert ids[0] == ids[4] and ids[1] == ids[5]
    assert len({int(x) for x in ids[:4]}) == 4


@pytest.mark.parametrize(
    "text, language, expected",
    [
        (CHINESE, "zh", True),
        (CHINESE, "", True),  # by script
        ("ภาษาไทยไม่มีช่องว่างระหว่างคำ", "", True),
        ("English text", "ja", True),  # the label wins
        ("English text with one 字", "", False),
        ("Ünïcödé but spaced", "", False),
    ],
)
def test_is_spaceless(text, language, expected):
    assert tu.is_spaceless(text, language) is expected


def test_normalise_language():
    assert [tu.normalise_language(x) for x in ("en-US", "zh_Hans", "__label__ja", " EN ", "")] == [
        "en", "zh", "ja", "en", "",
    ]


@pytest.mark.parametrize("language", ["zh", ""])
def test_chinese_is_not_rejected_by_english_word_rules_with_skip_spaceless_scripts(language):
    skip = {"skip_spaceless_scripts": True}
    quality = run("gopher_quality", CHINESE, language=language, **skip)
    assert quality.kept, quality.reason
    assert quality.signals["gopher_quality_word_rules_skipped"] is True
    repetition = run("gopher_repetition", CHINESE, language=language, **skip)
    assert repetition.kept, repetition.reason
    assert repetition.signals["gopher_repetition_ngram_rules_skipped"] is True
    c4 = run("c4", CHINESE, language=language, **skip)
    assert c4.kept, c4.reason
    assert c4.signals["c4_word_rules_skipped"] is True
    fineweb = run("fineweb", CHINESE, language=language, **skip)
    assert fineweb.kept, fineweb.reason
    assert fineweb.signals["fineweb_word_rules_skipped"] is True


def test_chinese_meets_the_english_word_rules_by_default():
    """The reference (DataTrove) applies its English rules to every script: so does the default."""
    quality = run("gopher_quality", CHINESE, language="zh")
    assert quality.reason == "gopher_below_min_words"
    assert quality.signals["gopher_quality_word_rules_skipped"] is True  # recorded, not acted on
    c4 = run("c4", CHINESE, language="zh")
    assert c4.signals["c4_word_rules_skipped"] is False  # a line rule: only set when the option is on


def test_chinese_line_rules_still_apply():
    repeated = "\n".join([CHINESE.split("\n")[0]] * 5)
    assert run("gopher_repetition", repeated, language="zh").reason == "gopher_too_many_duplicate_lines"


def test_duplicate_stats_counts_repeats_after_the_first():
    assert tu.duplicate_stats(["a", "bb", "a", "bb", "a", "c"]) == (3, 4)
