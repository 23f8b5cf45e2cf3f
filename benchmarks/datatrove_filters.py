"""DataTrove 0.10.1's FineWeb filters on given texts: run under the reference venv, JSON in, JSON out.

Not importable from Winnow's venv (it imports datatrove); benchmarks/filter_parity.py
and tests/parity run it as a subprocess:

    .bench/reference-venv/bin/python benchmarks/datatrove_filters.py < docs.json > results.json

Input: {"docs": [{"id": ..., "text": ...}, ...]}. Output: {"versions": {...},
"results": [{"id", "gopher_repetition", "gopher_quality", "c4", "fineweb", "chain"}]}
where each filter entry has `keep`, `reason` and `signals`: the numbers each
DataTrove filter compares with its thresholds, recomputed here with DataTrove's
own functions (its filters do not return them). The filters run with their
defaults, except C4QualityFilter(filter_no_terminal_punct=False), as FineWeb ran
it. `chain` runs the four in FineWeb's order, passing C4's edited text on.
"""
from __future__ import annotations

import importlib.metadata
import json
import sys
from typing import Any

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.filters.gopher_repetition_filter import (
    find_all_duplicate,
    find_duplicates,
    find_top_duplicate,
    get_n_grams,
)
from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS
from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION, split_into_sentences, split_into_words

FILTERS = {
    "gopher_repetition": GopherRepetitionFilter(),
    "gopher_quality": GopherQualityFilter(),
    "c4": C4QualityFilter(filter_no_terminal_punct=False),
    "fineweb": FineWebQualityFilter(),
}


def _decide(name: str, text: str) -> tuple[bool, str | None, str]:
    """(keep, reason, text after the filter) of one DataTrove filter."""
    doc = Document(text=text, id="0")
    result = FILTERS[name].filter(doc)
    if isinstance(result, tuple):
        return bool(result[0]), result[1], doc.text
    return bool(result), None, doc.text


def repetition_signals(text: str) -> dict[str, Any]:
    import re

    chars = len(text)
    per = max(chars, 1)
    paragraphs = re.compile(r"\n{2,}").split(text.strip())
    para_dups, para_chars = find_duplicates(paragraphs)
    lines = re.compile("\n+").split(text)
    line_dups, line_chars = find_duplicates(lines)
    words = split_into_words(text) if text else []
    out: dict[str, Any] = {
        "gopher_repetition_text_chars": chars,
        "gopher_repetition_dup_para_frac": para_dups / len(paragraphs),
        "gopher_repetition_dup_para_char_frac": para_chars / per,
        "gopher_repetition_dup_line_frac": line_dups / len(lines),
        "gopher_repetition_dup_line_char_frac": line_chars / per,
    }
    for n in (2, 3, 4):
        grams = get_n_grams(words, n)
        out[f"gopher_repetition_top_{n}gram_char_frac"] = (find_top_duplicate(grams) if grams else 0) / per
    for n in range(5, 11):
        out[f"gopher_repetition_dup_{n}gram_char_frac"] = find_all_duplicate(words, n) / per
    return out


def quality_signals(text: str) -> dict[str, Any]:
    words = split_into_words(text)
    n = len(words)
    per = max(n, 1)
    non_symbol = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
    lines = text.splitlines()
    per_line = max(len(lines), 1)
    return {
        "gopher_quality_word_count": len(non_symbol),
        "gopher_quality_token_count": n,
        "gopher_quality_mean_word_length": float(np.mean([len(w) for w in non_symbol])) if non_symbol else None,
        "gopher_quality_hash_word_ratio": text.count("#") / per,
        "gopher_quality_ellipsis_word_ratio": (text.count("...") + text.count("\u2026")) / per,
        "gopher_quality_bullet_line_ratio": sum(
            s.lstrip().startswith("\u2022") or s.lstrip().startswith("-") for s in lines
        ) / per_line,
        "gopher_quality_ellipsis_line_ratio": sum(
            s.rstrip().endswith("...") or s.rstrip().endswith("\u2026") for s in lines
        ) / per_line,
        "gopher_quality_alpha_word_ratio": sum(any(c.isalpha() for c in w) for w in words) / per,
        "gopher_quality_stop_word_count": len(set(STOP_WORDS).intersection(set(words))),
    }


def fineweb_signals(text: str) -> dict[str, Any]:
    lines = [line for line in text.split("\n") if line.strip() != ""]
    if not lines:
        return {"fineweb_line_count": 0}
    stop_chars = tuple(TERMINAL_PUNCTUATION)
    words = split_into_words(text)
    return {
        "fineweb_line_count": len(lines),
        "fineweb_line_punct_ratio": sum(1 for line in lines if line.endswith(stop_chars)) / len(lines),
        "fineweb_short_line_ratio": sum(1 for line in lines if len(line) <= 30) / len(lines),
        "fineweb_dup_line_char_ratio": find_duplicates(lines)[1] / len(text.replace("\n", "")),
        "fineweb_newline_word_ratio": text.count("\n") / max(len(words), 1),
    }


def c4_signals(kept_text: str | None) -> dict[str, Any]:
    """Sentence count of the cleaned text, as the filter summed it (only known for kept pages)."""
    if kept_text is None:
        return {}
    lines = [line for line in kept_text.split("\n")]
    return {"c4_sentence_count": sum(len(split_into_sentences(line)) for line in lines if line)}


SIGNALS = {"gopher_repetition": repetition_signals, "gopher_quality": quality_signals, "fineweb": fineweb_signals}


def judge(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in FILTERS:
        keep, reason, after = _decide(name, text)
        entry: dict[str, Any] = {"keep": keep, "reason": reason}
        if name == "c4":
            entry["text"] = after if keep else None
            entry["signals"] = c4_signals(after if keep else None)
        else:
            entry["signals"] = SIGNALS[name](text)
        out[name] = entry
    current = text
    chain: dict[str, Any] = {"keep": True, "stage": None, "reason": None, "text": None}
    for name in FILTERS:
        keep, reason, after = _decide(name, current)
        if not keep:
            chain = {"keep": False, "stage": name, "reason": reason, "text": None}
            break
        current = after
    else:
        chain["text"] = current
    out["chain"] = chain
    return out


def main() -> None:
    request = json.load(sys.stdin)
    results = [{"id": doc["id"], **judge(doc["text"])} for doc in request["docs"]]
    versions = {name: importlib.metadata.version(name) for name in ("datatrove", "spacy")}
    json.dump({"versions": versions, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
