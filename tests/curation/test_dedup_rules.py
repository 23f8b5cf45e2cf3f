"""The dedup rules both engines call (curation/dedup_rules.py)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winnow.curation.dedup_rules import (
    KIND_EXACT,
    KIND_NEAR,
    KIND_ORDER,
    bucket_edges,
    content_key,
    exact_group,
    final_removal,
    near_representative,
    repointed,
    same_id_rows,
    star_edges,
    verified_edges,
)


def test_each_member_links_to_the_first_lower_member_accepted():
    accepted = {(1, 3), (2, 3), (2, 4)}
    edges, rejected = verified_edges([1, 2, 3, 4, 5], lambda u, v: (u, v) in accepted)
    # 3 links to 1 (the first lower one accepted), not also to 2; 2 and 5 find none.
    assert edges == [(1, 3), (2, 4)]
    assert rejected == 2


def test_a_bucket_of_one_or_none_has_no_edges():
    assert verified_edges([], lambda u, v: True) == ([], 0)
    assert verified_edges(["a"], lambda u, v: True) == ([], 0)
    assert verified_edges(["a", "b", "c"], lambda u, v: True) == ([("a", "b"), ("a", "c")], 0)


def test_content_key_orders_by_source_url_text_and_reads_missing_as_none():
    rows = [
        {"source": "b", "url": "u", "text": "x"},
        {"source": "a", "url": "v", "text": "y"},
        {"source": "a", "url": "u", "text": "z"},
        {"url": "u", "text": "w"},
    ]
    assert [r.get("text") for r in sorted(rows, key=content_key)] == ["w", "z", "y", "x"]
    assert content_key({}) == ("None", "None", "None")


# --------------------------------------------------------------------------- exact groups


def test_the_lowest_id_of_an_exact_group_survives_and_the_others_point_at_it():
    assert exact_group(["c", "a", "b"]) == ("a", ["b", "c"])


def test_an_exact_group_of_one_removes_nothing_and_a_repeated_id_is_one_document():
    assert exact_group(["only"]) == ("only", [])
    # Two rows carrying one id are one document: it survives once and is never removed.
    assert exact_group(["b", "a", "b", "a"]) == ("a", ["b"])


def test_exact_group_compares_ids_as_given_strings_as_strings_and_numbers_as_numbers():
    assert exact_group(["9", "10", "100"]) == ("10", ["100", "9"])
    assert exact_group([9, 10, 100]) == (9, [10, 100])


def test_an_empty_exact_group_is_an_error():
    with pytest.raises(ValueError, match="at least one member"):
        exact_group([])


# --------------------------------------------------------------------------- re-pointing


def test_a_removal_keeps_its_representative_unless_that_one_was_removed_later():
    assert repointed("r", []) == "r"
    assert repointed("r", iter(["s"])) == "s"  # any iterable, as Beam's grouped values


def test_a_representative_removed_more_than_once_points_at_the_lowest_later_survivor():
    assert repointed("r", ["t", "s", "u"]) == "s"
    assert repointed("r", ["9", "10"]) == "10"  # string order, as the ids are compared


# --------------------------------------------------------------------------- band buckets


def test_without_verification_every_member_links_to_the_lowest():
    assert star_edges(["a", "b", "c"]) == [("a", "b"), ("a", "c")]
    assert bucket_edges(["a", "b", "c"]) == ([("a", "b"), ("a", "c")], 0)
    assert bucket_edges(["a", "b", "c"], None) == bucket_edges(["a", "b", "c"])


def test_a_bucket_of_one_member_links_nothing_either_way():
    assert star_edges(["a"]) == []
    assert bucket_edges(["a"]) == ([], 0)
    assert bucket_edges(["a"], lambda u, v: True) == ([], 0)


def test_with_verification_bucket_edges_is_verified_edges():
    accepted = {(1, 3), (2, 4)}
    members = [1, 2, 3, 4, 5]
    assert bucket_edges(members, lambda u, v: (u, v) in accepted) == ([(1, 3), (2, 4)], 2)
    # Accepting every pair gives the star: verification only ever removes links.
    assert bucket_edges(members, lambda u, v: True) == bucket_edges(members)


def test_the_rules_depend_only_on_how_ids_compare():
    # The spill engine asks a rule once per group size on positions 0..n-1 and maps the answer
    # onto each group's ascending members; that is only right if relabelling in order is harmless.
    members = ["10", "9", "a", "b0"]
    ascending = sorted(members)
    edges, _ = bucket_edges(range(len(ascending)))
    assert [(ascending[u], ascending[v]) for u, v in edges] == bucket_edges(ascending)[0]
    kept, removed = exact_group(range(len(ascending)))
    assert (ascending[kept], [ascending[r] for r in removed]) == exact_group(members)


# --------------------------------------------------------------------------- components and final removals


def test_a_node_is_a_near_duplicate_of_its_label_unless_it_is_the_label():
    assert near_representative("a", "a") is None
    assert near_representative("b", "a") == "a"
    assert near_representative(0, 0) is None  # a falsy id is still an id


def test_an_id_removed_more_than_once_keeps_exact_before_near_then_the_lowest_representative():
    assert final_removal([(KIND_NEAR, "a"), (KIND_EXACT, "z")]) == (KIND_EXACT, "z")
    assert final_removal([(KIND_EXACT, "m"), (KIND_EXACT, "c")]) == (KIND_EXACT, "c")
    assert final_removal([(KIND_NEAR, "9"), (KIND_NEAR, "10")]) == (KIND_NEAR, "10")
    assert final_removal(iter([(KIND_NEAR, "q")])) == (KIND_NEAR, "q")


def test_no_removal_is_none_and_an_unknown_kind_is_an_error():
    assert final_removal([]) is None
    with pytest.raises(ValueError, match="unknown duplicate kind 'fuzzy'"):
        final_removal([(KIND_EXACT, "a"), ("fuzzy", "b")])


def test_the_pipelines_use_the_kinds_defined_with_the_rule():
    from winnow.pipelines.dedup import common, decide

    assert (common.KIND_EXACT, common.KIND_NEAR) == KIND_ORDER == (KIND_EXACT, KIND_NEAR)
    assert decide.KINDS == {decide.STATUS_EXACT: KIND_EXACT, decide.STATUS_NEAR: KIND_NEAR}


# --------------------------------------------------------------------------- rows sharing an id


def test_a_surviving_id_keeps_its_first_row_and_the_rest_are_its_exact_duplicates():
    assert same_id_rows("a", 3, None) == [None, (KIND_EXACT, "a"), (KIND_EXACT, "a")]
    assert same_id_rows("a", 1, None) == [None]


def test_a_removed_ids_rows_are_all_removed_alike():
    assert same_id_rows("b", 2, (KIND_NEAR, "a")) == [(KIND_NEAR, "a"), (KIND_NEAR, "a")]
    assert same_id_rows("b", 1, (KIND_EXACT, "a")) == [(KIND_EXACT, "a")]


def test_an_id_without_rows_decides_nothing():
    assert same_id_rows("a", 0, None) == []
    assert same_id_rows("a", 0, (KIND_NEAR, "0")) == []


@given(st.lists(st.text(alphabet="0123456789ab", min_size=1, max_size=3), min_size=1, max_size=12))
@settings(max_examples=200, deadline=None)
def test_asking_on_positions_gives_the_same_decisions_as_asking_on_ids(ids):
    # What decide.py relies on when it asks a rule once per group size: any ids, in their order.
    ascending = sorted(set(ids))
    edges, rejected = bucket_edges(range(len(ascending)))
    assert ([(ascending[u], ascending[v]) for u, v in edges], rejected) == bucket_edges(ascending)
    kept, removed = exact_group(range(len(ascending)))
    assert (ascending[kept], [ascending[r] for r in removed]) == exact_group(ids)
