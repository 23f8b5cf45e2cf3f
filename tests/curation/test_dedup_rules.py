"""The dedup rules both engines call (curation/dedup_rules.py)."""
from __future__ import annotations

from winnow.curation.dedup_rules import content_key, verified_edges


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
