"""`winnow curate --resume` continues only the run it started, and stats.json always counts the rows on disk.

Issue 21: a resume with another --files-per-run, an added input or another
recipe used to leave old and new batches side by side (282 duplicated ids in
one case) while stats.json said the accounting held.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from winnow.inspect import inspect_path
from winnow.pipelines.run_curate import CurateInputError, run_curate
from tests.cpu_load import HANG_GUARD_S

IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
SENTENCE = "The river town held its autumn market on the old stone bridge, as it does every year. "


def write_inputs(folder: Path, files: int, lines: int = 6) -> list[str]:
    paths = []
    for f in range(files):
        path = folder / f"in{f}.jsonl"
        with path.open("w") as out:
            for i in range(lines):
                out.write(json.dumps({"id": f"f{f}-{i}", "text": f"Document {i} of file {f}. " + SENTENCE * 3}) + "\n")
            out.write("{not json\n")  # one error row per file
        paths.append(str(path))
    return paths


def table_rows(output: Path, table: str) -> list[dict]:
    rows: list[dict] = []
    for f in sorted((output / table).glob("*.parquet")):
        rows.extend(pq.read_table(f).to_pylist())
    return rows


@pytest.fixture(scope="module")
def batched(tmp_path_factory):
    work = tmp_path_factory.mktemp("resume")
    inputs = write_inputs(work, 4)
    output = work / "out"
    stats = run_curate(inputs[:3], str(output), beam_args=IN_MEMORY, files_per_run=1)
    return work, inputs, output, stats


def test_a_batched_run_counts_its_rows_on_disk(batched):
    _, _, output, stats = batched
    assert stats["accounting"]["ok"] and stats["on_disk"]["ok"]
    assert stats["on_disk"]["rows"] == {"documents": 18, "rejected": 0, "errors": 3}
    manifest = json.loads((output / "_progress" / "manifest.json").read_text())
    assert manifest["files_per_run"] == 1 and len(manifest["files"]) == 3
    assert inspect_path(output)["disk_check"]["ok"]


@pytest.mark.parametrize("change, message", [
    ({"files_per_run": 2}, "--files-per-run 1 -> 2"),
    ({"recipe": "c4"}, "the recipe changed (extract"),
    ({"add_input": True}, "1 input files added"),
])
def test_a_resume_that_differs_is_refused_and_touches_nothing(batched, change, message):
    _, inputs, output, _ = batched
    before = sorted(p.relative_to(output) for p in output.rglob("*"))
    args = {"files_per_run": change.get("files_per_run"), "recipe": change.get("recipe", "extract")}
    paths = inputs if change.get("add_input") else inputs[:3]
    with pytest.raises(CurateInputError, match="cannot resume") as refused:
        run_curate(paths, str(output), beam_args=IN_MEMORY, resume=True, **args)
    assert message in str(refused.value) and "--overwrite" in str(refused.value)
    assert sorted(p.relative_to(output) for p in output.rglob("*")) == before


def test_other_settings_and_changed_files_are_refused_too(batched, tmp_path):
    work, inputs, output, _ = batched
    from winnow.curation.readers import ReaderOptions

    with pytest.raises(CurateInputError, match="reader_options"):
        run_curate(inputs[:3], str(output), beam_args=IN_MEMORY, resume=True, reader_options=ReaderOptions(max_record_bytes=1000))
    copy = tmp_path / "copy"
    shutil.copytree(output, copy)
    grown = tmp_path / "in0.jsonl"
    shutil.copy(inputs[0], grown)
    manifest = json.loads((copy / "_progress" / "manifest.json").read_text())
    manifest["files"][0][1] += 1  # as if in0.jsonl had changed since the run started
    (copy / "_progress" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CurateInputError, match="1 input files changed size"):
        run_curate(inputs[:3], str(copy), beam_args=IN_MEMORY, resume=True)


def test_an_unchanged_resume_takes_the_recorded_batch_size_and_skips_everything(batched, capsys):
    _, inputs, output, first = batched
    stats = run_curate(inputs[:3], str(output), beam_args=IN_MEMORY, resume=True)
    assert stats["batches"]["skipped_complete"] == stats["batches"]["total"] == 3
    assert "3 of 3 batches already complete" in capsys.readouterr().err
    for key in ("records_in", "kept", "rejected_total", "errors"):
        assert stats[key] == first[key]
    assert stats["on_disk"]["ok"]


def test_resume_removes_the_temporary_folders_a_killed_write_left(batched, tmp_path):
    """A kill while Beam writes a table leaves its beam-temp folder (empty, or holding shards);
    Beam's file matching lists files only, so the resume must find the folders itself."""
    _, inputs, output, first = batched
    copy = tmp_path / "killed"
    shutil.copytree(output, copy)
    (copy / "_progress" / sorted(p.name for p in (copy / "_progress").glob("*.json") if ".stats." not in p.name and p.name != "manifest.json")[-1]).unlink()
    empty = copy / "documents" / "beam-temp-part-0123456789abcdef-00000000000000000000000000000001"
    holding = copy / "rejected" / "beam-temp-part-0123456789abcdef-00000000000000000000000000000002"
    empty.mkdir()
    holding.mkdir()
    (holding / "shard.parquet").write_bytes(b"half a file")
    stats = run_curate(inputs[:3], str(copy), beam_args=IN_MEMORY, resume=True)
    assert not empty.exists() and not holding.exists()
    assert not [p for p in copy.rglob("*") if "beam-temp" in p.name]
    assert stats["batches"]["skipped_complete"] == 2 and stats["batches"]["stray_files_removed"] >= 2
    assert stats["on_disk"]["ok"] and stats["kept"] == first["kept"]


