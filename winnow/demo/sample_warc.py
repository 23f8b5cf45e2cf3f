"""A deterministic sample WARC that Winnow makes itself, with a label per record.

`write_sample_warc(path, SampleSpec(pages=240, seed=0))` writes a gzip WARC/1.1
(one gzip member per record) and `<path without .warc.gz>.labels.jsonl`, one
JSON line per record in file order saying what the `extract` recipe and the
English `fineweb` quality recipe should do with it. The pages are generated
from the project's own text bank (`sample_text.yaml`, beside this file) by filling
sentence templates with topic vocabulary and shuffling them into paragraphs,
so a first run needs no downloaded data.

Determinism: all choices come from one `random.Random(seed)`; dates and
record ids are derived from the seed and the record index; gzip members carry
no timestamp and a fixed OS byte. The same spec gives the same bytes on every
machine with the same Python and zlib.

The file mixes, on top of `pages` English articles: pages in six other
languages (some in legacy charsets), thin pages, spam pages, exact and near
duplicates, non-response records, non-HTML and redirect/404 responses, an
empty and an undecodable HTML body, and a truncated last record.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import random
import re
import struct
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

# Reasons and stages are the curation code's own constants, so that a renamed
# reason breaks the sample's labels (and its tests) instead of drifting apart.
from winnow.curation.extract import NO_MAIN_TEXT
from winnow.curation.triage import (
    BINARY_CONTENT,
    EMPTY_PAYLOAD,
    HTTP_STATUS,
    NOT_HTML,
    NOT_RESPONSE,
    STAGE_TRIAGE,
)

# A record the reader cannot parse becomes a ReadFailure; no curation module
# names this stage yet.
from winnow.curation.stages import STAGE_EXTRACT, STAGE_READ

OUTCOME_KEPT = "kept"
OUTCOME_REJECTED = "rejected"
OUTCOME_ERROR = "error"

QUALITY_KEEP = "keep"
QUALITY_REJECT = "reject"

# --- Categories (the `category` field of a label).

CATEGORY_ARTICLE = "article"
CATEGORY_FOREIGN = "foreign_language"
CATEGORY_THIN = "thin"
CATEGORY_SPAM = "spam"
CATEGORY_EXACT_DUPLICATE = "exact_duplicate"
CATEGORY_NEAR_DUPLICATE = "near_duplicate"
CATEGORY_WARCINFO = "warcinfo"
CATEGORY_REQUEST = "request"
CATEGORY_METADATA = "metadata"
CATEGORY_IMAGE = "image"
CATEGORY_PDF = "pdf"
CATEGORY_REDIRECT = "redirect"
CATEGORY_NOT_FOUND = "not_found"
CATEGORY_EMPTY = "empty_payload"
CATEGORY_BINARY = "binary_html"
CATEGORY_TRUNCATED = "truncated"

SPAM_KEYWORD_STUFFING = "keyword_stuffing"
SPAM_REPEATED_LINES = "repeated_lines"
SPAM_LINK_FARM = "link_farm"
SPAM_LOREM_IPSUM = "lorem_ipsum"
SPAM_SCRIPT = "script_braces"
SPAM_KINDS = (SPAM_KEYWORD_STUFFING, SPAM_REPEATED_LINES, SPAM_LINK_FARM, SPAM_LOREM_IPSUM, SPAM_SCRIPT)

# What trafilatura (favor_precision, no comments) makes of each spam kind and of
# thin pages; found by running it, and checked by tests/curation/test_sample_warc.py.
# The link farm has no prose block at all, so nothing is extracted.
SPAM_EXTRACTS_NOTHING = frozenset({SPAM_LINK_FARM})
THIN_EXTRACTS_NOTHING = False

FOREIGN_LANGUAGES = ("de", "fr", "es", "ru", "zh", "ja")

LABELS_SUFFIX = ".labels.jsonl"
_RESOURCE = "sample_text.yaml"
# A fixed epoch so no wall-clock time enters the file; the seed shifts it by days.
_EPOCH = datetime(2024, 3, 1, 8, 0, 0, tzinfo=timezone.utc)
_SECONDS_BETWEEN_RECORDS = 7
# Article size: 7-9 paragraphs of 4-6 sentences, about 550-950 words a page,
# so the default 240 pages hold well over 150k words.
_PARAGRAPHS = (7, 9)
_SENTENCES_PER_PARAGRAPH = (4, 6)
_PREFIX_PROBABILITY = 0.3
_SUFFIX_PROBABILITY = 0.25
_REQUEST_PROBABILITY = 0.1
_SLOT = re.compile(r"\{(\w+)\}")
_NON_WORD = re.compile(r"[^\w\s]")
# Near duplicates stay at least this similar to their original (word 5-grams):
# FineWeb's 14x8 MinHash bands catch such pairs with probability >= 0.92.
NEAR_DUPLICATE_MIN_JACCARD = 0.8


@dataclass(frozen=True)
class SampleSpec:
    """How big the sample is and which one: the same spec gives the same bytes."""

    pages: int = 240  # English article pages; the other cases are added on top
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.pages, int) or isinstance(self.pages, bool) or self.pages < 1:
            raise ValueError(f"SampleSpec.pages must be a positive integer, got {self.pages!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"SampleSpec.seed must be a non-negative integer, got {self.seed!r}")

    @property
    def exact_duplicates(self) -> int:
        return max(2, self.pages // 20)

    @property
    def near_duplicates(self) -> int:
        return max(2, self.pages // 20)

    @property
    def pages_per_language(self) -> int:
        # Capped: each language's text bank is split between its pages, so more
        # pages would make them near duplicates of each other.
        return min(3, max(1, self.pages // 80))

    @property
    def thin_pages(self) -> int:
        return max(2, self.pages // 40)

    @property
    def spam_pages(self) -> int:
        return max(len(SPAM_KINDS), self.pages // 24)


@dataclass(frozen=True)
class Article:
    """A generated page's text: sentences grouped into paragraphs."""

    title: str
    paragraphs: tuple[tuple[str, ...], ...]

    @property
    def text(self) -> str:
        """Paragraphs separated by blank lines, as an extractor would return them."""
        return "\n\n".join(" ".join(p) for p in self.paragraphs)


