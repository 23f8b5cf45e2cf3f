"""The shared token cache under Beam's worker threads: the same words and sentence counts as one
thread, even while the cache is cleared (a tiny limit forces a clear on almost every document)."""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("spacy", reason="spaCy (the curate extra) splits words as DataTrove does")

from winnow.curation.filters import reference_units as ru  # noqa: E402

PIECES = ["don't", "(see", "below),", "U.S.", "e-mail:", "x|y", "“quoted”", "50%", "i.e.", "can't!", "--", "a/b", "N.Y.,"]
WORDS = ["river", "data", "the", "of", "model", "page"]


def _texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for n in range(count):
        chosen = [rng.choice(PIECES + WORDS) + (str(n) if rng.random() < 0.3 else "") for _ in range(40)]
        texts.append(" ".join(chosen) + ".\nSecond line here. And more!")
    return texts


def _split(text: str) -> tuple:
    return ru.words(text), tuple(ru.token_kinds(ru.words(text))), ru.line_sentence_count(text.splitlines()[0])


def test_threads_see_the_same_tokens_while_the_cache_is_cleared(monkeypatch):
    texts = _texts(300)
    ru.set_token_cache(None)
    alone = [_split(t) for t in texts]
    monkeypatch.setattr(ru, "CHUNK_CACHE_LIMIT", 20)
    ru.set_token_cache(None)
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(_split, texts))
    ru.set_token_cache(None)
    assert threaded == alone
