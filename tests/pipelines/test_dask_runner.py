"""Winnow on a second engine: Beam's DaskRunner on a local dask.distributed cluster.

The small tests run minimal pipelines on an in-process (threads) cluster and
check the four DaskRunner defects that pipelines/dask_runner.py works around.
The slow tests start a real cluster whose workers are daemonic processes under
a nanny (as `dask worker` runs them) and run `winnow curate`, `winnow dedup`
and `winnow run` through the CLI, comparing every output row and the
stats.json accounting with a DirectRunner run on the same input.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed (extra `dask`)")

import apache_beam as beam  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from winnow.pipelines.dask_runner import BEAM_DASK_RUNNER, WINNOW_DASK_RUNNER, stable_hash, substitute_runner  # noqa: E402
from winnow.pipelines.options import with_local_defaults  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
# The console script a user runs, from the same environment as the tests.
WINNOW = [str(Path(sys.executable).with_name("winnow"))]
# Seconds a CLI run may take on a loaded 2-core CI machine.
CLI_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def thread_cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def dask_args(address: str) -> list[str]:
    return [f"--runner={WINNOW_DASK_RUNNER}", f"--dask_client_address={address}"]


def user_dask_args(address: str) -> list[str]:
    """Beam's runner name, as users write it: the CLI swaps in Winnow's fixed subclass."""
    return [f"--runner={BEAM_DASK_RUNNER}", f"--dask_client_address={address}"]


def run_pipeline(build, address: str) -> None:
    pipeline = beam.Pipeline(options=PipelineOptions(dask_args(address)))
    build(pipeline)
    pipeline.run().wait_until_finish()


def read_lines(folder: Path, prefix: str) -> list[str]:
    files = sorted(folder.glob(f"{prefix}-*-of-*"))
    assert files, f"no {prefix} output in {folder}: {sorted(p.name for p in folder.iterdir())}"
    return sorted(line for f in files for line in f.read_text().splitlines())


class _SplitParity(beam.DoFn):
    def process(self, x):
        yield beam.pvalue.TaggedOutput("odd", {"odd": x}) if x % 2 else {"even": x}


def test_tagged_outputs_and_every_branch_reach_their_own_sinks(thread_cluster, tmp_path):
    # Beam's DaskRunner sends both outputs down both branches (KeyError: 'odd') and
    # computes only the last branch.
    def build(p):
        split = p | beam.Create(list(range(10))) | beam.ParDo(_SplitParity()).with_outputs("odd", main="even")
        split.even | "E" >> beam.Map(lambda d: str(d["even"])) | "WE" >> beam.io.WriteToText(str(tmp_path / "even"))
        split.odd | "O" >> beam.Map(lambda d: str(d["odd"])) | "WO" >> beam.io.WriteToText(str(tmp_path / "odd"))

    run_pipeline(build, thread_cluster)
    assert read_lines(tmp_path, "even") == ["0", "2", "4", "6", "8"]
    assert read_lines(tmp_path, "odd") == ["1", "3", "5", "7", "9"]


def test_side_input_producer_runs_once_and_values_reach_the_dofn(thread_cluster, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()

    def init(_):
        import uuid

        (marks / uuid.uuid4().hex).touch()
        return "token"

    def build(p):
        token = p | "Once" >> beam.Create([None]) | "Init" >> beam.Map(init)
        numbers = p | "Numbers" >> beam.Create(list(range(4)))
        a = numbers | "A" >> beam.Map(lambda x, t: f"{t}-{x}", t=beam.pvalue.AsSingleton(token))
        b = numbers | "B" >> beam.Map(lambda x, t: f"{t}+{x}", t=beam.pvalue.AsSingleton(token))
        (a, b) | beam.Flatten() | beam.io.WriteToText(str(tmp_path / "out"))

    run_pipeline(build, thread_cluster)
    assert read_lines(tmp_path, "out") == sorted([f"token-{i}" for i in range(4)] + [f"token+{i}" for i in range(4)])
    assert len(list(marks.iterdir())) == 1, "a side input's producer must run once, not once per reader"


def test_group_by_key_and_reshuffle_keep_every_element(thread_cluster, tmp_path):
    words = [f"w{i % 7}" for i in range(200)]

    def build(p):
        (
            p
            | beam.Create(words)
            | beam.Reshuffle()
            | beam.Map(lambda w: (w, 1))
            | beam.GroupByKey()
            | beam.MapTuple(lambda w, ones: f"{w} {sum(ones)}")
            | beam.io.WriteToText(str(tmp_path / "counts"))
        )

    run_pipeline(build, thread_cluster)
    expected = sorted(f"w{k} {sum(1 for w in words if w == f'w{k}')}" for k in range(7))
    assert read_lines(tmp_path, "counts") == expected


def test_runner_names_and_local_defaults():
    args = [f"--runner={BEAM_DASK_RUNNER}", "--dask_client_address=tcp://127.0.0.1:1"]
    assert substitute_runner(args) == [f"--runner={WINNOW_DASK_RUNNER}", args[1]]
    assert substitute_runner(["--runner", "DaskRunner"]) == [f"--runner={WINNOW_DASK_RUNNER}"]
    assert substitute_runner(["--runner=DirectRunner"]) == ["--runner=DirectRunner"]
    assert with_local_defaults(args) == [f"--runner={WINNOW_DASK_RUNNER}", args[1]]
    # A Dask run must not get the DirectRunner's worker defaults.
    assert not [a for a in with_local_defaults(args) if a.startswith("--direct_")]
    # The shuffle hash must not depend on the process (str hashes are salted per process).
    code = "from winnow.pipelines.dask_runner import stable_hash; print(stable_hash(('doc-1', b'band', 3)))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert int(other.stdout) == stable_hash(("doc-1", b"band", 3))


# ----------------------------------------------------------------------------- the CLI on a real cluster


@pytest.fixture(scope="module")
def nanny_cluster():
    """Two worker processes under nannies: daemonic, like `dask worker` runs them."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            daemonic = client.run(lambda: __import__("multiprocessing").current_process().daemon)
        assert all(daemonic.values()), "the workers must be daemonic for this test to mean anything"
        yield cluster.scheduler_address


