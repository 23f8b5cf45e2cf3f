"""Realistic junk web pages, generated deterministically from a seed, for
planting into clean corpora (the calibration of `winnow ablate`).

Five kinds, each a page type that web-scale filters exist to remove:

- `boilerplate`: cookie banners, consent and newsletter prompts, copyright
  and share lines, repeated as a page's only content;
- `navigation`: menus, breadcrumbs and link lists, no running text;
- `keyword_spam`: a few keywords repeated with filler, stuffed for search;
- `seo_template`: templated "best X in Y" text with slots filled from the
  clean pages' own words, fluent-looking but empty;
- `shuffled`: a clean page's words in a random order (machine-shuffled
  text: the right vocabulary, no grammar).

Words come from the clean pages themselves (`material`), so the junk cannot
be told apart by an unseen vocabulary alone. A junk page is as long, in
words, as a clean page drawn at random, so the junk's share of pages is
close to its share of words. Everything depends only on (seed, material):
the same call gives the same pages on every machine. Pure text, no I/O.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

BOILERPLATE = "boilerplate"
NAVIGATION = "navigation"
KEYWORD_SPAM = "keyword_spam"
SEO_TEMPLATE = "seo_template"
SHUFFLED = "shuffled"
JUNK_KINDS = (BOILERPLATE, NAVIGATION, KEYWORD_SPAM, SEO_TEMPLATE, SHUFFLED)

ID_PREFIX = "junk-"
MIN_PAGE_WORDS = 30  # a page shorter than this is padded up (filters need something to judge)

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")

_BOILERPLATE_LINES = (
    "We use cookies to improve your experience on our site. By continuing to browse you agree to our use of cookies.",
    "Accept all cookies", "Manage cookie preferences", "Reject non-essential cookies",
    "This website uses cookies and similar technologies for analytics and personalised advertising.",
    "Subscribe to our newsletter to get the latest updates straight to your inbox.",
    "Enter your email address", "Sign up", "Log in", "Create an account", "Forgot your password?",
    "Copyright {year} {site}. All rights reserved.", "Privacy Policy | Terms of Use | Cookie Policy | Sitemap",
    "Share this page: Facebook Twitter LinkedIn Email Print", "Follow us on social media",
    "Back to top", "Skip to main content", "Loading...", "JavaScript is disabled in your browser.",
    "Please enable JavaScript to view this page correctly.", "Your cart is empty", "Continue shopping",
)
_NAV_WORDS = ("Home", "About", "Contact", "Blog", "News", "Products", "Services", "Shop", "Support", "FAQ", "Careers", "Events", "Archive", "Login", "Search")
_SEO_TEMPLATES = (
    "Looking for the best {a} in {b}? Our {a} experts have reviewed the top {c} options so you can find the perfect {a} today.",
    "Top 10 {a} tips for {b}: everything you need to know about {c} and {a} in {year}.",
    "Buy cheap {a} online. Best price {a}, {b} and {c} with free shipping. Order your {a} now!",
    "Why {a} matters for {b}. Learn more about {c}, {a} and {b} from our trusted guide.",
    "{a} near me: compare {b} deals, read {c} reviews and save on {a}.",
    "Click here to discover the ultimate {a} guide. {b} made easy with {c}.",
)
_SPAM_FILLER = ("best", "cheap", "free", "online", "buy", "top", "deal", "discount", "review", "near me", "2024", "official", "sale")


@dataclass(frozen=True)
class JunkPage:
    id: str
    text: str
    kind: str


def content_words(texts: Sequence[str], limit: int = 2000) -> list[str]:
    """The `limit` most frequent words (3+ letters) of the texts, ties by first use,
    lower-cased: the vocabulary junk is made of."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w.lower() for w in _WORD.findall(text))
    return [w for w, _ in counts.most_common(limit)]