@dataclass(frozen=True)
class SampleRecord:
    """One WARC record before compression, with its label and (for pages) its text."""

    label: Mapping[str, Any]
    record: bytes  # the uncompressed WARC record, headers and block
    html: str | None = None  # the HTML as written (pages only)
    article: Article | None = None  # the generated text (pages only)
    charset: str | None = None
    truncate: bool = False  # cut this record's gzip member in half when writing


@dataclass(frozen=True)
class _Bank:
    first_names: tuple[tuple[str, str], ...]  # (name, "f" | "m")
    last_names: tuple[str, ...]
    places: tuple[str, ...]
    months: tuple[str, ...]
    seasons: tuple[str, ...]
    weekdays: tuple[str, ...]
    numbers: tuple[str, ...]
    title_templates: tuple[str, ...]
    templates: tuple[str, ...]
    closing_templates: tuple[str, ...]
    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]
    topics: Mapping[str, Mapping[str, Any]]
    boilerplate: Mapping[str, Any]
    foreign: Mapping[str, Mapping[str, Any]]
    foreign_charsets: Mapping[str, str]
    thin_lines: tuple[str, ...]
    spam: Mapping[str, Any]


def _lines(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, str):
        raise ValueError(f"{_RESOURCE}: {where} must be a block of lines, got {type(value).__name__}")
    out = tuple(line.strip() for line in value.splitlines() if line.strip())
    if not out:
        raise ValueError(f"{_RESOURCE}: {where} is empty")
    return out