def winnow(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([*WINNOW, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert done.returncode == 0, f"winnow {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dask-in") / "sample.warc.gz"
    winnow("sample-warc", "--output", str(path), "--pages", "24", "--seed", "3")
    return path


@pytest.fixture(scope="module")
def direct_curated(sample, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("direct") / "curated"
    winnow("curate", "--input", str(sample), "--output", str(out))
    return out


def tables(folder: Path, names: tuple[str, ...]) -> dict[str, list[dict]]:
    out = {}
    for name in names:
        rows = [row for f in sorted((folder / name).glob("*.parquet")) for row in pq.read_table(f).to_pylist()]
        out[name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


def same_stats(direct: dict, dask: dict, ignore: set[str]) -> None:
    keys = (set(direct) | set(dask)) - ignore
    differing = {k: (direct.get(k), dask.get(k)) for k in keys if direct.get(k) != dask.get(k)}
    assert not differing, differing


CURATE_TABLES = ("documents", "rejected", "errors")
DEDUP_TABLES = ("documents", "duplicates")
# Run-dependent: timing, the inputs' paths, and Beam metrics (the DaskRunner reports none).
VOLATILE = {"wall_time_s", "records_per_s", "inputs", "metrics"}


@pytest.mark.slow
def test_curate_on_dask_matches_the_direct_runner(nanny_cluster, sample, direct_curated, tmp_path):
    winnow("curate", "--input", str(sample), "--output", str(tmp_path / "dask"), *user_dask_args(nanny_cluster))
    direct, dask = tables(direct_curated, CURATE_TABLES), tables(tmp_path / "dask", CURATE_TABLES)
    assert direct["documents"] and direct["rejected"], "the sample must exercise kept and rejected rows"
    for name in CURATE_TABLES:
        assert dask[name] == direct[name], f"{name} differs between the DirectRunner and Dask"
    stats = json.loads((tmp_path / "dask" / "stats.json").read_text())
    assert stats["accounting"]["ok"] and stats["records_in"] == sum(len(rows) for rows in dask.values())
    same_stats(json.loads((direct_curated / "stats.json").read_text()), stats, VOLATILE)


@pytest.mark.slow
def test_dedup_on_dask_matches_the_direct_runner(nanny_cluster, direct_curated, tmp_path):
    common = ["--input", str(direct_curated), "--max-rounds", "4"]
    winnow("dedup", *common, "--output", str(tmp_path / "direct"))
    winnow("dedup", *common, "--output", str(tmp_path / "dask"), *user_dask_args(nanny_cluster))
    direct, dask = tables(tmp_path / "direct", DEDUP_TABLES), tables(tmp_path / "dask", DEDUP_TABLES)
    assert direct["duplicates"], "the sample has exact and near duplicates"
    assert dask == direct
    direct_stats = json.loads((tmp_path / "direct" / "stats.json").read_text())
    dask_stats = json.loads((tmp_path / "dask" / "stats.json").read_text())
    # The DirectRunner's default is the spill mode, which counts its rounds differently.
    assert dask_stats["mode"] == "graph"
    same_stats(direct_stats, dask_stats, VOLATILE | {"mode", "cc_rounds_used"})


@pytest.mark.slow
def test_run_on_dask_through_dedup(nanny_cluster, sample, direct_curated, tmp_path):
    out = tmp_path / "run"
    winnow("run", "--output", str(out), "--input", str(sample), "--until", "dedup", *user_dask_args(nanny_cluster))
    for stage in ("input", "curate", "dedup"):
        assert (out / "stages" / f"{stage}.json").is_file(), f"stage {stage} did not complete"
    curate_stats = json.loads((out / "curate" / "stats.json").read_text())
    dedup_stats = json.loads((out / "dedup" / "stats.json").read_text())
    assert curate_stats["accounting"]["ok"]
    assert curate_stats["records_in"] == json.loads((direct_curated / "stats.json").read_text())["records_in"]
    kept = tables(out / "curate", ("documents",))["documents"]
    assert dedup_stats["documents_in"] == len(kept)
    deduped = tables(out / "dedup", DEDUP_TABLES)
    assert len(deduped["documents"]) + len(deduped["duplicates"]) == len(kept)