def test_a_new_run_removes_what_a_killed_unbatched_run_left(tmp_path, capsys):
    """A kill -9 during an unbatched run leaves only Beam's temporary folders (no results, so no
    --overwrite is needed); the next run into that folder removes them and says so."""
    inputs = write_inputs(tmp_path, 1, lines=2)
    output = tmp_path / "out"
    leftovers = [output / "documents" / "beam-temp-part-5c61a7cf25211f1a91302fc00000001", output / "beam-temp-abc"]
    for folder in leftovers:
        folder.mkdir(parents=True)
    (leftovers[0] / "half.parquet").write_bytes(b"half a file")
    stats = run_curate(inputs, str(output), beam_args=IN_MEMORY)
    assert stats["accounting"]["ok"] and stats["on_disk"]["ok"] and stats["kept"] == 2
    assert not [p for p in output.rglob("*") if "beam-temp" in p.name]
    assert "removed 2 temporary folder(s) that an interrupted run left" in capsys.readouterr().err


def test_resume_refuses_results_without_a_manifest(tmp_path):
    inputs = write_inputs(tmp_path, 1, lines=2)
    output = tmp_path / "plain"
    run_curate(inputs, str(output), beam_args=IN_MEMORY)
    with pytest.raises(CurateInputError, match="no resume manifest"):
        run_curate(inputs, str(output), beam_args=IN_MEMORY, resume=True)


def test_inspect_reports_rows_that_stats_json_does_not_count(batched, tmp_path):
    _, _, output, _ = batched
    copy = tmp_path / "dup"
    shutil.copytree(output, copy)
    first = sorted((copy / "documents").glob("*.parquet"))[0]
    shutil.copy(first, copy / "documents" / "part-stale-00000-of-00001.parquet")  # an old batch left behind
    check = inspect_path(copy)["disk_check"]
    assert not check["ok"] and "documents/ holds" in check["mismatches"][0]
    from winnow.cli import main

    assert main(["inspect", str(copy)]) == 1


