"""Ctrl-C on a batched `winnow curate`: it stops, keeps the finished batches intact, removes the
interrupted batch's partial output, says how to resume, and the resumed run matches a clean one."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from winnow.interrupt import resume_command

BACKSTOP_S = 120  # only so that a hang fails the test instead of stalling the suite
COUNTS = ("records_in", "kept", "rejected_total", "errors")


def _inputs(folder: Path, files: int = 4, records: int = 40) -> list[str]:
    folder.mkdir()
    for f in range(files):
        lines = [json.dumps({"id": f"{f}-{i}", "text": f"Sentence {i} of file {f} says something plain. " * 12})
                 for i in range(records)]
        (folder / f"f{f}.jsonl").write_text("\n".join(lines) + "\n")
    return [str(folder / "*.jsonl")]


def _curate(inputs: list[str], output: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "winnow.cli", "curate", "--input", *inputs, "--output", str(output),
            "--direct_running_mode=multi_threading", "--direct_num_workers=1", *extra]


def _completed_keys(output: Path) -> list[str]:
    return [p.stem for p in (output / "_progress").glob("*.json") if p.stem != "manifest" and not p.stem.endswith(".stats")]


def _rows(paths) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def test_resume_command_drops_overwrite_and_adds_resume():
    assert resume_command(["curate", "--input", "a b/*.warc.gz", "--output", "o", "--overwrite"]) == \
        "winnow curate --input 'a b/*.warc.gz' --output o --resume"
    assert resume_command(["curate", "--resume"]).count("--resume") == 1


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signals needed")
def test_ctrl_c_after_a_batch_stops_keeps_it_and_resumes_to_the_clean_counts(tmp_path):
    inputs = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    env = {**os.environ, "WINNOW_HEARTBEAT_S": "0"}
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        # Its own process group, signalled as a terminal's Ctrl-C is: every process of the group.
        process = subprocess.Popen(_curate(inputs, out, "--files-per-run", "1"), stdout=subprocess.DEVNULL,
                                   stderr=stderr, env=env, start_new_session=True)
        deadline = time.monotonic() + BACKSTOP_S
        while not _completed_keys(out) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before a batch completed: " + stderr_path.read_text()
        os.killpg(process.pid, signal.SIGINT)
        try:
            status = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("curate did not end after Ctrl-C")
    message = stderr_path.read_text()
    assert status == 130, message
    assert "interrupted: batch" in message and "--resume" in message and "Traceback" not in message, message
    assert f"--output {out}" in message and "--files-per-run 1 --resume" in message

    # Finished batches intact; nothing of an unfinished batch, nor Beam's temporary folders, in the tables.
    done = _completed_keys(out)
    assert 1 <= len(done) < 4
    for key in done:
        stats = json.loads((out / "_progress" / f"{key}.json").read_text())["stats"]
        assert _rows((out / "documents").glob(f"part-{key}-*.parquet")) == stats["kept"]
    for table in ("documents", "rejected", "errors"):
        for path in (out / table).iterdir():
            assert any(path.name.startswith(f"part-{key}-") for key in done), path
    assert not list(out.glob("**/beam-temp-*"))

    resumed = subprocess.run(_curate(inputs, out, "--files-per-run", "1", "--resume"), capture_output=True,
                             text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(done)} of 4 batches already complete" in resumed.stderr
    clean = subprocess.run(_curate(inputs, tmp_path / "clean"), capture_output=True, text=True, env=env, timeout=600)
    assert clean.returncode == 0, clean.stderr
    resumed_stats = json.loads((out / "stats.json").read_text())
    clean_stats = json.loads((tmp_path / "clean" / "stats.json").read_text())
    assert {k: resumed_stats[k] for k in COUNTS} == {k: clean_stats[k] for k in COUNTS}
    assert resumed_stats["records_in"] == 160 and resumed_stats["on_disk"]["ok"]


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signals needed")
def test_ctrl_c_during_an_unbatched_run_leaves_no_partial_output(tmp_path):
    """Without batches nothing is complete until the end: Ctrl-C removes the partial tables, and
    the --resume command it prints starts a batched run in the same output folder."""
    inputs = _inputs(tmp_path / "in", files=2, records=400)
    out = tmp_path / "out"
    env = {**os.environ, "WINNOW_HEARTBEAT_S": "0"}
    process = subprocess.Popen(_curate(inputs, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=env, start_new_session=True)
    deadline = time.monotonic() + BACKSTOP_S
    while not list(out.glob("**/beam-temp-*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # Beam has started writing
    assert process.poll() is None, "the run ended before it wrote anything"
    os.killpg(process.pid, signal.SIGINT)
    try:
        _, message = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("curate did not end after Ctrl-C")
    assert process.returncode == 130, message
    assert "not batched" in message and "--resume" in message and "Traceback" not in message, message
    left = [p for p in out.rglob("*") if p.is_file() or p.name.startswith("beam-temp-")]
    assert left == [], left
    resumed = subprocess.run(_curate(inputs, out, "--resume"), capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "stats.json").read_text())["records_in"] == 800


def test_train_says_which_checkpoint_resume_continues_from(tmp_path):
    import argparse

    from winnow.cli.train import _interrupted

    args = argparse.Namespace(output=tmp_path, argv=["train", "--input", "tok", "--output", str(tmp_path), "--overwrite"])
    assert "no checkpoint was written yet" in _interrupted(args).message
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "latest.json").write_text(json.dumps({"step": 40, "file": "step-00000040.pt"}))
    message = _interrupted(args).message
    assert "checkpoint at step 40" in message and message.endswith(f"--output {tmp_path} --resume")


def test_dedup_says_it_wrote_nothing_and_how_to_run_again(tmp_path, monkeypatch):
    import argparse

    from winnow.cli.dedup import _interrupted

    monkeypatch.setattr("winnow.interrupt.kill_children", lambda: None)  # not this test session's helpers
    (tmp_path / "documents.tmp").mkdir()
    args = argparse.Namespace(output=str(tmp_path), argv=["dedup", "--input", "docs", "--output", str(tmp_path)])
    message = _interrupted(args).message
    assert "no resume" in message and message.endswith(f"--output {tmp_path} --overwrite")
    assert not (tmp_path / "documents.tmp").exists()
