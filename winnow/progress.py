"""Progress you can see while a long command runs.

On a terminal, a live line (rich): what runs, units done of the total,
records, records per second, elapsed and remaining time where countable.
Without a terminal (a log file, CI, a Dataflow launcher), one heartbeat line
every `interval` seconds on stderr, so a log shows the job is alive and how
far it got. Nothing is printed to stdout, and nothing here touches the
pipeline: the caller reports what finished (`advance`), so it is the same on
every runner.

    with Progress("curate", total=len(batches), unit="batches") as progress:
        for batch in batches:
            ...
            progress.advance(records=stats["records_in"])

WINNOW_HEARTBEAT_S sets the heartbeat interval (default 30 s); 0 turns both
the live line and the heartbeat off.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

DEFAULT_INTERVAL_S = 30.0
INTERVAL_ENV = "WINNOW_HEARTBEAT_S"


@dataclass(frozen=True)
class Snapshot:
    """How far a task got: what the live line and the heartbeat both show."""

    what: str
    unit: str
    done: int
    total: int | None
    records: int
    elapsed_s: float

    def line(self) -> str:
        """One heartbeat line, e.g. 'curate: 3/8 batches, 12,345 records, 210 records/s, 58 s elapsed, ~1m37s left'."""
        parts = []
        if self.total is not None:
            parts.append(f"{self.done}/{self.total} {self.unit}")
        elif self.done:
            parts.append(f"{self.done} {self.unit}")
        if self.records:
            parts.append(f"{self.records:,} records")
            if self.elapsed_s > 0:
                parts.append(f"{self.records / self.elapsed_s:,.0f} records/s")
        parts.append(f"{_duration(self.elapsed_s)} elapsed")
        left = self.remaining_s()
        if left is not None:
            parts.append(f"~{_duration(left)} left")
        return f"{self.what}: " + ", ".join(parts)

    def remaining_s(self) -> float | None:
        """Time left at the rate so far; None until one unit is done or without a total."""
        if self.total is None or self.done == 0 or self.done > self.total:
            return None
        return self.elapsed_s / self.done * (self.total - self.done)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def heartbeat_interval() -> float:
    """WINNOW_HEARTBEAT_S, or the default; a value that is not a number is the default."""
    try:
        return float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S


class Progress:
    """A context manager showing a task's progress: live on a terminal, heartbeat lines otherwise.

    Tasks nest (a `winnow run` stage runs a curate): heartbeat lines of both are
    written, while on a terminal only the outermost live line is drawn (rich
    draws one live display at a time).
    """

    _live_depth = 0  # live displays open in this process

    def __init__(self, what: str, total: int | None = None, unit: str = "files", stream: IO[str] | None = None,
                 interval_s: float | None = None, live: bool | None = None):
        self.what, self.total, self.unit = what, total, unit
        self.stream = stream or sys.stderr
        self.interval_s = heartbeat_interval() if interval_s is None else interval_s
        self.live = (self.stream.isatty() if live is None else live) and self.interval_s > 0
        self.done = self.records = 0
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._rich: Any = None
        self._task: Any = None

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(self.what, self.unit, self.done, self.total, self.records, time.monotonic() - self._started)

    def advance(self, units: int = 1, records: int = 0) -> None:
        """`units` more done, with `records` more records processed."""
        with self._lock:
            self.done += units
            self.records += records
        if self._rich is not None:
            self._rich.update(self._task, advance=units, records=f"{self.records:,} records")

    def beat(self) -> None:
        """Write one heartbeat line now (the background thread calls this every interval)."""
        print(self.snapshot().line(), file=self.stream, flush=True)

    def _beat_until_stopped(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()

    def __enter__(self) -> Progress:
        self._started = time.monotonic()
        if self.interval_s <= 0:
            return self
        if self.live and Progress._live_depth:  # an outer task already draws the live line
            self.interval_s = 0
            return self
        if self.live:
            Progress._live_depth += 1
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress
            from rich.progress import TimeRemainingColumn

            if self.total is None:  # nothing countable: say it runs, and for how long
                columns = [SpinnerColumn(), TextColumn("{task.description}: running"), TimeElapsedColumn()]
            else:
                columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn(self.unit), TextColumn("{task.fields[records]}"), TimeElapsedColumn(), TimeRemainingColumn()]
            self._rich = RichProgress(*columns, console=Console(file=self.stream), transient=False)
            self._task = self._rich.add_task(self.what, total=self.total, records="")
            self._rich.start()
        else:
            # A daemon thread: it never keeps the process alive, and Ctrl-C in the main thread is not delayed.
            self._thread = threading.Thread(target=self._beat_until_stopped, name="winnow-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._rich is not None:
            self._rich.stop()
            Progress._live_depth -= 1
        if self._thread is not None:
            self._thread.join(timeout=1.0)