def _split_topic(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    topic: dict[str, Any] = {}
    for key in ("name", "site", "host"):
        if not isinstance(raw.get(key), str):
            raise ValueError(f"{_RESOURCE}: topics.{name}.{key} must be a string")
        topic[key] = raw[key]
    for key in ("things", "items", "adjs", "actions", "roles", "facts"):
        topic[key] = _lines(raw.get(key), f"topics.{name}.{key}")
    return topic


@lru_cache(maxsize=1)
def _bank() -> _Bank:
    """The text bank, parsed once per process (never at import time)."""
    text = resources.files("winnow.demo").joinpath(_RESOURCE).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load(text, Loader=loader)
    simple = (
        "last_names places months seasons weekdays numbers title_templates templates "
        "closing_templates prefixes suffixes thin_lines"
    ).split()
    foreign = {}
    for lang, entry in raw["foreign"].items():
        foreign[lang] = {"title": entry["title"], "paragraphs": _lines(entry["paragraphs"], f"foreign.{lang}")}
    spam = {k: (_lines(v, f"spam.{k}") if "\n" in v else v) for k, v in raw["spam"].items()}
    first_names = []
    for entry in _lines(raw.get("first_names"), "first_names"):
        name, _, gender = entry.partition(" ")
        if gender not in ("f", "m"):
            raise ValueError(f"{_RESOURCE}: first_names entry {entry!r} must be a name followed by f or m")
        first_names.append((name, gender))
    return _Bank(
        first_names=tuple(first_names),
        **{key: _lines(raw.get(key), key) for key in simple},
        topics={name: _split_topic(name, t) for name, t in raw["topics"].items()},
        boilerplate={k: (_lines(v, f"boilerplate.{k}") if "\n" in v else v) for k, v in raw["boilerplate"].items()},
        foreign=foreign,
        foreign_charsets=dict(raw["foreign_charsets"]),
        spam=spam,
    )


# --------------------------------------------------------------------------- text


def _person(rng: random.Random, bank: _Bank) -> tuple[str, str]:
    """(full name, "f" | "m")."""
    first, gender = rng.choice(bank.first_names)
    return f"{first} {rng.choice(bank.last_names)}", gender


def _fill(template: str, topic: Mapping[str, Any], rng: random.Random, bank: _Bank) -> str:
    """Replace each {slot}; two slots of one kind in a sentence get different values."""
    used: dict[str, set[str]] = {}
    gender = ["f"]  # of the last person named; {she}/{her} agree with it

    def pick(options: Sequence[str], kind: str) -> str:
        seen = used.setdefault(kind, set())
        choices = [o for o in options if o not in seen] or list(options)
        value = rng.choice(choices)
        seen.add(value)
        return value

    def value_for(match: re.Match[str]) -> str:
        slot = match.group(1)
        base = slot.rstrip("2").lower()
        if base == "topic":
            value = topic["name"]
        elif base in ("things", "item", "adj", "action"):
            value = pick(topic[{"things": "things", "item": "items", "adj": "adjs", "action": "actions"}[base]], base)
        elif base == "role":
            value = pick(topic["roles"], base)
        elif base == "person":
            value, gender[0] = _person(rng, bank)
        elif base == "she":
            value = "she" if gender[0] == "f" else "he"
        elif base == "her":
            value = "her" if gender[0] == "f" else "his"
        elif base == "place":
            value = pick(bank.places, base)
        elif base == "num":
            value = pick(bank.numbers, base)
        elif base == "pct":
            value = str(rng.randrange(10, 91))
        elif base == "year":
            value = str(rng.randrange(1962, 2021))
        elif base == "decade":
            value = f"{rng.randrange(193, 201)}0s"
        elif base == "month":
            value = rng.choice(bank.months)
        elif base == "season":
            value = rng.choice(bank.seasons)
        elif base == "weekday":
            value = rng.choice(bank.weekdays)
        else:
            raise ValueError(f"{_RESOURCE}: unknown slot {{{slot}}} in template {template!r}")
        return value[:1].upper() + value[1:] if slot[:1].isupper() else value

    return _SLOT.sub(value_for, template)


_PROPER_START = re.compile(r"^(I\b|\{(person|place|month|weekday|Person|Place)\})")


def _vary(template: str, rng: random.Random, bank: _Bank) -> str:
    """Sometimes add an opening or closing phrase, so fixed sentences repeat less."""
    if rng.random() < _PREFIX_PROBABILITY:
        head = template if _PROPER_START.match(template) else template[:1].lower() + template[1:]
        template = f"{rng.choice(bank.prefixes)} {head}"
    if template.endswith(".") and rng.random() < _SUFFIX_PROBABILITY:
        template = f"{template[:-1]}, {rng.choice(bank.suffixes)}."
    return template


# "a" before a filled-in word with a vowel sound ("a autumn", "a uneven"); other
# u-words in the bank ("useful", "unique") take "a".


_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeioAEIO]|un[^i])")


def _sentence(template: str, topic: Mapping[str, Any], rng: random.Random, bank: _Bank) -> str:
    text = _A_BEFORE_VOWEL.sub(r"\1n ", _fill(_vary(template, rng, bank), topic, rng, bank))
    return text[:1].upper() + text[1:]