def test_hostile_jsonl_lines_become_error_rows_with_distinct_ids(tmp_path):
    """Lone surrogates once crashed Beam's coder (exit 1); deep nesting raised RecursionError."""
    good = json.dumps({"id": "g", "text": SENTENCE * 2})
    lines = [
        good,
        '{"id": "s", "text": "a lone \\ud800 surrogate. ' + SENTENCE + '"}',
        '{"id": "\\ud800", "text": "x"}',
        '{"id": "n", "text": "a NUL \\u0000 here. ' + SENTENCE + '"}',
        "[" * 100_000,
        '{"text": "x", "n": 1' + "0" * 5000 + "}",
        "{broken",
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n")
    stats = run_curate([str(path)], str(tmp_path / "out"), beam_args=IN_MEMORY)
    assert stats["accounting"]["ok"] and stats["on_disk"]["ok"]
    assert stats["records_in"] == 7 and stats["kept"] == 3 and stats["errors"] == 4
    docs = {row["id"]: row["text"] for row in table_rows(tmp_path / "out", "documents")}
    assert "\ufffd" in docs["s"] and "\x00" not in docs["n"]
    errors = table_rows(tmp_path / "out", "errors")
    assert len({row["id"] for row in errors}) == 4
    assert all(row["stage"] == "read" and "hostile.jsonl: line" in row["error_message"] for row in errors)


def wait_for_group_to_end(group: int, limit_s: float = 10.0) -> None:
    """Until no process of `group` is left (a killed process finishes the system call it was in)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_9_then_changed_resumes_refused_and_the_unchanged_one_completes(tmp_path):
    """Kill a batched run after its first batch; resumes with another --files-per-run, an added
    input or another recipe exit 2 and change nothing; the unchanged resume equals a clean run."""
    inputs = write_inputs(tmp_path, 5, lines=8)
    base = [sys.executable, "-m", "winnow.cli", "curate", *IN_MEMORY]
    for path in inputs[:4]:
        base += ["--input", path]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*base, "--files-per-run", "1", "--output", str(killed)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    # No deadline: on a busy machine the first batch may take long, and killing before it would test nothing.
    while proc.poll() is None:
        if len(list((killed / "_progress").glob("*.stats.json"))) >= 1 and len(list((killed / "_progress").glob("*.json"))) >= 4:
            break  # manifest + one batch (record and stats) done, the next under way
        time.sleep(0.1)
    assert proc.poll() is None, "the batched run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_for_group_to_end(proc.pid)  # the fork server and extraction children die a moment later
    snapshot = sorted(str(p.relative_to(killed)) for p in killed.rglob("*"))
    for extra in (["--files-per-run", "2"], ["--input", inputs[4]], ["--recipe", "c4"]):
        refused = subprocess.run([*base, *extra, "--output", str(killed), "--resume"], capture_output=True, text=True, timeout=HANG_GUARD_S)
        assert refused.returncode == 2, refused.stderr[-2000:]
        assert "cannot resume" in refused.stderr and "--overwrite" in refused.stderr and "Traceback" not in refused.stderr
    assert sorted(str(p.relative_to(killed)) for p in killed.rglob("*")) == snapshot
    resumed = subprocess.run([*base, "--output", str(killed), "--resume"], capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "batches already complete" in resumed.stderr
    clean = tmp_path / "clean"
    subprocess.run([*base, "--files-per-run", "1", "--output", str(clean)], check=True, capture_output=True, timeout=HANG_GUARD_S)
    a = json.loads((killed / "stats.json").read_text())
    b = json.loads((clean / "stats.json").read_text())
    assert a["on_disk"]["ok"] and b["on_disk"]["ok"] and a["accounting"]["ok"]
    for key in ("records_in", "kept", "rejected_total", "errors"):
        assert a[key] == b[key], key
    assert 1 <= a["batches"]["skipped_complete"] < a["batches"]["total"] == 4
    ids = [row["id"] for row in table_rows(killed, "documents")]
    assert len(ids) == len(set(ids)) == b["kept"] == 32
    assert not [p for p in killed.rglob("*") if "beam-temp" in p.name]
