"""The dedup pipeline: Beam stages with TestPipeline, and run_dedup end to end."""
from __future__ import annotations

import json
import random
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from winnow import schemas
from winnow.cli import main as cli_main
from tests.union_find import union_find_components
from winnow.curation.minhash import MinHashConfig
from winnow.schemas.inputs import ParquetInputError
from winnow.pipelines.dedup.connected_components import ConnectedComponents
from winnow.pipelines.dedup.launcher import run_dedup
from winnow.pipelines.dedup.sink import output_document_schema
from winnow.pipelines.dedup.graph import ExactDedup, LshCandidatePairs, MinHashSignatures

IN_PROCESS = ["--runner=DirectRunner", "--direct_running_mode=in_memory"]
SIGNALS = [("quality_score", "float"), ("quality_flag", "bool")]
WORDS = [f"tok{i}" for i in range(5000)]


def _hex(n: int) -> str:
    return f"{n:016x}"


def _row(n: int, text: str, url: str | None = None) -> dict:
    return {
        "id": _hex(n), "url": url or f"https://example.com/{n}", "domain": "example.com",
        "warc_record_id": f"<urn:uuid:{n}>", "warc_date": "2024-01-01T00:00:00Z", "source": "test.warc.gz",
        "text": text, "language": "en", "language_score": 0.9, "quality_score": n / 10, "quality_flag": n % 2 == 0,
    }


def _write(directory: Path, name: str, rows: list[dict]) -> None:
    (directory / "documents").mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schemas.document_schema(SIGNALS))
    pq.write_table(table, directory / "documents" / name, compression="zstd")


def _text(rng: random.Random, n: int = 200) -> str:
    return " ".join(rng.choices(WORDS, k=n))


def _edit(rng: random.Random, text: str, rate: float) -> str:
    """Replace exactly max(1, rate * words) words with new ones (never a no-op)."""
    words = text.split()
    for pos in rng.sample(range(len(words)), max(1, round(rate * len(words)))):
        words[pos] = f"edit{rng.randrange(10**9)}"
    return " ".join(words)


def _corpus(seed: int = 7) -> tuple[list[dict], dict[str, tuple[str, str]]]:
    """Rows plus the expected duplicates: id -> (kind, representative)."""
    rng = random.Random(seed)
    rows, expected = [], {}
    for n in range(1, 41):
        rows.append(_row(n * 10, _text(rng)))
    # Exact copies (after normalisation) of doc 10, with higher ids: removed, cluster 10.
    rows.append(_row(1001, rows[0]["text"].upper() + " !!"))
    expected[_hex(1001)] = ("exact", _hex(10))
    # A near copy (1% edits) of doc 20 with a LOWER id: it survives, doc 20 is removed.
    rows.append(_row(5, _edit(rng, rows[1]["text"], 0.01)))
    expected[_hex(20)] = ("near", _hex(5))
    # An exact copy of doc 20: its representative is doc 20, itself a near duplicate of 5.
    rows.append(_row(2002, rows[1]["text"]))
    expected[_hex(2002)] = ("exact", _hex(5))
    # A chain of near copies 30 <- 3001 <- 3002 (each ~1% from the previous).
    prev = rows[2]["text"]
    for k in (3001, 3002):
        prev = _edit(rng, prev, 0.01)
        rows.append(_row(k, prev))
        expected[_hex(k)] = ("near", _hex(30))
    # Documents shorter than the shingle size, and empty ones.
    rows += [_row(4001, "tiny doc"), _row(4002, "Tiny, DOC."), _row(4003, "other tiny"), _row(4004, ""), _row(4005, "?!")]
    expected[_hex(4002)] = ("exact", _hex(4001))
    expected[_hex(4005)] = ("exact", _hex(4004))
    return rows, expected


def _read_dir(path: Path) -> list[dict]:
    files = sorted(path.glob("*.parquet"))
    assert files, f"no Parquet files in {path}"
    return [r for f in files for r in pq.read_table(f).to_pylist()]


