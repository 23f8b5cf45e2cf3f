"""The review sample: stratified over every rule, deterministic for a seed; reading outputs."""
from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.review.helpers import REJECTIONS, SCORE, make_output
from winnow.review.sample import allocate, draw_sample, score_bands
from winnow.review.source import ReviewInputError, load_index, load_texts


def test_allocate_shares_equally_and_gives_leftovers_to_larger_strata():
    assert allocate({"a": 100, "b": 100, "c": 100}, 30) == {"a": 10, "b": 10, "c": 10}
    # a small stratum cannot use its share: the rest goes to the others
    assert allocate({"small": 2, "a": 100, "b": 100}, 30) == {"small": 2, "a": 14, "b": 14}
    assert sum(allocate({"x": 3, "y": 4}, 100).values()) == 7
    # fewer items than strata: the smallest strata get one each
    assert allocate({"a": 1, "b": 5, "c": 50}, 2) == {"a": 1, "b": 1, "c": 0}
    with pytest.raises(ValueError):
        allocate({"a": 1}, -1)


def test_sample_covers_every_rule_and_is_deterministic(tmp_path):
    out = make_output(tmp_path / "out", with_duplicates=True)
    index = load_index(out)
    items = draw_sample(index, 25, seed=7)
    strata = {i.stratum for i in items}
    assert strata == {"kept", "duplicate/dedup/near", *(f"rejected/{s}/{r}" for s, r, _ in REJECTIONS)}
    assert len(items) == 25 and len({i.record.id for i in items}) == 25
    assert [i.index for i in items] == list(range(25))
    again = draw_sample(load_index(out), 25, seed=7)
    assert [i.record.id for i in again] == [i.record.id for i in items]
    other = draw_sample(index, 25, seed=8)
    assert [i.record.id for i in other] != [i.record.id for i in items]
    # the first items interleave strata: stopping early still reviews several filters
    assert len({i.stratum for i in items[:5]}) == 5


def test_sample_does_not_depend_on_file_order(tmp_path):
    out = make_output(tmp_path / "out")
    ids = [i.record.id for i in draw_sample(load_index(out), 12, seed=3)]
    # the same rows written as one shard instead of two
    merged = pq.read_table(out / "documents")
    shutil.rmtree(out / "documents")
    (out / "documents").mkdir()
    pq.write_table(merged.take(list(reversed(range(merged.num_rows)))), out / "documents" / "part-9.parquet")
    assert sorted(i.record.id for i in draw_sample(load_index(out), 12, seed=3)) == sorted(ids)


def test_score_bands_split_kept_documents(tmp_path):
    out = make_output(tmp_path / "out")
    items = draw_sample(load_index(out), 40, seed=0, bands=3)
    kept_strata = sorted({i.stratum for i in items if i.record.verdict == "kept"})
    assert len(kept_strata) == 3 and all(s.startswith(f"kept/{SCORE} score ") for s in kept_strata)
    edges, labels = score_bands([0.1, 0.2, None, 0.9], 2)
    assert len(edges) == 1 and labels[2] == "score none" and labels[0] != labels[3]
    with pytest.raises(ValueError, match="no classifier score column 'classifier_x_score'"):
        draw_sample(load_index(out), 10, bands=2, score_column="classifier_x_score")


def test_bands_need_a_score_column(tmp_path):
    out = make_output(tmp_path / "out")
    table = pq.read_table(out / "documents")
    shutil.rmtree(out / "documents")
    (out / "documents").mkdir()
    pq.write_table(table.drop_columns([SCORE]), out / "documents" / "part-0.parquet")
    shutil.rmtree(out / "rejected")
    with pytest.raises(ValueError, match="--score-bands needs a classifier score column"):
        draw_sample(load_index(out), 10, bands=2)


def test_texts_are_read_only_for_the_sample(tmp_path):
    out = make_output(tmp_path / "out")
    index = load_index(out)
    triage = [r for r in index.records if r.stage == "triage"][:1]
    kept = [r for r in index.records if r.id == "kept-003"]
    texts = load_texts([*triage, *kept])
    assert texts == {triage[0].id: None, "kept-003": "word " * 65}


def test_not_a_winnow_output(tmp_path):
    with pytest.raises(ReviewInputError, match="no such directory"):
        load_index(tmp_path / "missing")
    (tmp_path / "empty" / "documents").mkdir(parents=True)
    with pytest.raises(ReviewInputError, match="not a Winnow output directory: no Parquet files under documents/"):
        load_index(tmp_path / "empty")


def test_corrupt_and_foreign_files_are_named(tmp_path):
    out = make_output(tmp_path / "out")
    bad = out / "documents" / "part-00001.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(ReviewInputError, match="part-00001.parquet: not a readable Parquet file"):
        load_index(out)
    from winnow import schemas

    pq.write_table(pa.Table.from_pylist([], schema=schemas.error_schema()), bad)
    with pytest.raises(ReviewInputError, match="part-00001.parquet: is a Winnow 'errors' table, expected 'documents'"):
        load_index(out)