def generate_article(topic_key: str, rng: random.Random) -> Article:
    """An English article on one topic of the text bank: no template is used twice."""
    bank = _bank()
    topic = bank.topics[topic_key]
    title = _fill(rng.choice(bank.title_templates), topic, rng, bank)
    title = title[:1].upper() + title[1:]
    n_paragraphs = rng.randint(*_PARAGRAPHS)
    sizes = [rng.randint(*_SENTENCES_PER_PARAGRAPH) for _ in range(n_paragraphs)]
    facts = list(topic["facts"])
    rng.shuffle(facts)
    pool = list(bank.templates)
    rng.shuffle(pool)
    # Topic facts are spread over the body so every paragraph sounds on-topic.
    body = pool[: sum(sizes) - 1]
    for i, fact in enumerate(facts[: n_paragraphs]):
        body.insert(min(len(body), i * (len(body) // n_paragraphs) + rng.randrange(3)), fact)
    body = body[: sum(sizes) - 1] + [rng.choice(bank.closing_templates)]
    paragraphs = []
    start = 0
    for size in sizes:
        paragraphs.append(tuple(_sentence(t, topic, rng, bank) for t in body[start : start + size]))
        start += size
    return Article(title=title, paragraphs=tuple(paragraphs))


def word_shingle_jaccard(a: str, b: str, n: int = 5) -> float:
    """Jaccard similarity of the lower-cased word n-gram sets of two texts (punctuation ignored)."""

    def shingles(text: str) -> set[tuple[str, ...]]:
        words = _NON_WORD.sub(" ", text.lower()).split()
        return {tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}

    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def near_duplicate(article: Article, topic_key: str, rng: random.Random, changes: int = 2) -> Article:
    """`article` with up to `changes` sentences rewritten and one sentence added at
    the end, keeping word-5-gram Jaccard >= NEAR_DUPLICATE_MIN_JACCARD (fewer
    rewrites when long sentences would push it below)."""
    bank = _bank()
    topic = bank.topics[topic_key]
    slots = [(i, j) for i, p in enumerate(article.paragraphs) for j in range(len(p))]
    targets = rng.sample(slots, min(changes, len(slots)))
    replacements = [_sentence(rng.choice(bank.templates), topic, rng, bank) for _ in targets]
    ending = _sentence(rng.choice(bank.closing_templates), topic, rng, bank)
    for keep in range(len(targets), -1, -1):
        paragraphs = [list(p) for p in article.paragraphs]
        for (i, j), sentence in zip(targets[:keep], replacements):
            paragraphs[i][j] = sentence
        paragraphs[-1].append(ending)
        copy = Article(title=article.title, paragraphs=tuple(tuple(p) for p in paragraphs))
        if word_shingle_jaccard(copy.text, article.text) >= NEAR_DUPLICATE_MIN_JACCARD:
            break
    return copy


# --------------------------------------------------------------------------- HTML


def _slug(title: str, index: int) -> str:
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words[:8]) + f"-{index}"


def render_page(
    article: Article,
    site: str,
    host: str,
    rng: random.Random,
    *,
    lang: str = "en",
    charset: str = "utf-8",
    byline: str = "",
) -> str:
    """A whole HTML page around `article`: cookie banner, header and navigation,
    the <article>, a sidebar and a footer, i.e. the boilerplate an extractor removes."""
    bank = _bank()
    bp = bank.boilerplate
    esc = html.escape
    nav = "".join(
        f'<li><a href="/{esc(item.lower().replace(" ", "-"))}/">{esc(item)}</a></li>' for item in bp["nav"]
    )
    topic = next((t for t in bank.topics.values() if t["host"] == host), None)
    sidebar_links = []
    for k in range(4):
        if topic is not None:
            text = _fill(rng.choice(bank.title_templates), topic, rng, bank)
            text = text[:1].upper() + text[1:]
        else:
            text = f"{site} {k + 1}"
        sidebar_links.append(f'<li><a href="/{_slug(text, k)}/">{esc(text)}</a></li>')
    footer = "".join(
        f'<li><a href="/{esc(item.lower().replace(" ", "-"))}">{esc(item)}</a></li>' for item in bp["footer_links"]
    )
    body = "\n".join(f"<p>{esc(' '.join(p))}</p>" for p in article.paragraphs)
    byline_html = f'<p class="byline">{esc(byline)}</p>\n' if byline else ""
    year = 2018 + rng.randrange(6)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="{charset}">\n'
        f"<title>{esc(article.title)} | {esc(site)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="stylesheet" href="/static/site.css">\n'
        "</head>\n<body>\n"
        f'<div id="cookie-banner" class="cookie-consent"><p>{esc(bp["cookie"])}</p>'
        f'<button type="button" class="accept">{esc(bp["cookie_button"])}</button></div>\n'
        f'<header class="site-header"><a class="logo" href="/">{esc(site)}</a>\n'
        f'<nav class="main-nav"><ul>{nav}</ul></nav></header>\n'
        '<div class="container">\n<main id="content">\n<article class="post">\n'
        f"<h1>{esc(article.title)}</h1>\n{byline_html}{body}\n</article>\n</main>\n"
        f'<aside class="sidebar"><h2>{esc(bp["sidebar_heading"])}</h2><ul>{"".join(sidebar_links)}</ul>'
        f'<div class="newsletter"><p>{esc(bp["newsletter"])}</p></div></aside>\n</div>\n'
        f'<footer class="site-footer"><p>&copy; {year} {esc(site)}. {esc(bp["footer_line"])}</p>'
        f"<ul>{footer}</ul></footer>\n"
        "</body>\n</html>\n"
    )


def boilerplate_snippets() -> tuple[str, ...]:
    """Texts of the article pages' banner, sidebar and footer: main-text extraction must drop them."""
    bp = _bank().boilerplate
    return (bp["cookie"], bp["footer_line"], bp["sidebar_heading"], bp["newsletter"], *bp["footer_links"])


def boilerplate_lines() -> tuple[str, ...]:
    """Short boilerplate (menu items, the banner's button) that must not be a line of main text."""
    bp = _bank().boilerplate
    return (*bp["nav"], bp["cookie_button"])


def _thin_page(rng: random.Random, index: int) -> tuple[str, Article]:
    bank = _bank()
    title = f"Update {index + 1}"
    article = Article(title=title, paragraphs=((rng.choice(bank.thin_lines),),))
    esc = html.escape
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{esc(title)}</title>\n</head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n<p>{esc(article.paragraphs[0][0])}</p>\n</body>\n</html>\n"
    )
    return page, article


