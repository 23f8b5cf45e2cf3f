"""The spill mode (memory flat in corpus size) against the one-graph mode, cluster sizes,
input resolution and the local-runner defaults."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.pipelines.test_dedup_pipeline import IN_PROCESS, _corpus, _edit, _read_dir, _row, _text, _write
from winnow.cli import main as cli_main
from winnow.curation.minhash import MinHashConfig
from winnow.pipelines.dedup import decide as dedup_decide
from winnow.pipelines.dedup.launcher import resolve_mode, run_dedup
from winnow.pipelines.options import LOCAL_RUNNER, with_local_defaults
from winnow.schemas.inputs import ParquetInputError


def _outputs(out: Path) -> tuple[list[tuple], list[tuple]]:
    kept = sorted((r["id"], r["cluster_id"], r["minhash_cluster_size"], r["text"]) for r in _read_dir(out / "documents"))
    dups = sorted((d["id"], d["kind"], d["representative_id"], d["url"], d["source"]) for d in _read_dir(out / "duplicates"))
    return kept, dups


def _stats_without_time(out: Path) -> dict:
    stats = json.loads((out / "stats.json").read_text())
    for key in ("wall_time_s", "mode", "cc_rounds_used"):
        stats.pop(key)
    return stats


def _rich_corpus(seed: int) -> list[dict]:
    """The base corpus plus big near clusters, URL duplicates and one id curated twice."""
    rng = random.Random(seed)
    rows, _ = _corpus(seed)
    base = _text(rng, 250)
    for k in range(6):  # a star of near copies around one text, ids out of order
        rows.append(_row(7000 + (k * 37) % 11, _edit(rng, base, 0.01)))
    rows.append(_row(8001, _text(rng), url="https://example.com/10"))  # same URL as doc 10
    rows.append({**rows[3], "source": "other.warc.gz"})  # same id again, from another source
    return rows


@pytest.mark.parametrize(
    "config",
    [MinHashConfig(max_rounds=8), MinHashConfig(max_rounds=8, urls=True, verify_threshold=0.6), MinHashConfig(max_rounds=8, exact=False)],
    ids=["default", "urls+verify", "no-exact"],
)
def test_spill_mode_equals_graph_mode(tmp_path: Path, config: MinHashConfig) -> None:
    rows = _rich_corpus(5)
    for k in range(3):
        _write(tmp_path / "in", f"f{k}.parquet", rows[k::3])
    results = {}
    for mode in ("graph", "spill"):
        out = tmp_path / mode
        stats = run_dedup(str(tmp_path / "in"), str(out), config, IN_PROCESS, mode=mode)
        assert stats["mode"] == mode and stats["accounting"]["ok"] is True
        results[mode] = (_outputs(out), _stats_without_time(out))
    assert results["spill"] == results["graph"]
    kept, dups = results["spill"][0]
    assert dups, "the corpus has duplicates"
    # minhash_cluster_size: 1 + the duplicate rows pointing at a survivor.
    pointing = {}
    for _, _, rep, _, _ in dups:
        pointing[rep] = pointing.get(rep, 0) + 1
    assert all(size == 1 + pointing.get(doc_id, 0) for doc_id, _, size, _ in kept)
    assert max(size for _, _, size, _ in kept) >= 3


def test_cluster_size_counts_every_row_of_the_cluster(tmp_path: Path) -> None:
    rows, expected = _corpus()
    _write(tmp_path / "in", "a.parquet", rows)
    run_dedup(str(tmp_path / "in"), str(tmp_path / "out"), MinHashConfig(max_rounds=6), IN_PROCESS)
    sizes = {r["id"]: r["minhash_cluster_size"] for r in _read_dir(tmp_path / "out" / "documents")}
    # {10,1001}, {5,20,2002}, {30,3001,3002}, {4001,4002}, {4004,4005}; everything else alone.
    assert (sizes[f"{10:016x}"], sizes[f"{5:016x}"], sizes[f"{30:016x}"], sizes[f"{4001:016x}"]) == (2, 3, 3, 2)
    assert sum(sizes.values()) == len(rows)
    assert pq.read_schema(next((tmp_path / "out" / "documents").glob("*.parquet"))).field("minhash_cluster_size").type == pa.int64()


def test_an_id_removed_twice_counts_toward_the_survivor_its_rows_point_at(tmp_path: Path) -> None:
    # "b" has two rows: one with a1's text (an exact duplicate of a1), one that survives its own
    # text group and is then a near duplicate of a0. The exact removal stands (final_removal),
    # so b's rows point at a1 and count in a1's cluster size, in both engines; the graph used to
    # count them for a0, the lowest of its two representatives.
    rng = random.Random(3)
    t1, t2 = _text(rng, 250), _text(rng, 250)
    rows = [
        {**_row(0, t1), "id": "a1"},
        {**_row(0, t2), "id": "b"},
        {**_row(0, _edit(rng, t2, 0.01)), "id": "a0"},
        {**_row(0, t1), "id": "b"},
        {**_row(0, _text(rng, 250)), "id": "c"},
    ]
    _write(tmp_path / "in", "f.parquet", rows)
    for mode in ("graph", "spill"):
        out = tmp_path / mode
        stats = run_dedup(str(tmp_path / "in"), str(out), MinHashConfig(max_rounds=6), IN_PROCESS, mode=mode)
        kept = sorted((r["id"], r["minhash_cluster_size"]) for r in _read_dir(out / "documents"))
        dups = sorted((d["id"], d["kind"], d["representative_id"]) for d in _read_dir(out / "duplicates"))
        assert kept == [("a0", 1), ("a1", 3), ("c", 1)], mode
        assert dups == [("b", "exact", "a1"), ("b", "exact", "a1")], mode
        assert stats["accounting"]["ok"] is True


def test_parquet_files_directly_in_the_input_directory(tmp_path: Path) -> None:
    # Issue #14: DIR holding Parquet files directly (no documents/) was read as zero documents.
    rows, expected = _corpus()
    _write(tmp_path / "stage", "a.parquet", rows[:20])
    _write(tmp_path / "stage", "b.parquet", rows[20:])
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in (tmp_path / "stage" / "documents").glob("*.parquet"):
        f.rename(flat / f.name)
    for spec, name in ((str(flat), "dir"), (str(flat / "*.parquet"), "glob")):
        stats = run_dedup(spec, str(tmp_path / f"out-{name}"), MinHashConfig(max_rounds=6), IN_PROCESS)
        assert stats["documents_in"] == len(rows) and stats["kept"] == len(rows) - len(expected)
    one = run_dedup(str(flat / "a.parquet"), str(tmp_path / "out-file"), MinHashConfig(max_rounds=6), IN_PROCESS)
    assert one["documents_in"] == 20


def test_inputs_that_resolve_to_nothing_or_lack_text_are_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ParquetInputError, match=r"\*\.nothing: glob matches no files"):
        run_dedup(str(tmp_path / "*.nothing"), str(tmp_path / "o1"), MinHashConfig(), IN_PROCESS)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("not parquet")
    assert cli_main(["dedup", "--input", str(tmp_path / "docs"), "--output", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "docs: directory has no documents/*.parquet and no *.parquet files" in err
    pq.write_table(pa.table({"id": ["a"], "body": ["x"]}), tmp_path / "docs" / "foreign.parquet")
    with pytest.raises(Exception, match=r"foreign\.parquet: missing required column"):
        run_dedup(str(tmp_path / "docs"), str(tmp_path / "o3"), MinHashConfig(), IN_PROCESS)
    # Both modes: the graph mode resolves inside the pipeline, with the same message.
    with pytest.raises(Exception, match=r"\*\.nothing: glob matches no files"):
        run_dedup(str(tmp_path / "*.nothing"), str(tmp_path / "o4"), MinHashConfig(), IN_PROCESS, mode="graph")


def test_decide_matches_a_reference_on_random_graphs() -> None:
    # Bucket edges + components on codes against a plain-Python reference of the same rules.
    rng = random.Random(4)
    n = 400
    ids = pa.array([f"{i:05d}" for i in rng.sample(range(10_000), n)])
    id_codes, distinct = dedup_decide.encode_ids(ids)
    bands = [np.array([rng.randrange(n // 3) for _ in range(n)], dtype=np.uint64) for _ in range(3)]
    keys = dedup_decide.RowKeys(
        id_codes=id_codes, ids=distinct, text_codes=np.full(n, -1), url_codes=np.full(n, -1),
        has_signature=np.ones(n, dtype=bool),
    )
    decisions = dedup_decide.decide(keys, iter(bands))
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for band in bands:
        buckets: dict[int, list[int]] = {}
        for row, key in enumerate(band.tolist()):
            buckets.setdefault(key, []).append(int(id_codes[row]))
        for members in buckets.values():
            for m in members:
                a, b = find(min(members)), find(m)
                parent[max(a, b)] = min(a, b)
    for row in range(n):
        label = find(int(id_codes[row]))
        if label == id_codes[row]:
            assert decisions.status[row] == dedup_decide.STATUS_KEPT
        else:
            assert (decisions.status[row], decisions.rep_codes[row]) == (dedup_decide.STATUS_NEAR, label)


def test_mode_selection() -> None:
    assert resolve_mode(None, ["--runner=DirectRunner"]) == "spill"
    assert resolve_mode("auto", []) == "spill"
    assert resolve_mode("auto", ["--runner=DataflowRunner"]) == "graph"
    assert resolve_mode("graph", []) == "graph"
    with pytest.raises(Exception, match="spill runs on the local DirectRunner only"):
        resolve_mode("spill", ["--runner=DataflowRunner"])


def test_user_runner_flags_combine_with_local_defaults(caplog: pytest.LogCaptureFixture) -> None:
    # Issue #16: a lone --direct_num_workers used to drop the parallel mode (Beam's default is in_memory).
    args = with_local_defaults(["--direct_num_workers=2"], processes=True)
    assert "--direct_running_mode=multi_processing" in args and args.count("--direct_num_workers=2") == 1
    args = with_local_defaults(["--direct_running_mode=multi_threading"])
    assert any(a.startswith("--direct_num_workers=") for a in args)
    assert with_local_defaults(["--direct_num_workers", "3"], processes=True)[-1] == "--direct_running_mode=multi_processing"
    assert with_local_defaults(["--runner=DataflowRunner"]) == ["--runner=DataflowRunner"]
    # in_memory alone gets no worker count; the DirectRunner is pinned to LocalRunner (no Prism download).
    assert with_local_defaults(["--direct_running_mode=in_memory"]) == [f"--runner={LOCAL_RUNNER}", "--direct_running_mode=in_memory"]
    with caplog.at_level("WARNING"):
        with_local_defaults(["--direct_running_mode=in_memory", "--direct_num_workers=2"])
    assert "in_memory runs one worker" in caplog.text


def test_running_mode_follows_the_input_size_only(tmp_path: Path) -> None:
    """Issue 22: a small local input runs in worker threads (each worker process would re-import
    Beam and Winnow), a large one keeps worker processes; the sizes alone decide, and a user's
    --direct_running_mode always wins."""
    from winnow.pipelines.dedup.launcher import local_input_bytes
    from winnow.pipelines.options import SMALL_INPUT_BYTES

    small = with_local_defaults([], processes=True, input_bytes=SMALL_INPUT_BYTES - 1)
    assert "--direct_running_mode=multi_threading" in small
    for size in (SMALL_INPUT_BYTES, None):  # large, or unknown (remote): processes, as before
        assert "--direct_running_mode=multi_processing" in with_local_defaults([], processes=True, input_bytes=size)
    chosen = with_local_defaults(["--direct_running_mode=multi_processing"], processes=True, input_bytes=10)
    assert chosen.count("--direct_running_mode=multi_processing") == 1 and "--direct_running_mode=multi_threading" not in chosen
    assert with_local_defaults(["--runner=DataflowRunner"], processes=True, input_bytes=10) == ["--runner=DataflowRunner"]

    _write(tmp_path / "in", "a.parquet", [_row(i, f"text {i}") for i in range(3)])
    _write(tmp_path / "in", "b.parquet", [_row(i + 3, f"text {i}") for i in range(2)])
    expected = sum(p.stat().st_size for p in (tmp_path / "in" / "documents").glob("*.parquet"))
    assert local_input_bytes(str(tmp_path / "in")) == expected
    assert local_input_bytes("gs://bucket/in") is None
    assert local_input_bytes(str(tmp_path / "absent")) is None


def test_curate_on_many_cores_keeps_small_inputs_in_threads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Above 4 cores curate defaults to worker processes; a small local input stays in threads."""
    from winnow.pipelines import options
    from winnow.pipelines.run_curate import local_file_sizes

    monkeypatch.setattr(options.os, "cpu_count", lambda: 16)
    assert "--direct_running_mode=multi_processing" in with_local_defaults([])
    assert "--direct_num_workers=8" in with_local_defaults([])
    small = with_local_defaults([], input_bytes=1000)
    assert "--direct_running_mode=multi_threading" in small and "--direct_num_workers=16" in small
    (tmp_path / "a.txt").write_bytes(b"x" * 10)
    (tmp_path / "b.txt").write_bytes(b"y" * 5)
    sizes = local_file_sizes([str(tmp_path / "*.txt"), str(tmp_path / "a.txt")])  # each file once
    assert sizes is not None and sorted(sizes.values()) == [5, 10]
    assert local_file_sizes([str(tmp_path / "a.txt"), "gs://bucket/x.warc.gz"]) is None
