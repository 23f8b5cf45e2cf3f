"""url_filter: UT1-style blocklists, host normalisation, banned words."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from winnow.curation.config import RecipeError
from winnow.curation.filters import url as url_filter
from winnow.curation.types import Document

from .helpers import build


@pytest.fixture()
def ut1_tree(tmp_path: Path) -> Path:
    """A miniature UT1 root: two categories, one of them with a urls list."""
    (tmp_path / "gambling").mkdir()
    (tmp_path / "gambling" / "domains").write_text("# comment\nbet-example.com\nWWW.Casino-Example.NET\n\n")
    (tmp_path / "gambling" / "urls").write_text("freehost.org/~poker\n")
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "domains").write_text("example-news.com\n")
    return tmp_path


def check(step, url: str):
    return step(Document("text", url=url))


def test_banned_domain_with_host_normalisation_and_parent_domains(ut1_tree):
    step = build("url_filter", blocklist_dirs=(str(ut1_tree),), categories=("gambling",))
    for url in (
        "https://bet-example.com/",
        "http://WWW.BET-EXAMPLE.COM:8080/page",
        "https://a.b.bet-example.com./x",
        "casino-example.net/path",
        "https://user:pw@www.casino-example.net/",
    ):
        result = check(step, url)
        assert result.reason == url_filter.URL_FILTER_BLOCKLISTED_DOMAIN, url
        assert result.signals["url_filter_blocklist_category"] == "gambling"
    for url in ("https://notbet-example.com/", "https://bet-example.com.evil.org/", "https://example-news.com/"):
        assert check(step, url).kept, url  # suffix, not parent; news category not selected


def test_banned_url_and_paths_below_it(ut1_tree):
    step = build("url_filter", blocklist_dirs=(str(ut1_tree / "gambling"),))
    assert check(step, "http://www.freehost.org/~poker").reason == url_filter.URL_FILTER_BLOCKLISTED_URL
    assert check(step, "http://freehost.org/~poker/tables/1.html").reason == url_filter.URL_FILTER_BLOCKLISTED_URL
    assert check(step, "http://freehost.org/~pokerface").kept
    assert check(step, "http://freehost.org/").kept


def test_domains_and_urls_files(tmp_path):
    domains = tmp_path / "my_domains.txt"
    domains.write_text("spam.example\n")
    urls = tmp_path / "my_urls.txt"
    urls.write_text("https://host.example/bad/\n")
    step = build("url_filter", domains_files=(str(domains),), urls_files=(str(urls),))
    assert check(step, "https://x.spam.example/").signals["url_filter_blocklist_category"] == "my_domains.txt"
    assert check(step, "https://host.example/bad").reason == url_filter.URL_FILTER_BLOCKLISTED_URL


def test_hard_banned_word():
    step = build("url_filter")
    result = check(step, "https://videos.example.com/free-porn-clips")
    assert result.reason == url_filter.URL_FILTER_HARD_BANNED_WORD
    assert result.signals["url_filter_hard_word_hits"] == 1
    # Words are whole URL tokens, not substrings.
    assert check(step, "https://example.com/pornography-law-review").reason == url_filter.URL_FILTER_HARD_BANNED_WORD
    assert check(step, "https://example.com/sporno-club").kept


def test_soft_banned_words_need_two():
    step = build("url_filter")
    one = check(step, "https://example.com/hot-summer-recipes")
    assert one.kept and one.signals["url_filter_soft_word_hits"] == 1
    two = check(step, "https://example.com/hot-nude-beach")
    assert two.reason == url_filter.URL_FILTER_SOFT_BANNED_WORDS
    assert two.signals["url_filter_soft_word_hits"] == 2
    assert build("url_filter", min_soft_word_hits=None)(Document("t", url="https://example.com/hot-nude-beach")).kept


def test_configured_word_lists_replace_the_shipped_ones():
    step = build("url_filter", hard_banned_words=("forbidden",), soft_banned_words=())
    assert check(step, "https://example.com/forbidden/").reason == url_filter.URL_FILTER_HARD_BANNED_WORD
    assert check(step, "https://example.com/porn").kept


def test_document_without_url_is_kept():
    result = build("url_filter")(Document("text"))
    assert result.kept
    assert result.signals["url_filter_soft_word_hits"] == 0


def test_missing_blocklist_dir_names_the_path(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(RecipeError, match="nope"):
        build("url_filter", blocklist_dirs=(str(missing),))
    with pytest.raises(RecipeError, match="missing.txt"):
        build("url_filter", domains_files=(str(tmp_path / "missing.txt"),))


def test_real_ut1_lists(shared_data):
    root = shared_data / "blocklists" / "ut1"
    if not root.is_dir():
        pytest.skip(f"UT1 blocklists not found at {root}")
    start = time.process_time()  # CPU time, so that other jobs on the machine cannot fail it
    step = build("url_filter", blocklist_dirs=(str(root),))
    load_s = time.process_time() - start
    assert load_s < 5.0, f"loading the UT1 lists took {load_s:.1f} CPU seconds"
    gambling = (root / "gambling" / "domains").read_text().split()[0]
    assert check(step, f"https://www.sub.{gambling.upper()}/").reason == url_filter.URL_FILTER_BLOCKLISTED_DOMAIN
    phishing = (root / "phishing" / "urls").read_text().split()[0]
    result = check(step, f"https://{phishing}")
    assert not result.kept and result.signals["url_filter_blocklist_category"] == "phishing"
    for ok in ("https://en.wikipedia.org/wiki/Casino", "https://www.python.org/doc/"):
        assert check(step, ok).kept, ok
