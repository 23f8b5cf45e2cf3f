"""Normalisation, exact keys, MinHash signatures (vs true Jaccard and datasketch) and config."""
from __future__ import annotations

import random

import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from winnow.curation.config import RecipeError
from winnow.curation.minhash import (
    MinHashConfig,
    MinHasher,
    band_keys,
    estimated_jaccard,
    exact_text_key,
    exact_url_key,
    minhash_config_from_mapping,
    normalize_text,
    normalize_words,
    normalize_url,
    normalized_word_bytes,
    shingle_hashes,
    shingle_set,
    signature_from_bytes,
    signature_to_bytes,
    true_jaccard,
)

VOCAB = [f"w{i}" for i in range(3000)]


def test_normalisation_lowercases_strips_punctuation_diacritics_and_whitespace() -> None:
    assert normalize_text("  Héllo,\tWÖRLD!\n\n Ça  va? ") == "hello world ca va"
    assert normalize_text("naïve café — «déjà vu»") == "naive cafe deja vu"
    assert normalize_text("...!?") == ""


def _reference_words(text: str) -> list[str]:
    """The definition, one character at a time: NFKD, lowercase, drop P* and Mn, split."""
    text = unicodedata.normalize("NFKD", text).lower()
    kept = "".join(c for c in text if unicodedata.category(c)[0] != "P" and unicodedata.category(c) != "Mn")
    return kept.split()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60)
       | st.text(alphabet="aZ .,;!?-_'\"\t\n\x1c\x85\xa0\u2003éü“”—½ﬁß中文。", max_size=60))
def test_fast_normalisation_matches_the_definition(text: str) -> None:
    assert normalize_words(text) == _reference_words(text)
    assert normalized_word_bytes(text) == [w.encode("utf-8") for w in _reference_words(text)]


def test_exact_keys() -> None:
    assert exact_text_key("Hello, world!") == exact_text_key("hello   WORLD")
    assert exact_text_key("hello world") != exact_text_key("hello worlds")
    assert len(exact_text_key("x").split(":")[1]) == 32  # 128 bits
    assert normalize_url("https://WWW.Example.com:443/a/b/#frag") == "example.com/a/b"
    assert exact_url_key("http://example.com/a/") == exact_url_key("https://www.example.com/a")
    assert exact_url_key("") is None and exact_url_key(None) is None


def test_config_validation_and_threshold_derivation() -> None:
    with pytest.raises(ValueError, match="exceeds num_perm"):
        MinHashConfig(bands=15, rows=8)
    with pytest.raises(ValueError, match="threshold"):
        MinHashConfig(threshold=1.5)
    with pytest.raises(ValueError, match="num_perm"):
        MinHashConfig(num_perm=0)
    for threshold, num_perm in [(0.5, 112), (0.72, 112), (0.85, 128), (0.3, 64)]:
        config = MinHashConfig(num_perm=num_perm, threshold=threshold)
        assert (config.bands, config.rows) == _optimal_param(threshold, num_perm, 0.5, 0.5)
    assert MinHashConfig().detection_probability(0.8) == pytest.approx(0.924, abs=0.001)


def test_config_from_recipe_mapping_names_the_key() -> None:
    config = minhash_config_from_mapping({"num_perm": 128, "bands": 16, "rows": 8, "urls": True}, "recipe x, dedup")
    assert (config.num_perm, config.bands, config.urls) == (128, 16, True)
    with pytest.raises(RecipeError, match="recipe x, dedup.*nperm"):
        minhash_config_from_mapping({"nperm": 3}, "recipe x, dedup")
    with pytest.raises(RecipeError, match="exceeds num_perm"):
        minhash_config_from_mapping({"bands": 20}, "recipe x, dedup")


def test_short_and_empty_documents() -> None:
    hasher = MinHasher(MinHashConfig())
    assert hasher.signature("") is None
    assert hasher.signature(" ?! ") is None
    # Fewer words than the shingle size: the whole text is one shingle.
    assert shingle_hashes(["a", "b"], 5).shape == (1,)
    short = hasher.signature("Two words")
    assert short is not None and short.shape == (112,)
    assert np.array_equal(short, hasher.signature("two, WORDS!"))
    assert estimated_jaccard(short, hasher.signature("two other")) < 0.2


def test_signature_is_deterministic_per_seed_and_roundtrips_bytes() -> None:
    text = " ".join(random.Random(0).choices(VOCAB, k=300))
    a = MinHasher(MinHashConfig(seed=1)).signature(text)
    assert np.array_equal(a, MinHasher(MinHashConfig(seed=1)).signature(text))
    assert not np.array_equal(a, MinHasher(MinHashConfig(seed=2)).signature(text))
    assert np.array_equal(signature_from_bytes(signature_to_bytes(a)), a)
    keys = band_keys(a, 14, 8)
    assert [k[0] for k in keys] == list(range(14))
    assert keys == band_keys(a.copy(), 14, 8)