# --------------------------------------------------------------------------- Beam stages


def _random_graph(seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    perm = list(range(400))
    rng.shuffle(perm)
    chain = [(perm[i], perm[i + 1]) for i in range(60)]
    star = [(perm[100], perm[i]) for i in range(101, 130)]
    clique = [(perm[u], perm[v]) for u in range(140, 150) for v in range(u + 1, 150)]
    small = [(perm[i], perm[i + 1]) for i in range(200, 300, 2)]
    sparse = [(perm[rng.randrange(300, 400)], perm[rng.randrange(300, 400)]) for _ in range(60)]
    return [(_hex(u), _hex(v)) for u, v in chain + star + clique + small + sparse]


@pytest.mark.parametrize("seed", [0, 1])
def test_connected_components_matches_union_find(seed: int) -> None:
    edges = _random_graph(seed)
    expected = union_find_components(edges)
    expected = {n: label for n, label in expected.items() if any(n in e and e[0] != e[1] for e in edges)}
    with TestPipeline(argv=IN_PROCESS) as p:
        labels = p | beam.Create(edges) | ConnectedComponents(max_rounds=10)
        assert_that(labels, equal_to(sorted(expected.items())))


def test_connected_components_fails_loudly_without_enough_rounds() -> None:
    rng = random.Random(3)
    perm = list(range(300))
    rng.shuffle(perm)
    edges = [(_hex(perm[i]), _hex(perm[i + 1])) for i in range(299)]
    with pytest.raises(Exception, match="did not converge in 1 rounds.*increase max_rounds"):
        with TestPipeline(argv=IN_PROCESS) as p:
            _ = p | beam.Create(edges) | ConnectedComponents(max_rounds=1)


def test_exact_dedup_keeps_lowest_id() -> None:
    config = MinHashConfig()
    rows = [_row(3, "Same text here."), _row(1, "same TEXT here"), _row(2, "different text"), _row(9, "same text, here!")]
    with TestPipeline(argv=IN_PROCESS) as p:
        features = p | beam.Create(rows) | MinHashSignatures(config)
        survivors, removed = features | ExactDedup(config)
        assert_that(survivors | beam.Map(lambda f: f[0]), equal_to([_hex(1), _hex(2)]), label="survivors")
        assert_that(removed, equal_to([(_hex(3), "exact", _hex(1)), (_hex(9), "exact", _hex(1))]), label="removed")


def test_url_dedup_chains_to_the_final_survivor() -> None:
    config = MinHashConfig(urls=True)
    rows = [
        _row(5, "text a", url="http://x.org/p"), _row(7, "text a", url="http://y.org/q"),
        _row(3, "text b", url="https://www.x.org/p/"),
    ]
    with TestPipeline(argv=IN_PROCESS) as p:
        survivors, removed = p | beam.Create(rows) | MinHashSignatures(config) | ExactDedup(config)
        assert_that(survivors | beam.Map(lambda f: f[0]), equal_to([_hex(3)]), label="survivors")
        assert_that(removed, equal_to([(_hex(7), "exact", _hex(3)), (_hex(5), "exact", _hex(3))]), label="removed")


@pytest.mark.parametrize("verify_threshold, expected", [(None, 2), (0.5, 1), (0.999, 0)])
def test_lsh_candidate_edges_and_verification(verify_threshold: float | None, expected: int) -> None:
    rng = random.Random(9)
    base = _text(rng, 300)
    rows = [_row(1, base), _row(2, _edit(rng, base, 0.01)), _row(3, _edit(rng, base, 0.15)), _row(4, _text(rng, 300))]
    # 1~2 (J ~ 0.93) collide in some band for sure; 3 (J ~ 0.4) only with a low-row band setting.
    config = MinHashConfig(bands=56, rows=2, verify_threshold=verify_threshold)
    with TestPipeline(argv=IN_PROCESS) as p:
        features = p | beam.Create(rows) | MinHashSignatures(config)
        edges = features | LshCandidatePairs(config) | beam.Distinct()
        if expected == 2:
            # 1~2 and 1~3 always; 2~3 too when some band holds 2 and 3 but not 1 (hash-dependent,
            # about a 2% chance per band here). Never the unrelated doc 4.
            def check(found: list) -> None:
                assert {(_hex(1), _hex(2)), (_hex(1), _hex(3))} <= set(map(tuple, found)) <= {
                    (_hex(1), _hex(2)), (_hex(1), _hex(3)), (_hex(2), _hex(3))}, found

            assert_that(edges, check)
        elif expected == 1:
            assert_that(edges, equal_to([(_hex(1), _hex(2))]))
        else:
            assert_that(edges, equal_to([]))


def test_output_schema_passes_unknown_columns_through() -> None:
    schema = output_document_schema(schemas.document_schema(SIGNALS))
    assert schema.names == [*schemas.document_schema(with_cluster=True).names, "quality_score", "quality_flag"]
    assert schema.metadata[schemas.META_SCHEMA] == b"documents"


# --------------------------------------------------------------------------- end to end


def _check_outputs(out: Path, rows: list[dict], expected: dict) -> dict:
    stats = json.loads((out / "stats.json").read_text())
    kept = _read_dir(out / "documents")
    dups = _read_dir(out / "duplicates")
    assert {d["id"]: (d["kind"], d["representative_id"]) for d in dups} == expected
    assert all(d["cluster_id"] == d["representative_id"] for d in dups)
    assert sorted(r["id"] for r in kept) == sorted(r["id"] for r in rows if r["id"] not in expected)
    assert all(r["cluster_id"] == r["id"] for r in kept)
    by_id = {r["id"]: r for r in rows}
    assert all(r["text"] == by_id[r["id"]]["text"] and r["quality_score"] == by_id[r["id"]]["quality_score"] for r in kept)
    table = pq.read_table(next((out / "documents").glob("*.parquet")))
    assert table.schema.names == output_document_schema(schemas.document_schema(SIGNALS)).names
    assert table.schema.metadata[schemas.META_SCHEMA] == b"documents"
    assert pq.ParquetFile(next((out / "documents").glob("*.parquet"))).metadata.row_group(0).column(0).compression == "ZSTD"
    assert pq.read_schema(next((out / "duplicates").glob("*.parquet"))).metadata[schemas.META_SCHEMA] == b"duplicates"
    assert stats["documents_in"] == len(rows)
    assert stats["kept"] == len(kept)
    assert stats["exact_duplicates"] == sum(1 for k, _ in expected.values() if k == "exact")
    assert stats["near_duplicates"] == sum(1 for k, _ in expected.values() if k == "near")
    assert stats["accounting"]["ok"] is True
    assert not list(out.glob("*.tmp")) and not (out / "_dedup_summary.json").exists()
    return stats


def test_run_dedup_end_to_end_across_files(tmp_path: Path) -> None:
    rows, expected = _corpus()
    half = len(rows) // 2
    _write(tmp_path / "in", "part-a.parquet", rows[:half])
    _write(tmp_path / "in", "part-b.parquet", rows[half:])
    stats = run_dedup(str(tmp_path / "in"), str(tmp_path / "out"), MinHashConfig(max_rounds=6), IN_PROCESS)
    _check_outputs(tmp_path / "out", rows, expected)
    # Clusters of two or more: {10,1001}, {5,20,2002}, {30,3001,3002}, {4001,4002}, {4004,4005}.
    assert stats["clusters"] == 5 and stats["largest_cluster"] == 3
    assert stats["cluster_size_histogram"] == {"2": 3, "3": 2}
    assert 1 <= stats["cc_rounds_used"] <= 6


@pytest.mark.slow
def test_run_dedup_is_deterministic_across_orders_and_workers(tmp_path: Path) -> None:
    rows, expected = _corpus(seed=11)
    outputs = []
    for i, (order_seed, workers) in enumerate([(1, 1), (2, 2)]):
        shuffled = rows[:]
        random.Random(order_seed).shuffle(shuffled)
        src = tmp_path / f"in{i}"
        for k in range(3):
            _write(src, f"f{k}.parquet", shuffled[k::3])
        out = tmp_path / f"out{i}"
        args = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
        run_dedup(str(src), str(out), MinHashConfig(max_rounds=6), args)
        _check_outputs(out, rows, expected)
        outputs.append((sorted(map(str, _read_dir(out / "documents"))), sorted(map(str, _read_dir(out / "duplicates")))))
    assert outputs[0] == outputs[1]


def test_same_record_in_two_files_is_kept_once(tmp_path: Path) -> None:
    rows, _ = _corpus()
    _write(tmp_path / "in", "a.parquet", rows[:3])
    _write(tmp_path / "in", "b.parquet", rows[:1])  # the same id and text again
    stats = run_dedup(str(tmp_path / "in"), str(tmp_path / "out"), MinHashConfig(max_rounds=2), IN_PROCESS)
    kept = _read_dir(tmp_path / "out" / "documents")
    dups = _read_dir(tmp_path / "out" / "duplicates")
    assert sorted(r["id"] for r in kept) == sorted(r["id"] for r in rows[:3])
    assert [(d["id"], d["kind"], d["representative_id"]) for d in dups] == [(rows[0]["id"], "exact", rows[0]["id"])]
    assert (stats["documents_in"], stats["kept"], stats["exact_duplicates"]) == (4, 3, 1)
    assert stats["accounting"]["ok"] is True


def test_empty_input_directory(tmp_path: Path) -> None:
    # A directory with no Parquet at all resolves to nothing: an error naming what was looked for
    # (issue #14: never a silent zero). A curated output with zero kept rows is a valid input.
    (tmp_path / "in" / "documents").mkdir(parents=True)
    with pytest.raises(ParquetInputError, match=r"in: directory has no documents/\*\.parquet and no \*\.parquet"):
        run_dedup(str(tmp_path / "in"), str(tmp_path / "out"), MinHashConfig(max_rounds=2), IN_PROCESS)
    _write(tmp_path / "in", "part-00000.parquet", [])
    stats = run_dedup(str(tmp_path / "in"), str(tmp_path / "out"), MinHashConfig(max_rounds=2), IN_PROCESS)
    assert (stats["documents_in"], stats["kept"], stats["exact_duplicates"], stats["near_duplicates"]) == (0, 0, 0, 0)
    assert stats["clusters"] == 0 and stats["accounting"]["ok"] is True
    for sub in ("documents", "duplicates"):
        tables = [pq.read_table(f) for f in (tmp_path / "out" / sub).glob("*.parquet")]
        assert tables and sum(t.num_rows for t in tables) == 0


def test_corrupt_parquet_names_the_file(tmp_path: Path) -> None:
    rows, _ = _corpus()
    _write(tmp_path / "in", "good.parquet", rows[:5])
    (tmp_path / "in" / "documents" / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(Exception, match=r"broken\.parquet.*not a readable Parquet file"):
        run_dedup(str(tmp_path / "in"), str(tmp_path / "out"), MinHashConfig(max_rounds=2), IN_PROCESS)


def test_foreign_parquet_without_text_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "in" / "documents").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a"], "body": ["x"]}), tmp_path / "in" / "documents" / "foreign.parquet")
    with pytest.raises(Exception, match=r"foreign\.parquet: missing required column"):
        run_dedup(str(tmp_path / "in"), str(tmp_path / "out"), MinHashConfig(max_rounds=2), IN_PROCESS)


@pytest.mark.parametrize("mode", ["graph", "spill"])
@pytest.mark.parametrize("columns, missing", [({"id": ["a"], "body": ["x"]}, "text"), ({"text": ["x y"]}, "id")])
def test_cli_names_file_and_missing_column_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, mode: str, columns: dict, missing: str
) -> None:
    # graph mode used to raise this inside the Beam pipeline: a 190-line traceback
    (tmp_path / "in" / "documents").mkdir(parents=True)
    pq.write_table(pa.table(columns), tmp_path / "in" / "documents" / "foreign.parquet")
    code = cli_main(["dedup", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--dedup-mode", mode])
    err = capsys.readouterr().err.strip()
    assert code == 3  # InputError: the data is unusable (core/errors.py)
    assert err.splitlines() == [err] and "Traceback" not in err
    assert "foreign.parquet: missing required column(s) ['" + missing + "']" in err
    assert not (tmp_path / "out").exists()
    (tmp_path / "in" / "documents" / "foreign.parquet").write_bytes(b"PAR1 not parquet")
    assert cli_main(["dedup", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--dedup-mode", mode]) == 3
    assert "foreign.parquet: not a readable Parquet file" in capsys.readouterr().err


def test_dataflow_dry_run_builds_without_reading_input() -> None:
    # Beam 2.77 rejects bucket names shorter than 3 characters (e.g. gs://b/t): it then tries to
    # create a default staging bucket over the network; project ids must be valid too ("p" is
    # refused). With valid-looking names nothing is contacted and no input is read.
    args = [
        "--runner=DataflowRunner", "--dry_run=True", "--project=winnow-test", "--region=r",
        "--temp_location=gs://winnow-test-bucket/tmp", "--sdk_location=container", "--no_auth",
    ]
    result = run_dedup("gs://no-such-bucket/in", "gs://no-such-bucket/out", MinHashConfig(max_rounds=3), args)
    assert result == {"dry_run": True, "runner": "DataflowRunner"}


# --------------------------------------------------------------------------- command line


def test_cli_runs_and_refuses_non_empty_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows, expected = _corpus()
    _write(tmp_path / "in", "a.parquet", rows)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("steps: []\ndedup:\n  max_rounds: 5\n  ngram: 5\n")
    argv = ["dedup", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--recipe", str(recipe),
            "--bands", "14", *IN_PROCESS]
    assert cli_main(argv) == 0
    stats = _check_outputs(tmp_path / "out", rows, expected)
    assert stats["config"]["max_rounds"] == 5
    assert cli_main(argv) == 2
    assert "not empty; pass --overwrite" in capsys.readouterr().err
    assert cli_main([*argv, "--overwrite"]) == 0


def test_cli_rejects_bad_recipe_keys(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "in" / "documents").mkdir(parents=True)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("dedup:\n  bandz: 3\n")
    argv = ["dedup", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--recipe", str(recipe)]
    assert cli_main(argv) == 2
    assert "unknown key(s) ['bandz']" in capsys.readouterr().err
    assert cli_main(["dedup", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


_COEXIST_SCRIPT = """
import sys
from apache_beam.options.pipeline_options import PipelineOptions

def other():
    class OtherOptions(PipelineOptions):
        @classmethod
        def _add_argparse_args(cls, parser):
            parser.add_argument("--input", dest="other_inputs", action="append")
            parser.add_argument("--output")
    return OtherOptions

first = other() if sys.argv[1] == "other-first" else None
from winnow.pipelines.dedup.options import DedupOptions
OtherOptions = first or other()
options = PipelineOptions(["--input", "a", "--output", "b", "--bands", "7", "--dedup-urls"])
config = options.view_as(DedupOptions).minhash_config()
assert (config.bands, config.rows, config.urls) == (7, 8, True), config
assert options.view_as(OtherOptions).other_inputs == ["a"]
print("ok")
"""


@pytest.mark.parametrize("order", ["other-first", "dedup-first"])
def test_dedup_options_coexist_with_other_input_output_options(order: str) -> None:
    # In a subprocess: PipelineOptions subclasses register process-wide and would leak into other tests.
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _COEXIST_SCRIPT, order], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
