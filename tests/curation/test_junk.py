"""Junk generation and planting: deterministic for a seed, every kind, sane lengths."""
from __future__ import annotations

import pytest

from winnow.curation.junk import JUNK_KINDS, SHUFFLED, content_words, generate_junk, junk_count, plant

CLEAN = [
    "The river rises in the northern hills and flows south through farmland before it reaches the sea near the old harbour town. " * 3,
    "Researchers measured the growth of wheat under three irrigation schedules and found that evening watering saved water without lowering yield. " * 2,
    "The library reopened after a year of repairs, with a new reading room, longer opening hours and a children's corner full of picture books.",
]


def test_same_seed_same_pages_other_seed_other_pages():
    a = generate_junk(10, seed=3, material=CLEAN)
    assert a == generate_junk(10, seed=3, material=CLEAN)
    b = generate_junk(10, seed=4, material=CLEAN)
    assert [p.text for p in a] != [p.text for p in b]
    assert len({p.id for p in a}) == 10


def test_every_kind_in_turn_with_clean_lengths():
    pages = generate_junk(10, seed=0, material=CLEAN)
    assert [p.kind for p in pages] == list(JUNK_KINDS) * 2
    clean_lengths = {len(t.split()) for t in CLEAN}
    for page in pages:
        words = len(page.text.split())
        assert page.text.strip()
        # As long as a clean page, give or take one generated line.
        assert min(clean_lengths) <= words <= max(clean_lengths) + 40, (page.kind, words)


def test_junk_is_made_of_the_clean_vocabulary():
    vocabulary = set(content_words(CLEAN))
    shuffled = [p for p in generate_junk(5, seed=1, material=CLEAN) if p.kind == SHUFFLED][0]
    words = [w.lower().strip(".,'") for w in shuffled.text.split()]
    assert sum(w in vocabulary for w in words) / len(words) > 0.6
    # Shuffled text keeps a clean page's words but not its order.
    assert sorted(shuffled.text.split()) in [sorted(t.split()) for t in CLEAN] or len(shuffled.text.split()) >= 30
    assert shuffled.text not in CLEAN


def test_dose_counts_and_planting():
    assert junk_count(70, 0.3) == 30 and junk_count(100, 0.0) == 0 and junk_count(40, 0.6) == 60
    with pytest.raises(ValueError):
        junk_count(10, 1.0)
    clean = [(f"c{i}", t) for i, t in enumerate(CLEAN)]
    junk = [(p.id, p.text) for p in generate_junk(4, seed=2, material=CLEAN)]
    mixed = plant(clean, junk, seed=7)
    assert sorted(mixed) == sorted(clean + junk) and mixed == plant(clean, junk, seed=7)
    assert mixed != clean + junk
    with pytest.raises(ValueError, match="unique"):
        plant(clean, clean, seed=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown junk kinds"):
        generate_junk(1, 0, CLEAN, kinds=("spam",))
    with pytest.raises(ValueError, match="material"):
        generate_junk(1, 0, [""])
    assert generate_junk(0, 0, []) == []
