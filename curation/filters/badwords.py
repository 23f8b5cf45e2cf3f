"""C4's bad-words page rule (Raffel et al. 2020) over the LDNOOBW lists, as step `c4_badwords`.

A page is rejected when it contains a word of its language's list as a whole
token: lowercased text, the listed word (or phrase) bounded by non-word
characters or the ends of the text. Languages written without spaces (zh, ja,
th, ...) match by substring, since they have no token boundaries to check.

Word lists are data, not code: no maintained PyPI package ships the LDNOOBW
lists (the ones that exist download them at run time), so the step reads them
from `words_dir` (`<lang>.txt`, one word per line, or `<lang>.json`, a JSON
array: the layout of the `naughty-words` npm package, which packages the
LDNOOBW lists; docs/sources.md shows how to fetch it once) and/or
`words_file` (one list for every language without its own file). The lists
are read once per pipeline (`prepare`) and shipped to workers as a side
input. Pages in a language with no list are kept, with
`c4_badwords_checked` false.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from winnow.curation.filters import text_units as tu
from winnow.curation.types import Document, OpenBinary, Step, StepResult, StepSpec, Verdict

C4_BADWORDS = "c4_badwords"
REASONS = (C4_BADWORDS,)

_LIST_EXTENSIONS = (".json", ".txt")
# "en", "fil", "fr-CA-u-sd-caqc", "zh_Hant": a 2-3 letter code, optionally with subtags.
_LANGUAGE_CODE_RE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]+)*")

SIGNALS: tuple[tuple[str, str], ...] = (
    ("c4_badwords_count", "int"),  # occurrences of listed words (single-token entries + phrases)
    ("c4_badwords_checked", "bool"),  # a list existed for the page's language
)


@dataclass(frozen=True)
class BadWordsConfig:
    """Where the lists are; `languages` limits which lists load (empty: every file in words_dir)."""

    words_dir: str | None = None  # directory of per-language word lists (<language>.txt)
    words_file: str | None = None  # one word list used for every language
    languages: tuple[str, ...] = ()
    default_language: str = "en"  # for pages without a language label
    min_matches: int = 1  # matched words needed to reject a page

    def __post_init__(self) -> None:
        if not self.words_dir and not self.words_file:
            raise ValueError(
                "c4_badwords needs 'words_dir' (one <lang>.txt or <lang>.json list per language) or 'words_file'; "
                "no list ships with Winnow (see docs/sources.md for fetching the LDNOOBW lists)"
            )
        if self.min_matches < 1:
            raise ValueError(f"min_matches must be at least 1, got {self.min_matches}")


@dataclass(frozen=True)
class BadWordLists:
    """Per-language lists (lowercased, deduplicated) and the fallback list; picklable."""

    by_language: Mapping[str, tuple[str, ...]]
    fallback: tuple[str, ...] = ()


def parse_list(data: bytes, path: str) -> tuple[str, ...]:
    """One list: a JSON array of strings, or one word per line (blank lines and #comments skipped)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: word list is not UTF-8: {exc}") from None
    if path.lower().endswith(".json"):
        try:
            words = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc.msg}") from None
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError(f"{path}: expected a JSON array of strings")
    else:
        words = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    cleaned = tuple(sorted({w.strip().lower() for w in words if w.strip()}))
    if not cleaned:
        raise ValueError(f"{path}: the word list is empty")
    return cleaned


def prepare(config: BadWordsConfig, open_binary: OpenBinary) -> BadWordLists:
    """Read the lists once; a missing directory or a directory without lists is an error naming it."""
    by_language: dict[str, tuple[str, ...]] = {}
    if config.words_dir:
        by_language = _read_dir(config.words_dir, config.languages, open_binary)
    fallback: tuple[str, ...] = ()
    if config.words_file:
        try:
            with open_binary(config.words_file) as f:
                fallback = parse_list(f.read(), config.words_file)
        except OSError as exc:
            raise ValueError(f"{config.words_file}: cannot read word list: {exc}") from exc
    return BadWordLists(by_language, fallback)