def _spam_page(kind: str, rng: random.Random, index: int) -> tuple[str, Article]:
    bank = _bank()
    spam = bank.spam
    esc = html.escape
    if kind == SPAM_KEYWORD_STUFFING:
        words = list(spam["keywords"])
        paragraphs = []
        for _ in range(6):
            rng.shuffle(words)
            paragraphs.append((" ".join(words * 3) + ".",))
        title = f"{words[0].title()} {words[1].title()} {words[2].title()}"
    elif kind == SPAM_REPEATED_LINES:
        paragraphs = [(spam["repeated_line"],)] * 25
        title = "Congratulations winner"
    elif kind == SPAM_LINK_FARM:
        title = "Best resources directory"
        anchors = list(spam["link_anchors"])
        paragraphs = [(a,) for a in anchors]
    elif kind == SPAM_LOREM_IPSUM:
        lines = list(spam["lorem"])
        rng.shuffle(lines)
        paragraphs = [tuple(lines[:3]), tuple(lines[2:]), tuple(lines[:2])]
        title = "Lorem ipsum dolor sit amet"
    elif kind == SPAM_SCRIPT:
        title = "Loading content"
        paragraphs = [(line,) for line in spam["code_lines"]]
    else:
        raise ValueError(f"unknown spam kind {kind!r}")
    article = Article(title=title, paragraphs=tuple(paragraphs))
    if kind == SPAM_LINK_FARM:
        links = "\n".join(
            f'<li><a href="https://{_slug(a, index)}.example/">{esc(a)}</a></li>' for (a,) in paragraphs for _ in range(3)
        )
        main = f"<h1>{esc(title)}</h1>\n<ul class=\"links\">\n{links}\n</ul>"
    else:
        main = f"<h1>{esc(title)}</h1>\n" + "\n".join(f"<p>{esc(' '.join(p))}</p>" for p in paragraphs)
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{esc(title)}</title>\n</head>\n<body>\n<div class=\"content\">\n{main}\n</div>\n</body>\n</html>\n"
    )
    return page, article


def _not_found_page() -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Page not found</title>\n"
        "</head>\n<body>\n<h1>Page not found</h1>\n<p>The page you were looking for has moved or no longer exists. "
        "Try the search box or return to the home page.</p>\n</body>\n</html>\n"
    )


def _png_bytes(width: int = 4, height: int = 4) -> bytes:
    """A valid, tiny grey PNG, built by hand so it needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def _pdf_bytes() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def _binary_bytes(rng: random.Random) -> bytes:
    # Random bytes with a guaranteed run of NULs: a decoder must call this binary.
    data = bytearray(rng.randbytes(3000))
    data[100:116] = b"\x00" * 16
    return bytes(data)


# --------------------------------------------------------------------------- WARC


def _record_id(seed: int, index: int) -> str:
    digest = hashlib.sha256(f"winnow-sample-warc:{seed}:{index}".encode()).digest()
    return f"<urn:uuid:{uuid.UUID(bytes=digest[:16], version=4)}>"


def _warc_date(seed: int, index: int) -> datetime:
    return _EPOCH + timedelta(days=seed % 3650, seconds=index * _SECONDS_BETWEEN_RECORDS)


def _sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def _http_response(status: int, reason: str, headers: Sequence[tuple[str, str]], body: bytes, when: datetime) -> tuple[bytes, bytes]:
    """(HTTP header block, body) of a response with a correct Content-Length."""
    lines = [f"HTTP/1.1 {status} {reason}", f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S GMT')}", "Server: nginx"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), body


def _warc_record(
    record_type: str,
    record_id: str,
    when: datetime,
    block: bytes,
    content_type: str,
    *,
    url: str | None = None,
    payload: bytes | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> bytes:
    headers = [
        ("WARC-Type", record_type),
        ("WARC-Record-ID", record_id),
        ("WARC-Date", when.strftime("%Y-%m-%dT%H:%M:%SZ")),
    ]
    if url is not None:
        headers.append(("WARC-Target-URI", url))
    headers += list(extra)
    headers.append(("Content-Type", content_type))
    if payload is not None:
        headers.append(("WARC-Payload-Digest", _sha1(payload)))
    headers.append(("WARC-Block-Digest", _sha1(block)))
    headers.append(("Content-Length", str(len(block))))
    head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


def _gzip_member(data: bytes) -> bytes:
    """A gzip member with mtime 0 and OS byte 255 (unknown), so bytes do not depend on the platform."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(data) + compressor.flush()
    header = b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + b"\x00\xff"
    return header + deflated + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)