def generate_junk(
    count: int, seed: int, material: Sequence[str], kinds: Sequence[str] = JUNK_KINDS
) -> list[JunkPage]:
    """`count` junk pages, the kinds in turn, from the clean pages `material`."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    unknown = [k for k in kinds if k not in JUNK_KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown junk kinds {unknown}; expected some of {JUNK_KINDS}")
    pages = [t for t in material if t.split()]
    if count and not pages:
        raise ValueError("junk needs at least one non-empty clean page as material")
    words = content_words(pages) if count else []
    if count and not words:
        raise ValueError("the clean pages have no words of 3+ letters to make junk from")
    rng = random.Random(f"winnow-junk:{seed}")  # a string seed hashes the same on every platform
    out = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        donor = pages[rng.randrange(len(pages))]
        length = max(MIN_PAGE_WORDS, len(donor.split()))
        out.append(JunkPage(f"{ID_PREFIX}{seed}-{i}", _MAKERS[kind](rng, words, donor, length), kind))
    return out


def _boilerplate(rng: random.Random, words: Sequence[str], donor: str, length: int) -> str:
    site = rng.choice(words).capitalize() + rng.choice((" Online", " Media", ".com", " Group"))
    lines: list[str] = []
    while sum(len(line.split()) for line in lines) < length:
        lines.append(rng.choice(_BOILERPLATE_LINES).format(year=rng.randint(2008, 2024), site=site))
    return "\n".join(lines)


def _navigation(rng: random.Random, words: Sequence[str], donor: str, length: int) -> str:
    lines, total = [], 0
    while total < length:
        shape = rng.randrange(3)
        if shape == 0:
            line = " | ".join(rng.sample(_NAV_WORDS, 6))
        elif shape == 1:
            line = " > ".join(["Home"] + [rng.choice(words).capitalize() for _ in range(rng.randint(2, 4))])
        else:
            line = "\n".join(f"- {rng.choice(words).capitalize()} {rng.choice(words)}" for _ in range(rng.randint(3, 8)))
        lines.append(line)
        total += len(line.split())
    return "\n".join(lines)


def _keyword_spam(rng: random.Random, words: Sequence[str], donor: str, length: int) -> str:
    keywords = [rng.choice(words[:200]) for _ in range(3)]
    out: list[str] = []
    while len(out) < length:
        out.append(rng.choice(keywords))
        if rng.random() < 0.4:
            out.append(rng.choice(_SPAM_FILLER))
    return " ".join(out[:length])


def _seo_template(rng: random.Random, words: Sequence[str], donor: str, length: int) -> str:
    topic = [rng.choice(words[:300]) for _ in range(3)]
    sentences, total = [], 0
    while total < length:
        # Mostly the page's own three topic words, sometimes any word: templated, on-topic.
        a, b, c = rng.sample(topic, 3) if rng.random() < 0.7 else [rng.choice(words) for _ in range(3)]
        s = rng.choice(_SEO_TEMPLATES).format(a=a, b=b, c=c, year=rng.randint(2015, 2024))
        sentences.append(s)
        total += len(s.split())
    return " ".join(sentences)


def _shuffled(rng: random.Random, words: Sequence[str], donor: str, length: int) -> str:
    tokens = donor.split()
    while len(tokens) < length:
        tokens.append(rng.choice(words))
    rng.shuffle(tokens)
    return " ".join(tokens)


_MAKERS = {
    BOILERPLATE: _boilerplate,
    NAVIGATION: _navigation,
    KEYWORD_SPAM: _keyword_spam,
    SEO_TEMPLATE: _seo_template,
    SHUFFLED: _shuffled,
}


def junk_count(clean_pages: int, dose: float) -> int:
    """Junk pages to add to `clean_pages` so junk is `dose` of the mixed corpus' pages."""
    if not 0 <= dose < 1:
        raise ValueError(f"dose must be in [0, 1), got {dose}")
    return round(clean_pages * dose / (1 - dose))


def plant(clean: Sequence[tuple[str, str]], junk: Sequence[tuple[str, str]], seed: int) -> list[tuple[str, str]]:
    """(id, text) of clean and junk pages interleaved in a seeded order, so junk
    is spread through the corpus rather than at its end."""
    mixed = list(clean) + list(junk)
    ids = [i for i, _ in mixed]
    if len(set(ids)) != len(ids):
        raise ValueError("page ids must be unique across clean and junk pages")
    random.Random(f"winnow-plant:{seed}").shuffle(mixed)
    return mixed
