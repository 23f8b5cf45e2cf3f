"""Source metadata: extra JSONL fields and Parquet columns travel with each document through
curate, select, dedup and mix, and mix keeps the signal and cluster columns."""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winnow.cli import main as cli_main
from winnow.curation.mix import BY_DOCUMENTS, MixConfig
from winnow.curation.readers.common import ReaderOptions, metadata_columns_of
from winnow.curation.readers.metadata import MetadataError, encode_metadata
from winnow.mix import MixError, run_mix
from winnow.pipelines.run_curate import run_curate
from winnow.select import run_select

IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
WORDS = ("river", "market", "bread", "window", "garden", "letter", "winter", "harbor", "candle", "meadow",
         "silver", "engine", "forest", "painter", "kitchen", "village", "teacher", "mountain", "station", "orchard")
SIGNAL = "gopher_quality_word_count"

RECIPE = """name: meta-annotate
mode: annotate
steps:
  - language: {keep: null, min_score: 0.0}
  - gopher_quality: {min_words: 5}
"""
STRICTER = """name: meta-select
steps:
  - language: {keep: null, min_score: 0.0}
  - gopher_quality: {min_words: 40}
"""


def _text(rng: random.Random, words: int) -> str:
    """English-looking prose (stop words, punctuation) of about `words` words, distinct per seed."""
    out = []
    while len(out) < words:
        a, b, c = rng.sample(WORDS, 3)
        out += f"The {a} and the {b} of the old {c} were still there when we came to see them.".split()
    return " ".join(out)


def _jsonl(path: Path) -> dict[str, dict]:
    """web: JSONL with tags, a score, a nested `meta` object, NaN, non-ASCII and a lone surrogate;
    two lines share a text so dedup clusters them. Returns id -> the fields expected as metadata."""
    rng = random.Random(1)
    lines, expected = [], {}
    shared = _text(rng, 60)
    for i in range(12):
        text = shared if i in (0, 1) else _text(rng, 15 if i % 4 == 3 else 60)  # short ones fail min_words 40
        row = {"id": f"web-{i}", "text": text, "url": f"https://example.org/{i}", "tags": ["news", f"t{i}"],
               "score": i / 10, "meta": {"lang": "en", "depth": [i, {"k": "ü"}]}}
        meta = {k: v for k, v in row.items() if k not in ("id", "text", "url")}
        if i == 5:
            row["score"] = math.nan  # JSON's NaN extension: kept as null
            meta["score"] = None
        if i == 6:
            row["note"] = "\ud800 lone"  # a lone surrogate, as the JSON escape \\ud800 reads
            meta["note"] = "\ud800 lone"
        lines.append(json.dumps(row))
        expected[f"web-{i}"] = meta
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return expected


def _parquet(path: Path) -> dict[str, dict]:
    """books: Parquet with an int, a list, a struct, bytes and a NaN float column."""
    rng = random.Random(2)
    n = 8
    ids = [f"book-{i}" for i in range(n)]
    table = pa.table({
        "id": ids,
        "text": [_text(rng, 15 if i == 7 else 80) for i in range(n)],
        "year": pa.array([1900 + i for i in range(n)], pa.int64()),
        "authors": [[f"a{i}", "b"] for i in range(n)],
        "info": [{"pages": 100 + i, "isbn": f"978-{i}"} for i in range(n)],
        "cover": [bytes([i, 255]) for i in range(n)],
        "rating": [float("nan") if i == 2 else i / 2 for i in range(n)],
    })
    pq.write_table(table, path)
    import base64

    return {
        ids[i]: {"year": 1900 + i, "authors": [f"a{i}", "b"], "info": {"pages": 100 + i, "isbn": f"978-{i}"},
                 "cover": base64.b64encode(bytes([i, 255])).decode(), "rating": None if i == 2 else i / 2}
        for i in range(n)
    }


