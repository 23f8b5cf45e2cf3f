"""URL filtering as step `url_filter`: blocklisted domains and URLs, banned words.

Blocklists use the UT1 layout (RefinedWeb and FineWeb use UT1): a directory per
category holding `domains` and/or `urls`, one entry per line. A blocklisted
domain also bans its subdomains; a blocklisted URL (`host/path`, no scheme)
also bans the paths below it. Lists are read once in `build` into sets, so a
lookup costs a handful of set probes however long the lists are.

Banned words are matched against the lower-cased URL split on non-alphanumeric
characters: one hard word drops the document, and so do `min_soft_word_hits`
different soft words. Winnow ships small word lists of its own
(`curation/resources/url_*_words.txt`); pass lists in the config to replace them.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from winnow.curation.config import RecipeError
from winnow.curation.types import Document, Step, StepResult, StepSpec, Verdict, verdict_result

URL_FILTER_BLOCKLISTED_DOMAIN = "url_filter_blocklisted_domain"
URL_FILTER_BLOCKLISTED_URL = "url_filter_blocklisted_url"
URL_FILTER_HARD_BANNED_WORD = "url_filter_hard_banned_word"
URL_FILTER_SOFT_BANNED_WORDS = "url_filter_soft_banned_words"

REASONS = (
    URL_FILTER_BLOCKLISTED_DOMAIN,
    URL_FILTER_BLOCKLISTED_URL,
    URL_FILTER_HARD_BANNED_WORD,
    URL_FILTER_SOFT_BANNED_WORDS,
)

SIGNALS: tuple[tuple[str, str], ...] = (
    ("url_filter_domain_blocklisted", "bool"),
    ("url_filter_url_blocklisted", "bool"),
    ("url_filter_blocklist_category", "str"),  # category of the first match, "" when none
    ("url_filter_hard_word_hits", "int"),  # distinct hard words in the URL, >= 0
    ("url_filter_soft_word_hits", "int"),  # distinct soft words in the URL, >= 0
)

# The UT1 categories FineWeb blocks (the URL-filter step of its 2024 recipe).
FINEWEB_UT1_CATEGORIES = (
    "adult",
    "agressif",
    "arjel",
    "chat",
    "dating",
    "ddos",
    "filehosting",
    "gambling",
    "mixed_adult",
    "phishing",
)
HARD_WORDS_RESOURCE = "url_hard_words.txt"
SOFT_WORDS_RESOURCE = "url_soft_words.txt"

_URL_WORD_SPLIT_RE = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class UrlFilterConfig:
    """Where the blocklists are and which word rules apply.

    `blocklist_dirs` holds UT1 category directories, or UT1 roots whose
    subdirectories named in `categories` are read (None reads every one).
    `hard_banned_words` / `soft_banned_words` set to None use Winnow's shipped
    lists; an empty tuple disables the list. `min_soft_word_hits` None disables
    the soft-word rule.
    """

    blocklist_dirs: tuple[str, ...] = ()
    categories: tuple[str, ...] | None = FINEWEB_UT1_CATEGORIES  # UT1 categories read under blocklist_dirs; None reads every one
    domains_files: tuple[str, ...] = ()  # files of blocked domains, one per line
    urls_files: tuple[str, ...] = ()  # files of blocked URLs, one per line
    # a URL with one of these words is rejected; None: Winnow's list, empty: none
    hard_banned_words: tuple[str, ...] | None = None
    soft_banned_words: tuple[str, ...] | None = None
    min_soft_word_hits: int | None = 2  # soft banned words in a URL that reject it; None disables the rule


def normalise_host(host: str) -> str:
    """Lower case, no port, no trailing dot, no leading `www.`."""
    host = host.strip().lower()
    if host.startswith("["):  # IPv6 literal keeps its colons
        host = host.split("]", 1)[0] + "]"
    else:
        host = host.split(":", 1)[0]
    host = host.rstrip(".")
    return host[4:] if host.startswith("www.") else host


def split_url(url: str) -> tuple[str, str]:
    """(normalised host, path without trailing slash) of a URL with or without a scheme."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url.lstrip("/")
    try:
        parts = urlsplit(url)
    except ValueError:
        return "", ""
    netloc = parts.netloc.rsplit("@", 1)[-1]  # drop user:password@
    return normalise_host(netloc), parts.path.rstrip("/")


