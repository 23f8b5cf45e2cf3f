"""winnow.progress: heartbeat lines without a terminal, a live line on one, and the commands using it."""
from __future__ import annotations

import io
import json

import pytest

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


class _Stop(Exception):
    """Raised by a stand-in for a command's work once its heartbeat was seen."""


def _wait_for_heartbeat(stream: io.StringIO, what: str) -> None:
    """Block like real work until the heartbeat thread has written a line for `what`."""
    import time

    deadline = time.monotonic() + 60  # a backstop only: the interval is 0.02 s
    while f"{what}:" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)


def _documents(folder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["one two three", "four five six"]}), folder / "part-0.parquet")
    return folder


# (command line, module and function doing the work, the heartbeat's name)
COMMANDS = {
    "mix": (lambda d, o: ["mix", "--source", f"a={d}", "--weights", "a=1", "--output", str(o)], "winnow.mix", "run_mix", "mix"),
    "select": (lambda d, o: ["select", str(d), "--recipe", "extract", "--output", str(o)], "winnow.select", "run_select", "select"),
    "dedup": (lambda d, o: ["dedup", "--input", str(d), "--output", str(o)], "winnow.pipelines.dedup.launcher", "run_dedup", "dedup"),
    "tokenize": (lambda d, o: ["tokenize", "--input", str(d), "--tokenizer", "t.json", "--output", str(o)],
                 "winnow.training.tokens", "tokenize_corpus", "tokenize"),
    "tokenizer train": (lambda d, o: ["tokenizer", "train", "--input", str(d), "--vocab-size", "300", "--output", str(o / "t.json")],
                        "winnow.training.tokenizer", "train_tokenizer", "tokenizer train"),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_long_command_beats_without_a_terminal(command, tmp_path, monkeypatch):
    """Every command whose work can take long writes heartbeat lines to a non-terminal stderr."""
    import importlib
    import sys

    from winnow.cli import main

    argv, module, function, what = COMMANDS[command]
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setenv(INTERVAL_ENV, "0.02")

    def work(*args, **kwargs):
        _wait_for_heartbeat(stderr, what)
        raise _Stop

    monkeypatch.setattr(importlib.import_module(module), function, work)
    with pytest.raises(_Stop):
        main(argv(_documents(tmp_path / "docs"), tmp_path / "out"))
    assert any(line.startswith(f"{what}: ") and "elapsed" in line for line in stderr.getvalue().splitlines()), stderr.getvalue()


def test_no_heartbeat_when_switched_off(tmp_path, monkeypatch):
    import sys

    from winnow.cli import main

    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setenv(INTERVAL_ENV, "0")

    def work(*args, **kwargs):
        import time

        time.sleep(0.2)
        raise _Stop

    monkeypatch.setattr("winnow.mix.run_mix", work)
    with pytest.raises(_Stop):
        main(COMMANDS["mix"][0](_documents(tmp_path / "docs"), tmp_path / "out"))
    assert "mix:" not in stderr.getvalue()


def test_run_names_each_stage_and_an_interrupted_one(tmp_path, monkeypatch):
    """`winnow run`: a heartbeat per stage ('run [input] (stage 1 of 2)'); Ctrl-C in a stage says
    which, keeps the completed ones, and the same command continues."""
    import sys

    from tests.test_runner import BEAM, small_recipe
    from winnow import runner
    from winnow.interrupt import Interrupted

    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setenv(INTERVAL_ENV, "0.02")

    def input_stage(ctx, resume):
        _wait_for_heartbeat(stderr, "run [input] (stage 1 of 2)")
        return {"paths": []}, {"files": 0}

    def curate_stage(ctx, resume):
        raise KeyboardInterrupt

    monkeypatch.setitem(runner.STAGE_RUNNERS, "input", input_stage)
    monkeypatch.setitem(runner.STAGE_RUNNERS, "curate", curate_stage)
    ctx = runner.load_context(str(small_recipe(tmp_path)), tmp_path / "run", BEAM)
    with pytest.raises(Interrupted, match="stage curate stopped; completed stages are kept") as caught:
        runner.run_stages(ctx, until_stage="curate")
    assert "redoes stage curate" in caught.value.message
    assert "run [input] (stage 1 of 2): " in stderr.getvalue()
    assert runner.read_manifest(ctx, "input")["status"] == runner.COMPLETE
    assert json.loads((ctx.run_dir / "run.json").read_text())["stages"]["curate"]["status"] == "interrupted"