def _label(
    record_id: str,
    url: str | None,
    record_type: str,
    category: str,
    *,
    outcome: str = OUTCOME_KEPT,
    stage: str | None = None,
    reason: str | None = None,
    quality: str | None = None,
    language: str | None = None,
    duplicate_of: str | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    label: dict[str, Any] = {
        "warc_record_id": record_id,
        "url": url,
        "record_type": record_type,
        "category": category,
        "expect": {"outcome": outcome, "stage": stage, "reason": reason},
        "expect_quality": quality,
        "language": language,
        "duplicate_of": duplicate_of,
    }
    if detail is not None:
        label["detail"] = detail
    return label


@dataclass(frozen=True)
class _Item:
    """A planned response before it gets its record index (and so its id and date)."""

    category: str
    url: str
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    body: bytes = b""
    extra_headers: tuple[tuple[str, str], ...] = ()
    expect: tuple[str, str | None, str | None] = (OUTCOME_KEPT, None, None)
    quality: str | None = None
    language: str | None = None
    duplicate_of: str | None = None
    detail: str | None = None
    html: str | None = None
    article: Article | None = None
    charset: str | None = None


def _article_item(index: int, rng: random.Random) -> tuple[_Item, str, Article]:
    """The `index`-th English article page (topics taken in turn), with its topic key."""
    bank = _bank()
    keys = list(bank.topics)
    key = keys[index % len(keys)]
    topic = bank.topics[key]
    article = generate_article(key, rng)
    year = 2019 + index % 5
    url = f"https://{topic['host']}/{year}/{1 + index % 12:02d}/{_slug(article.title, index)}"
    byline = f"By {_person(rng, bank)[0]}, {rng.randrange(1, 29)} {rng.choice(bank.months)} {year}"
    page = render_page(article, topic["site"], topic["host"], rng, byline=byline)
    item = _Item(
        CATEGORY_ARTICLE, url, body=page.encode("utf-8"), quality=QUALITY_KEEP, language="en",
        html=page, article=article, charset="utf-8",
    )
    return item, key, article


def _english_items(spec: SampleSpec, rng: random.Random) -> tuple[list[_Item], list[_Item]]:
    """(articles, duplicates): `spec.pages` articles, then exact and near copies of some."""
    bank = _bank()
    articles = [_article_item(i, rng) for i in range(spec.pages)]
    wanted = spec.exact_duplicates + spec.near_duplicates
    # Tiny samples copy some pages more than once; the copy number keeps URLs unique.
    pool = rng.sample(range(spec.pages), min(wanted, spec.pages))
    originals = [pool[n % len(pool)] for n in range(wanted)]
    duplicates = []
    for n, i in enumerate(originals):
        item, key, article = articles[i]
        topic = bank.topics[key]
        if n < spec.exact_duplicates:
            url = item.url.replace(f"https://{topic['host']}/", f"https://www.{topic['host']}/print/") + f"?utm_source=feed&copy={n}"
            duplicates.append(
                _Item(CATEGORY_EXACT_DUPLICATE, url, body=item.body, quality=QUALITY_KEEP, language="en",
                      duplicate_of=item.url, html=item.html, article=article, charset="utf-8")
            )
        else:
            copy = near_duplicate(article, key, rng)
            page = render_page(copy, topic["site"], topic["host"], rng, byline=f"Updated by {_person(rng, bank)[0]}")
            duplicates.append(
                _Item(CATEGORY_NEAR_DUPLICATE, f"{item.url}-updated-{n}", body=page.encode("utf-8"), quality=QUALITY_KEEP,
                      language="en", duplicate_of=item.url, html=page, article=copy, charset="utf-8")
            )
    return [a[0] for a in articles], duplicates


def _foreign_items(spec: SampleSpec, rng: random.Random) -> list[_Item]:
    bank = _bank()
    items = []
    for lang in FOREIGN_LANGUAGES:
        entry = bank.foreign[lang]
        count = spec.pages_per_language
        for k in range(count):
            # Each page gets its own share of the paragraphs, so pages of one
            # language are not near duplicates of each other.
            paragraphs = tuple((p,) for p in entry["paragraphs"][k::count])
            title = entry["title"] if k == 0 else f"{entry['title']} ({k + 1})"
            article = Article(title=title, paragraphs=paragraphs)
            charset = bank.foreign_charsets[lang] if k % 2 == 0 else "utf-8"
            site = f"{lang.upper()} Journal"
            page = render_page(article, site, f"{lang}-journal.example", rng, lang=lang, charset=charset)
            url = f"https://{lang}-journal.example/artikel/{k + 1}"
            items.append(
                _Item(CATEGORY_FOREIGN, url, content_type=f"text/html; charset={charset}", body=page.encode(charset),
                      quality=QUALITY_REJECT, language=lang, html=page, article=article, charset=charset,
                      detail=f"served as {charset}")
            )
    return items


def _junk_items(spec: SampleSpec, rng: random.Random) -> list[_Item]:
    items = []
    for k in range(spec.thin_pages):
        page, article = _thin_page(rng, k)
        expect = (OUTCOME_REJECTED, STAGE_EXTRACT, NO_MAIN_TEXT) if THIN_EXTRACTS_NOTHING else (OUTCOME_KEPT, None, None)
        items.append(
            _Item(CATEGORY_THIN, f"https://updates.example/notes/{k + 1}", body=page.encode("utf-8"), expect=expect,
                  quality=QUALITY_REJECT, language="en", html=page, article=article, charset="utf-8")
        )
    for k in range(spec.spam_pages):
        kind = SPAM_KINDS[k % len(SPAM_KINDS)]
        page, article = _spam_page(kind, rng, k)
        expect = (OUTCOME_REJECTED, STAGE_EXTRACT, NO_MAIN_TEXT) if kind in SPAM_EXTRACTS_NOTHING else (OUTCOME_KEPT, None, None)
        items.append(
            _Item(CATEGORY_SPAM, f"https://deals-{k + 1}.example/{kind.replace('_', '-')}", body=page.encode("utf-8"),
                  expect=expect, quality=QUALITY_REJECT, language="la" if kind == SPAM_LOREM_IPSUM else "en",
                  detail=kind, html=page, article=article, charset="utf-8")
        )
    return items


def _special_items(rng: random.Random) -> list[_Item]:
    triage = OUTCOME_REJECTED, STAGE_TRIAGE
    return [
        _Item(CATEGORY_IMAGE, "https://compostledger.example/static/logo.png", content_type="image/png",
              body=_png_bytes(), expect=(*triage, NOT_HTML)),
        _Item(CATEGORY_PDF, "https://warmhouseweekly.example/files/insulation-guide.pdf", content_type="application/pdf",
              body=_pdf_bytes(), expect=(*triage, NOT_HTML)),
        _Item(CATEGORY_REDIRECT, "http://highground.example/routes", status=301,
              content_type="text/html; charset=utf-8", extra_headers=(("Location", "https://highground.example/routes/"),),
              expect=(*triage, HTTP_STATUS)),
        _Item(CATEGORY_NOT_FOUND, "https://kilnandclay.example/old-glazes", status=404,
              body=_not_found_page().encode("utf-8"), expect=(*triage, HTTP_STATUS)),
        _Item(CATEGORY_EMPTY, "https://busstopreview.example/empty", expect=(*triage, EMPTY_PAYLOAD)),
        _Item(CATEGORY_BINARY, "https://spokesandstreets.example/download", body=_binary_bytes(rng),
              expect=(*triage, BINARY_CONTENT)),
    ]


_STATUS_TEXT = {200: "OK", 301: "Moved Permanently", 404: "Not Found"}


def _request_block(url: str) -> bytes:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "User-Agent: winnow-sample/1.0\r\nAccept: text/html\r\n\r\n"
    ).encode("utf-8")