def _rows(directory: Path, table: str = "documents") -> list[dict]:
    """Rows of one table of an output directory, or of every per-source output under it."""
    files = sorted((directory / table).glob("*.parquet")) or sorted(directory.glob(f"*/{table}/*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """curate (annotate) each source -> select -> dedup -> mix; every output directory."""
    tmp = tmp_path_factory.mktemp("metadata")
    expected = {**_jsonl(tmp / "web.jsonl"), **_parquet(tmp / "books.parquet")}
    (tmp / "annotate.yaml").write_text(RECIPE)
    (tmp / "stricter.yaml").write_text(STRICTER)
    for name, source, records in (("web", "web.jsonl", 12), ("books", "books.parquet", 8)):
        stats = run_curate([str(tmp / source)], str(tmp / "curated" / name), recipe=str(tmp / "annotate.yaml"),
                           beam_args=IN_MEMORY, source_name=name)
        assert stats["accounting"]["ok"] and stats["records_in"] == records
        run_select(str(tmp / "curated" / name), str(tmp / "stricter.yaml"), str(tmp / "selected" / name))
    curated, selected, deduped = tmp / "curated", tmp / "selected", tmp / "deduped"
    # Through the CLI: the command is the stable interface whatever module holds the dedup engine.
    assert cli_main(["dedup", "--input", str(selected / "*" / "documents" / "*.parquet"), "--output", str(deduped), *IN_MEMORY]) == 0
    mixed = tmp / "mixed"
    manifest = run_mix({"web": str(deduped), "books": str(deduped)}, MixConfig({"web": 0.5, "books": 0.5}, by=BY_DOCUMENTS),
                       mixed, split_column="source_name")
    return expected, curated, selected, deduped, mixed, manifest


def _source_name_of(doc_id: str) -> str:
    return "web" if doc_id.startswith("web") else "books"


def test_curate_keeps_every_extra_field_on_kept_and_rejected_rows(chain):
    expected, curated, *_ = chain
    rows = _rows(curated) + _rows(curated, "rejected")
    assert not _rows(curated, "errors")
    assert sorted(r["id"] for r in rows) == sorted(expected)
    for row in rows:
        assert json.loads(row["metadata"]) == expected[row["id"]], row["id"]
    # Valid UTF-8 throughout: an object holding a lone surrogate is \u-escaped; others stay readable.
    by_id = {r["id"]: r["metadata"] for r in rows}
    assert "\\ud800" in by_id["web-6"] and by_id["web-6"].isascii()
    assert '"k":"ü"' in by_id["web-7"]


def test_select_keeps_metadata_on_both_tables(chain):
    expected, _, selected, *_ = chain
    kept, rejected = _rows(selected), _rows(selected, "rejected")
    assert kept and rejected, "the stricter recipe rejects the short documents"
    assert {r["id"] for r in rejected} >= {"web-3", "web-7", "web-11", "book-7"}
    for row in kept + rejected:
        assert json.loads(row["metadata"]) == expected[row["id"]]


def test_dedup_passes_metadata_and_signals_through(chain):
    expected, _, selected, deduped, *_ = chain
    before = {r["id"]: r for r in _rows(selected)}
    after = _rows(deduped)
    assert {r["id"] for r in after} == set(before) - {"web-1"}  # web-1 repeats web-0's text
    for row in after:
        assert json.loads(row["metadata"]) == expected[row["id"]]
        assert row[SIGNAL] == before[row["id"]][SIGNAL]
    web0 = next(r for r in after if r["id"] == "web-0")
    assert web0["minhash_cluster_size"] == 2 and web0["cluster_id"]


def test_mix_keeps_metadata_signals_and_cluster_columns(chain):
    expected, _, _, deduped, mixed, manifest = chain
    source = {r["id"]: r for r in _rows(deduped)}
    rows = _rows(mixed)
    assert rows and manifest["documents"] == len(rows)
    names = pq.read_schema(next((mixed / "documents").glob("*.parquet"))).names
    assert {"metadata", SIGNAL, "cluster_id", "minhash_cluster_size", "mix_copy"} <= set(names)
    for row in rows:
        original = source[row["id"]]
        assert json.loads(row["metadata"]) == expected[row["id"]]
        assert row["source_name"] == _source_name_of(row["id"])
        for column in (SIGNAL, "cluster_id", "minhash_cluster_size", "language", "language_score"):
            assert row[column] == original[column], (row["id"], column)


def test_mix_of_sources_with_different_columns_fills_nulls_and_refuses_clashing_types(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": ["a1"], "text": ["alpha text"], "only_a": [1], "shared": [1]}), a)
    pq.write_table(pa.table({"id": ["b1"], "text": ["beta text"], "shared": [2.5]}), b)
    run_mix({"a": str(a), "b": str(b)}, MixConfig({"a": 0.5, "b": 0.5}, by=BY_DOCUMENTS), tmp_path / "out")
    rows = {r["id"]: r for r in _rows(tmp_path / "out")}
    assert rows["a1"]["only_a"] == 1 and rows["b1"]["only_a"] is None
    assert rows["a1"]["shared"] == 1.0 and rows["b1"]["shared"] == 2.5  # int64 and double: double
    pq.write_table(pa.table({"id": ["b1"], "text": ["beta text"], "shared": [["x"]]}), b)
    with pytest.raises(MixError, match="column 'shared' is int64 in .*a.parquet but list"):
        run_mix({"a": str(a), "b": str(b)}, MixConfig({"a": 0.5, "b": 0.5}, by=BY_DOCUMENTS), tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_encode_metadata_rules():
    assert encode_metadata({}) is None
    assert json.loads(encode_metadata({"x": math.inf, "y": [math.nan, 1.5]})) == {"x": None, "y": [None, 1.5]}
    text = encode_metadata({"s": "a\ud800b", "t": "ü"})
    text.encode("utf-8")  # valid UTF-8
    assert json.loads(text) == {"s": "a\ud800b", "t": "ü"}
    with pytest.raises(MetadataError, match="field 'bad'"):
        encode_metadata({"ok": 1, "bad": object()})
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(MetadataError, match="field 'deep'.*too deeply"):
        encode_metadata({"deep": deep})


def test_unencodable_value_is_an_error_row_not_a_crash():
    import io

    from winnow.curation.archive import ReadFailure
    from winnow.curation.readers.parquet import iter_parquet

    # A JSONL line can hold any JSON, so the unencodable case comes from Parquet: a bad UTF-8 string column.
    table = pa.table({"text": ["fine", "also fine"],
                      "tag": pa.array([b"ok", b"\xff"], pa.binary()).cast(pa.string(), safe=False)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    buffer.seek(0)
    first, second = iter_parquet(buffer, "t.parquet")
    assert json.loads(first.metadata) == {"tag": "ok"}
    assert isinstance(second, ReadFailure) and "column 'tag'" in second.message and "row 2" in second.message


def test_keep_columns_and_drop_metadata():
    import io

    from winnow.curation.readers.jsonl import iter_jsonl

    line = b'{"text": "t", "id": "1", "a": 1, "b": 2, "date": "2024"}\n'
    (rec,) = iter_jsonl(io.BytesIO(line), "x.jsonl")
    assert json.loads(rec.metadata) == {"a": 1, "b": 2} and rec.date == "2024"  # date fills warc_date
    (rec,) = iter_jsonl(io.BytesIO(line), "x.jsonl", ReaderOptions(metadata_columns=metadata_columns_of("b,zz", False)))
    assert json.loads(rec.metadata) == {"b": 2}  # a field a line lacks is absent from it
    (rec,) = iter_jsonl(io.BytesIO(line), "x.jsonl", ReaderOptions(metadata_columns=metadata_columns_of(None, True)))
    assert rec.metadata is None
    with pytest.raises(ValueError, match="contradict"):
        metadata_columns_of("a", True)
    with pytest.raises(ValueError, match="already a document column"):
        ReaderOptions(metadata_columns=("text",))


def test_cli_rejects_keep_columns_naming_the_text_column(tmp_path, capsys):
    (tmp_path / "x.jsonl").write_text('{"text": "hello"}\n')
    code = cli_main(["curate", "--input", str(tmp_path / "x.jsonl"), "--output", str(tmp_path / "out"),
                     "--keep-columns", "text"])
    assert code == 2
    assert "already a document column" in capsys.readouterr().err


def test_graph_mode_dedup_passes_metadata_through_too(chain, tmp_path):
    """The fixture's dedup ran the DirectRunner's default engine (spill); the Beam graph engine keeps the column too."""
    expected, _, selected, deduped, *_ = chain
    out = tmp_path / "graph"
    argv = ["dedup", "--input", str(selected / "*" / "documents" / "*.parquet"), "--output", str(out), "--dedup-mode", "graph"]
    assert cli_main([*argv, *IN_MEMORY]) == 0
    rows = {r["id"]: r for r in _rows(out)}
    assert set(rows) == {r["id"] for r in _rows(deduped)}
    for doc_id, row in rows.items():
        assert json.loads(row["metadata"]) == expected[doc_id]


def test_resume_compares_kept_columns_with_the_recorded_run():
    """The batched run's manifest is JSON on disk: a tuple of kept columns must read back equal."""
    from winnow.pipelines.curate import CurateSettings
    from winnow.pipelines.curate_resume import manifest_changes, run_manifest

    def manifest(columns):
        settings = CurateSettings(steps=(), reader_options=ReaderOptions(metadata_columns=columns))
        return run_manifest([("a.jsonl", 10)], settings, "r", "fp", 8, 0)

    recorded = json.loads(json.dumps(manifest(("tags", "score"))))
    assert manifest_changes(recorded, manifest(("tags", "score"))) == []
    changes = manifest_changes(recorded, manifest(()))
    assert len(changes) == 1 and "reader_options" in changes[0] and '"metadata_columns": []' in changes[0]