def test_signature_of_a_union_is_the_elementwise_min() -> None:
    # MinHash's defining property, across the internal chunk boundary (8192 shingles).
    hasher = MinHasher(MinHashConfig(num_perm=16, bands=4, rows=4))
    hashes = shingle_hashes(random.Random(3).choices(VOCAB, k=10_000), 5)
    parts = [hashes[:3001], hashes[3001:7777], hashes[7777:]]
    expected = np.min(np.stack([hasher.signature_of_hashes(p) for p in parts]), axis=0)
    assert np.array_equal(hasher.signature_of_hashes(hashes), expected)
    assert np.array_equal(hasher.signature_of_hashes(hashes[::-1]), expected)


def _pair(rng: random.Random, edit_rate: float) -> tuple[str, str]:
    base = rng.choices(VOCAB, k=rng.randrange(150, 400))
    edited = [rng.choice(VOCAB) if rng.random() < edit_rate else w for w in base]
    return " ".join(base), " ".join(edited)


def test_jaccard_estimates_agree_with_truth_and_with_datasketch() -> None:
    num_perm = 128
    hasher = MinHasher(MinHashConfig(num_perm=num_perm))
    rng = random.Random(42)
    ours, theirs, truth = [], [], []
    for i in range(150):
        a, b = _pair(rng, edit_rate=rng.choice([0.0, 0.02, 0.05, 0.1, 0.2, 0.4]))
        sa, sb = shingle_set(a, 5), shingle_set(b, 5)
        truth.append(true_jaccard(sa, sb))
        ours.append(estimated_jaccard(hasher.signature(a), hasher.signature(b)))
        ma, mb = MinHash(num_perm=num_perm, seed=i), MinHash(num_perm=num_perm, seed=i)
        ma.update_batch([" ".join(s).encode() for s in sa])
        mb.update_batch([" ".join(s).encode() for s in sb])
        theirs.append(ma.jaccard(mb))
    ours, theirs, truth = map(np.array, (ours, theirs, truth))
    sigma = np.sqrt(np.maximum(truth * (1 - truth), 0.01) / num_perm)
    # Every estimate within 4.5 standard errors; no bias; same error scale as datasketch.
    assert np.all(np.abs(ours - truth) <= 4.5 * sigma)
    assert abs(np.mean(ours - truth)) < 0.01
    our_err, their_err = np.mean(np.abs(ours - truth)), np.mean(np.abs(theirs - truth))
    assert our_err < 0.03 and their_err < 0.03
    assert our_err < 1.5 * their_err + 0.005
    assert np.mean(np.abs(ours - theirs)) < 0.04


def test_batched_shingle_hashes_are_the_word_ngram_sets() -> None:
    # Equal word n-grams hash equally across documents and spacing; distinct ones do not collide.
    rng = random.Random(8)
    texts = [" ".join(rng.choices(VOCAB[:40], k=rng.randrange(0, 60))) for _ in range(40)] + ["a  b,  c", "a b c"]
    hasher = MinHasher(MinHashConfig())
    matrix, has = hasher.signatures(texts)
    for i, text in enumerate(texts):
        single = hasher.signature(text)
        assert (single is None) == (not has[i]) and (single is None or np.array_equal(single, matrix[i]))
    for ngram in (1, 3, 5):
        hashed = [set(shingle_hashes(normalize_words(t), ngram).tolist()) for t in texts]
        sets = [shingle_set(t, ngram) for t in texts]
        for a in range(len(texts)):
            assert len(hashed[a]) == len(sets[a])
            for b in range(a + 1, len(texts)):
                assert len(hashed[a] & hashed[b]) == len(sets[a] & sets[b])
    keys = hasher.batch(texts)[2]
    assert keys == [exact_text_key(t) for t in texts] and keys[-1] == keys[-2]


def test_span_hashes_are_the_same_from_many_threads() -> None:
    """The multi-threaded DirectRunner (small dedup inputs) hashes in several threads at once while
    the cached span powers grow: every thread must get the same hashes as one thread alone."""
    from concurrent.futures import ThreadPoolExecutor

    from winnow.curation import minhash

    rng = random.Random(7)
    documents = [[f"w{rng.randrange(500)}" for _ in range(rng.randrange(50, 40_000))] for _ in range(24)]
    minhash._powers.clear()
    serial = [shingle_hashes(words, 5) for words in documents]
    for _ in range(3):
        minhash._powers.clear()  # every round starts from an empty cache that the threads grow together
        with ThreadPoolExecutor(max_workers=8) as pool:
            threaded = list(pool.map(lambda words: shingle_hashes(words, 5), documents))
        assert all(np.array_equal(a, b) for a, b in zip(serial, threaded))