def _read_dir(words_dir: str, languages: tuple[str, ...], open_binary: OpenBinary) -> dict[str, tuple[str, ...]]:
    """Lists of `words_dir`: the named languages (any filesystem), or every list in a local directory."""
    if not languages:
        if "://" in words_dir:
            raise ValueError(f"{words_dir}: set 'languages' to read word lists from a remote directory (it is not listed)")
        if not os.path.isdir(words_dir):
            raise ValueError(f"{words_dir}: word-list directory not found")
        stems = {n.rpartition(".")[0] for n in os.listdir(words_dir) if n.lower().endswith(_LIST_EXTENSIONS)}
        # Only language-code names: the npm package also holds package.json, bower.json ...
        languages = tuple(sorted(stem for stem in stems if _LANGUAGE_CODE_RE.fullmatch(stem)))
        if not languages:
            raise ValueError(f"{words_dir}: no word lists (<lang>.txt or <lang>.json) in the directory")
    out = {}
    for lang in languages:
        out[lang] = _read_language(words_dir.rstrip("/"), lang, open_binary)
    return out


def _read_language(words_dir: str, lang: str, open_binary: OpenBinary) -> tuple[str, ...]:
    tried = []
    for ext in _LIST_EXTENSIONS:
        path = f"{words_dir}/{lang}{ext}"
        try:
            stream = open_binary(path)
        except (OSError, ValueError):  # Beam raises IOError subclasses, local open FileNotFoundError
            tried.append(path)
            continue
        with stream:
            return parse_list(stream.read(), path)
    raise ValueError(f"no word list for language {lang!r}: looked for {' and '.join(tried)}")


_TOKEN_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class _Matcher:
    """Single-token entries by set lookup (fast); phrases and entries with symbols by one regex."""

    tokens: frozenset[str]
    phrases: re.Pattern[str] | None
    substring: re.Pattern[str] | None  # spaceless scripts: everything by substring

    def count(self, lowered: str) -> int:
        if self.substring is not None:
            return len(self.substring.findall(lowered))
        hits = sum(1 for t in _TOKEN_RE.findall(lowered) if t in self.tokens) if self.tokens else 0
        return hits + (len(self.phrases.findall(lowered)) if self.phrases is not None else 0)


def _alternation(words: list[str]) -> str:
    # Longest first so a phrase wins over a shorter entry it starts with.
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _matcher(words: tuple[str, ...], spaceless: bool) -> _Matcher:
    if spaceless:
        return _Matcher(frozenset(), None, re.compile(f"(?:{_alternation(list(words))})"))
    tokens = frozenset(w for w in words if _TOKEN_RE.fullmatch(w))
    others = [w for w in words if w not in tokens]
    # A whole token: not preceded or followed by a word character, as C4's regex requires.
    phrases = re.compile(f"(?<!\\w)(?:{_alternation(others)})(?!\\w)") if others else None
    return _Matcher(tokens, phrases, None)


def decide(config: BadWordsConfig, row: Mapping[str, Any]) -> Verdict | None:
    count = int(row.get("c4_badwords_count") or 0)
    if count >= config.min_matches:
        return C4_BADWORDS, f"{count} listed bad word(s) for language {row.get('language') or config.default_language!r}"
    return None


def build(config: BadWordsConfig, lists: BadWordLists) -> Step:
    """The per-document step; regexes are compiled lazily, once per language and script kind."""
    compiled: dict[tuple[str, bool], _Matcher | None] = {}

    def matcher_for(language: str, spaceless: bool) -> _Matcher | None:
        key = (language, spaceless)
        if key not in compiled:
            words = lists.by_language.get(language) or lists.fallback
            compiled[key] = _matcher(words, spaceless) if words else None
        return compiled[key]

    def step(doc: Document) -> StepResult:
        language = tu.normalise_language(doc.language) or config.default_language
        matcher = matcher_for(language, tu.is_spaceless(doc.text, language))
        count = matcher.count(doc.text.lower()) if matcher is not None else 0
        signals = {"c4_badwords_count": count, "c4_badwords_checked": matcher is not None}
        verdict = decide(config, {**signals, "language": language})
        if verdict is not None:
            return StepResult(signals, reason=verdict[0], detail=verdict[1])
        return StepResult(signals)

    return step


C4_BADWORDS_STEP = StepSpec(
    name="c4_badwords",
    config_type=BadWordsConfig,
    build=build,
    signals=SIGNALS,
    reasons=REASONS,
    description="C4 bad-words page rule: reject pages containing a word of the language's LDNOOBW list.",
    decide=decide,
    recompute_fields=("words_dir", "words_file", "languages", "default_language"),
    prepare=prepare,
)
