"""The component steps of both dedup engines against the union-find reference
(the Beam rounds themselves run in tests/pipelines/test_dedup_pipeline.py)."""
from __future__ import annotations

import random

import pytest

from tests.union_find import union_find_components
from winnow.curation.components import is_unsettled, large_star, min_label_components, small_star


def _graphs(seed: int) -> dict[str, list[tuple[int, int]]]:
    rng = random.Random(seed)
    chain = [(i, i + 1) for i in range(300)]
    rng.shuffle(chain)
    # Node labels in a random order along the chain: the worst case for min-propagation.
    perm = list(range(301))
    rng.shuffle(perm)
    shuffled_chain = [(perm[u], perm[v]) for u, v in chain]
    star = [(1000, i) for i in range(50)] + [(i, 2000) for i in range(50, 90)]
    clique = [(u, v) for u in range(20) for v in range(u + 1, 20)]
    small = [(3 * i, 3 * i + 1) for i in range(100)] + [(3 * i + 1, 3 * i + 2) for i in range(0, 100, 2)]
    random_sparse = [(rng.randrange(500), rng.randrange(500)) for _ in range(400)]
    return {
        "chain": chain,
        "shuffled_chain": shuffled_chain,
        "stars": star,
        "clique": clique,
        "many_small": small,
        "random_sparse": random_sparse,
        "mixed": shuffled_chain + [(u + 10_000, v + 10_000) for u, v in clique] + small,
    }


def test_isolated_nodes_keep_their_own_label_in_reference() -> None:
    labels = union_find_components([(5, 3), (3, 9)], nodes=[1, 7, 3])
    assert labels == {1: 1, 7: 7, 3: 3, 5: 3, 9: 3}


def test_star_steps() -> None:
    # Large-star: larger neighbours of 5 are linked to the minimum of {5} and its neighbours.
    assert large_star(5, [2, 7, 9]) == [(7, 2), (9, 2)]
    assert large_star(1, [7, 9]) == [(7, 1), (9, 1)]
    # Small-star: 5 and its smaller neighbours are linked to the smallest of them.
    assert small_star(5, [2, 3]) == [(3, 2), (5, 2)]
    assert is_unsettled(5, [2, 7]) and not is_unsettled(5, [2]) and not is_unsettled(1, [5, 7])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_min_label_components_on_codes_matches_union_find(seed: int) -> None:
    import numpy as np

    for name, edges in _graphs(seed).items():
        n = 1 + max(max(e) for e in edges)
        labels, rounds = min_label_components(np.array(edges), n)
        expected = union_find_components(edges, range(n))
        assert [int(x) for x in labels] == [expected[i] for i in range(n)], name
        assert rounds <= 20, (name, rounds)
    labels, rounds = min_label_components(np.empty((0, 2), dtype=np.int64), 3)
    assert labels.tolist() == [0, 1, 2] and rounds == 0