def parent_domains(host: str) -> list[str]:
    """`a.b.example.com` -> [`a.b.example.com`, `b.example.com`, `example.com`, `com`]."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))] if host else []


def url_keys(host: str, path: str) -> list[str]:
    """`host/a/b` and every shorter path prefix, as UT1 `urls` entries are written."""
    keys = [host]
    prefix = host
    for segment in path.split("/"):
        if segment:
            prefix = f"{prefix}/{segment}"
            keys.append(prefix)
    return keys


def url_words(url: str) -> set[str]:
    """Lower-case alphanumeric tokens of a URL (host labels, path segments, query words)."""
    return {w for w in _URL_WORD_SPLIT_RE.split(url.lower()) if w}


def _read_entries(path: Path, key: str) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RecipeError(f"url_filter: cannot read {key} file {path}: {exc}") from exc
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _normalise_url_entry(entry: str) -> str:
    host, path = split_url(entry)
    return host + path


def _category_dirs(root: Path, categories: tuple[str, ...] | None) -> list[Path]:
    if not root.is_dir():
        raise RecipeError(f"url_filter: blocklist_dirs entry {str(root)!r} is not a directory")
    if (root / "domains").is_file() or (root / "urls").is_file():
        return [root]
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    if categories is not None:
        subdirs = [p for p in subdirs if p.name in categories]
    if not subdirs:
        raise RecipeError(
            f"url_filter: blocklist_dirs entry {str(root)!r} has no `domains`/`urls` files and no category "
            f"subdirectories (categories={list(categories) if categories is not None else 'all'})"
        )
    return subdirs


@dataclass(frozen=True)
class Blocklists:
    """Banned domains and URLs, each mapped to the category (list) it came from."""

    domains: dict[str, str]
    urls: dict[str, str]


def load_blocklists(config: UrlFilterConfig) -> Blocklists:
    """Read every configured list once; entries are normalised like the URLs they are compared with."""
    domains: dict[str, str] = {}
    urls: dict[str, str] = {}
    for root in config.blocklist_dirs:
        for category_dir in _category_dirs(Path(root), config.categories):
            name = category_dir.name
            if (category_dir / "domains").is_file():
                for entry in _read_entries(category_dir / "domains", "blocklist domains"):
                    domains.setdefault(normalise_host(entry), name)
            if (category_dir / "urls").is_file():
                for entry in _read_entries(category_dir / "urls", "blocklist urls"):
                    urls.setdefault(_normalise_url_entry(entry), name)
    for file in config.domains_files:
        for entry in _read_entries(Path(file), "domains_files"):
            domains.setdefault(normalise_host(entry), Path(file).name)
    for file in config.urls_files:
        for entry in _read_entries(Path(file), "urls_files"):
            urls.setdefault(_normalise_url_entry(entry), Path(file).name)
    domains.pop("", None)
    urls.pop("", None)
    return Blocklists(domains, urls)


def shipped_words(resource: str) -> tuple[str, ...]:
    """A word list shipped in curation/resources (comments and blank lines skipped)."""
    text = resources.files("winnow.curation").joinpath("resources", resource).read_text(encoding="utf-8")
    return tuple(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def url_signals(url: str, lists: Blocklists, hard: frozenset[str], soft: frozenset[str]) -> dict[str, bool | int | str]:
    """Every url_filter signal of `url`; `hard`/`soft` are lower-case word sets."""
    host, path = split_url(url) if url else ("", "")
    domain_category = next((lists.domains[d] for d in parent_domains(host) if d in lists.domains), "")
    # URL entries name one host exactly (unlike domain entries, which cover subdomains).
    url_category = next((lists.urls[k] for k in url_keys(host, path) if k in lists.urls), "") if host else ""
    tokens = url_words(url) if url else set()
    return {
        "url_filter_domain_blocklisted": bool(domain_category),
        "url_filter_url_blocklisted": bool(url_category),
        "url_filter_blocklist_category": domain_category or url_category,
        "url_filter_hard_word_hits": len(tokens & hard),
        "url_filter_soft_word_hits": len(tokens & soft),
    }


def decide(config: UrlFilterConfig, s: Mapping[str, Any]) -> Verdict | None:
    """Blocklisted domain, then URL, then hard words, then enough soft words."""
    if s["url_filter_domain_blocklisted"]:
        return URL_FILTER_BLOCKLISTED_DOMAIN, f"category {s['url_filter_blocklist_category']}"
    if s["url_filter_url_blocklisted"]:
        return URL_FILTER_BLOCKLISTED_URL, f"category {s['url_filter_blocklist_category']}"
    if s["url_filter_hard_word_hits"]:
        return URL_FILTER_HARD_BANNED_WORD, f"{s['url_filter_hard_word_hits']} hard word(s)"
    hits = s["url_filter_soft_word_hits"]
    if config.min_soft_word_hits is not None and hits >= config.min_soft_word_hits:
        return URL_FILTER_SOFT_BANNED_WORDS, f"{hits} soft words >= {config.min_soft_word_hits}"
    return None


def build(config: UrlFilterConfig) -> Step:
    """The url_filter step; reads every blocklist and word list once, here."""
    lists = load_blocklists(config)
    hard_words = shipped_words(HARD_WORDS_RESOURCE) if config.hard_banned_words is None else config.hard_banned_words
    soft_words = shipped_words(SOFT_WORDS_RESOURCE) if config.soft_banned_words is None else config.soft_banned_words
    hard = frozenset(w.lower() for w in hard_words)
    soft = frozenset(w.lower() for w in soft_words)

    def step(doc: Document) -> StepResult:
        signals = url_signals(doc.url, lists, hard, soft)
        return verdict_result(signals, decide(config, signals))

    return step


URL_FILTER_STEP = StepSpec(
    name="url_filter",
    config_type=UrlFilterConfig,
    build=build,
    decide=decide,
    recompute_fields=("blocklist_dirs", "categories", "domains_files", "urls_files", "hard_banned_words", "soft_banned_words"),
    signals=SIGNALS,
    reasons=REASONS,
    description="Blocklisted domains/URLs (UT1 layout) and banned words in the URL.",
)