def _metadata_block(url: str) -> bytes:
    parts = urlsplit(url)
    return f"via: {parts.scheme}://{parts.netloc}/\r\nhopsFromSeed: L\r\nfetchTimeMs: 120\r\n".encode("utf-8")


def generate_sample(spec: SampleSpec) -> tuple[SampleRecord, ...]:
    """Every record of the sample, in file order, uncompressed and labelled."""
    rng = random.Random(spec.seed)
    articles, duplicates = _english_items(spec, rng)
    items = articles + _foreign_items(spec, rng) + _junk_items(spec, rng) + _special_items(rng)
    rng.shuffle(items)
    # Copies come after their originals, as in a real crawl that revisits a page.
    for dup in duplicates:
        first = next(i for i, item in enumerate(items) if item.url == dup.duplicate_of)
        items.insert(rng.randint(first + 1, len(items)), dup)
    # One more article, written last and cut short: a reader must report it.
    last = _article_item(spec.pages, rng)[0]

    records: list[SampleRecord] = []
    warcinfo_id = _record_id(spec.seed, 0)

    def add(record_type: str, block: bytes, content_type: str, label_kwargs: dict[str, Any], *, url: str | None = None,
            payload: bytes | None = None, extra: Sequence[tuple[str, str]] = (), item: _Item | None = None,
            truncate: bool = False, record_id: str | None = None) -> str:
        index = len(records)
        rid = record_id or _record_id(spec.seed, index)
        headers = list(extra) if record_type == "warcinfo" else [("WARC-Warcinfo-ID", warcinfo_id), *extra]
        data = _warc_record(record_type, rid, _warc_date(spec.seed, index), block, content_type, url=url,
                            payload=payload, extra=headers)
        records.append(SampleRecord(
            label=_label(rid, url, record_type, **label_kwargs), record=data,
            html=item.html if item else None, article=item.article if item else None,
            charset=item.charset if item else None, truncate=truncate,
        ))
        return rid

    info = (
        f"software: winnow sample-warc\r\nformat: WARC File Format 1.1\r\n"
        f"description: synthetic sample, pages={spec.pages} seed={spec.seed}\r\n"
    ).encode("utf-8")
    add("warcinfo", info, "application/warc-fields", {"category": CATEGORY_WARCINFO, "outcome": OUTCOME_REJECTED,
        "stage": STAGE_TRIAGE, "reason": NOT_RESPONSE}, record_id=warcinfo_id)

    has_metadata = False  # the first response gets a metadata record
    for item in items + [last]:
        truncated = item is last
        index = len(records)
        when = _warc_date(spec.seed, index)
        if not truncated and rng.random() < _REQUEST_PROBABILITY:
            add("request", _request_block(item.url), "application/http; msgtype=request",
                {"category": CATEGORY_REQUEST, "outcome": OUTCOME_REJECTED, "stage": STAGE_TRIAGE,
                 "reason": NOT_RESPONSE}, url=item.url, payload=b"",
                extra=(("WARC-Concurrent-To", _record_id(spec.seed, index + 1)),))
            when = _warc_date(spec.seed, len(records))
        headers = [("Content-Type", item.content_type)] + list(item.extra_headers)
        head, body = _http_response(item.status, _STATUS_TEXT[item.status], headers, item.body, when)
        outcome, stage, reason = (OUTCOME_ERROR, STAGE_READ, None) if truncated else item.expect
        category = CATEGORY_TRUNCATED if truncated else item.category
        response_id = add(
            "response", head + body, "application/http; msgtype=response",
            {"category": category, "outcome": outcome, "stage": stage, "reason": reason,
             "quality": None if truncated else item.quality, "language": item.language,
             "duplicate_of": item.duplicate_of, "detail": item.detail},
            url=item.url, payload=body, extra=(("WARC-IP-Address", "192.0.2.10"),), item=item, truncate=truncated,
        )
        if not has_metadata:
            has_metadata = True
            add("metadata", _metadata_block(item.url), "application/warc-fields",
                {"category": CATEGORY_METADATA, "outcome": OUTCOME_REJECTED, "stage": STAGE_TRIAGE,
                 "reason": NOT_RESPONSE}, url=item.url, extra=(("WARC-Concurrent-To", response_id),))
    return tuple(records)


