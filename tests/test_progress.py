"""winnow.progress: heartbeat lines without a terminal, a live line on one, and curate's batch loop using it."""
from __future__ import annotations

import io
import json

from winnow.progress import INTERVAL_ENV, Progress, Snapshot, heartbeat_interval


def test_snapshot_line_says_how_far_and_how_long():
    line = Snapshot("curate", "batches", done=3, total=8, records=12_345, elapsed_s=60.0).line()
    assert line == "curate: 3/8 batches, 12,345 records, 206 records/s, 1m00s elapsed, ~1m40s left"
    assert Snapshot("curate", "files", 0, None, 0, 5.4).line() == "curate: 5 s elapsed"  # one run: time only
    assert Snapshot("curate", "batches", 0, 4, 0, 2.0).remaining_s() is None  # no rate before the first unit


def test_heartbeat_without_a_terminal_writes_lines_to_the_stream():
    stream = io.StringIO()
    with Progress("curate", total=2, unit="batches", stream=stream, interval_s=3600) as progress:
        progress.advance(records=10)
        progress.beat()  # what the background thread does every interval
        progress.advance(records=5)
        progress.beat()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("curate: 1/2 batches, 10 records") and lines[1].startswith("curate: 2/2 batches, 15 records")


def test_heartbeat_thread_beats_and_stops():
    stream = io.StringIO()
    progress = Progress("dedup", stream=stream, interval_s=0.01)
    with progress:
        while "dedup:" not in stream.getvalue():
            progress._stop.wait(0.01)
    assert progress._thread is not None and not progress._thread.is_alive()


def test_live_line_on_a_terminal_and_off_switch(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    with Progress("curate", total=3, unit="batches", stream=stream, interval_s=30) as progress:
        assert progress.live and progress._thread is None
        progress.advance(records=7)
    assert "curate" in stream.getvalue() and "1/3" in stream.getvalue()
    running = Tty()
    with Progress("curate", stream=running, interval_s=30):
        pass
    assert "curate: running" in running.getvalue() and "/?" not in running.getvalue()
    monkeypatch.setenv(INTERVAL_ENV, "0")
    quiet = io.StringIO()
    with Progress("curate", total=3, stream=quiet) as progress:
        progress.advance()
        assert progress._thread is None and not progress.live
    assert quiet.getvalue() == ""
    monkeypatch.setenv(INTERVAL_ENV, "often")
    assert heartbeat_interval() == 30.0


def test_batched_curate_reports_each_batch(tmp_path, monkeypatch, capsys):
    """`winnow curate --files-per-run` without a terminal: a heartbeat line per interval with batches and records."""
    from winnow.pipelines.run_curate import run_curate

    monkeypatch.setenv(INTERVAL_ENV, "0.05")
    inputs = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"id": f"{name}{i}", "text": "words " * 30}) + "\n" for i in range(3)))
        inputs.append(str(path))
    stats = run_curate(inputs, str(tmp_path / "out"), recipe="extract", files_per_run=1,
                       beam_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert stats["accounting"]["ok"] and stats["records_in"] == 6
    err = capsys.readouterr().err
    beats = [line for line in err.splitlines() if line.startswith("curate: ") and "batches" in line]
    assert beats, err
    assert all("/2 batches" in line for line in beats)
    counts = [int(line.split("/2 batches")[0].split()[-1]) for line in beats]
    assert counts == sorted(counts) and counts[-1] <= 2