def labels_path_for(path: str | Path) -> Path:
    """`x.warc.gz` -> `x.labels.jsonl` (any other name just gets the suffix)."""
    path = Path(path)
    name = path.name
    for ending in (".warc.gz", ".warc"):
        if name.endswith(ending):
            name = name[: -len(ending)]
            break
    return path.with_name(name + LABELS_SUFFIX)


def write_sample_warc(path: str | Path, spec: SampleSpec) -> Path:
    """Write the sample WARC to `path` and its labels next to it; returns the labels path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"sample WARC {path}: directory {path.parent} does not exist")
    records = generate_sample(spec)
    labels = labels_path_for(path)
    with path.open("wb") as out:
        for rec in records:
            member = _gzip_member(rec.record)
            # Cutting mid-member leaves a gzip stream that ends early: readers
            # must report this record as failed, not drop it silently.
            out.write(member[: len(member) // 2] if rec.truncate else member)
    with labels.open("w", encoding="utf-8") as out:
        for rec in records:
            out.write(json.dumps(rec.label, ensure_ascii=False, sort_keys=True) + "\n")
    return labels


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    """The labels of a sample WARC (pass the WARC or the labels path)."""
    path = Path(path)
    labels = path if path.name.endswith(LABELS_SUFFIX) else labels_path_for(path)
    out = []
    with labels.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{labels}: line {n} is not JSON: {exc}") from exc
    return out
