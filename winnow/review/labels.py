"""Review labels and comparison votes: Parquet files under `DIR/review/`.

Each reviewer session writes its own file (`labels-<reviewer>-<start>-<nonce>.parquet`),
so several reviewers can label the same output at once without locking.
A session rewrites its file after every label, to a temporary file in the
same folder that then replaces it (`os.replace`), so a reader or a crash
never sees half a file. Readers take every session file; when one reviewer
labelled a document more than once, the latest label counts.

Text that Parquet cannot store (a lone surrogate from a JSON `\ud800` escape)
is refused before it reaches a session, and a row whose write fails is taken
back out, so one bad label never blocks the ones after it.

CSV export neutralises spreadsheet formulas: a text cell that starts with
=, +, -, @, tab or carriage return (after any leading single quotes) gets one
more leading `'`, which a spreadsheet shows as text; CSV import removes that
one quote again, so export then import gives back the same labels.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow import schemas
from winnow.core.jsonl import json_lines
from winnow.core.errors import ConfigurationError, ErrorFamily, InputError

REVIEW_DIR = "review"
LABELS_PREFIX = "labels-"
VOTES_PREFIX = "votes-"
LABELS = ("good", "bad", "skip")
VOTES = ("a", "b", "tie")
MAX_NOTE_CHARS = 2000
MAX_REVIEWER_CHARS = 100
DEFAULT_IMPORT_REVIEWER = "import"
# A cell a spreadsheet would run as a formula: optional quotes we added, then one of = + - @ tab CR.
FORMULA_CELL = re.compile(r"'*[=+\-@\t\r]")


class LabelsError(ErrorFamily):
    """A labels file is corrupt or malformed, or a label is invalid; the message names the file."""


class LabelsConfigError(LabelsError, ConfigurationError):
    """A named file does not exist, a format or reviewer name is wrong, a label asked for is invalid; exit 2."""


class LabelsInputError(LabelsError, InputError):
    """A labels, votes or prompts file exists but is corrupt or malformed; exit 3."""


def review_dir(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / REVIEW_DIR


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def check_text(value: str, what: str) -> str:
    """`value` if it is storable Unicode text (UTF-8 encodable), else LabelsError naming `what`."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LabelsInputError(f"{what} is not valid Unicode text ({exc.reason} at character {exc.start})") from None
    return value


def check_reviewer(name: str) -> str:
    name = check_text(name, "reviewer name").strip()
    if not name or len(name) > MAX_REVIEWER_CHARS or any(ord(c) < 32 for c in name):
        raise LabelsConfigError(f"reviewer name must be 1-{MAX_REVIEWER_CHARS} printable characters, got {name!r}")
    return name


def _slug(name: str) -> str:
    """The reviewer's name as a file-name part; the exact name is in every row."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40].strip("._") or "reviewer"


class SessionFile:
    """One reviewer session's rows, keyed by item id, rewritten atomically on every change."""

    def __init__(self, folder: Path, prefix: str, reviewer: str, schema: pa.Schema):
        self.folder = folder
        self.schema = schema
        self.reviewer = check_reviewer(reviewer)
        stamp = now_utc().strftime("%Y%m%dT%H%M%S")
        self.path = folder / f"{prefix}{_slug(self.reviewer)}-{stamp}-{secrets.token_hex(3)}.parquet"
        self._rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def put(self, row: Mapping[str, Any]) -> None:
        """Add or replace the row for `row["id"]` and write the file; a failed write keeps the old row."""
        key = str(row["id"])
        with self._lock:
            previous = self._rows.get(key)
            self._rows[key] = dict(row)
            try:
                self._write()
            except BaseException:
                if previous is None:
                    del self._rows[key]
                else:
                    self._rows[key] = previous
                raise

    def put_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add rows (a repeated id: the last one wins) and write the file once."""
        with self._lock:
            for row in rows:
                self._rows[str(row["id"])] = dict(row)
            self._write()

    def _write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(list(self._rows.values()), schema=self.schema)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.folder)
        os.close(fd)
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _session_files(folder: Path, prefix: str) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{prefix}*.parquet") if not p.name.startswith("."))


def _read_all(folder: Path, prefix: str, schema: pa.Schema, table_name: str) -> pa.Table:
    parts = []
    for path in _session_files(folder, prefix):
        try:
            table = pq.read_table(path)
            schemas.check_table_schema(table.schema, table_name, str(path), required=schema.names)
            parts.append(table.select(schema.names).cast(schema))
        except schemas.SchemaMismatch as exc:
            raise LabelsInputError(f"corrupt labels file: {exc}") from None
        except (pa.ArrowException, OSError) as exc:
            raise LabelsInputError(f"{path}: corrupt labels file, not readable Parquet ({exc}); move it aside to go on") from None
    if not parts:
        return schema.empty_table()
    return pa.concat_tables(parts)


def _latest(table: pa.Table, keys: list[str]) -> pa.Table:
    """Keep the latest row per `keys` (by time; a later file wins a tie)."""
    if table.num_rows == 0:
        return table
    order = pc.sort_indices(table, sort_keys=[("time", "descending")])
    table = table.take(order)
    seen: set[tuple] = set()
    keep = []
    columns = [table.column(k).to_pylist() for k in keys]
    for i, key in enumerate(zip(*columns)):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return table.take(pa.array(keep, pa.int64())).sort_by([("time", "ascending")])


def read_labels(out_dir: str | os.PathLike, latest: bool = True) -> pa.Table:
    """Labels of `out_dir` (columns id, label, reviewer, time, note, stratum).

    With `latest` (the default) one row per (reviewer, id): the label that
    reviewer gave last. An output without labels gives an empty table.
    """
    table = _read_all(review_dir(out_dir), LABELS_PREFIX, schemas.review_labels_schema(), schemas.REVIEW_LABELS)
    bad = sorted(set(table.column("label").to_pylist()) - set(LABELS))
    if bad:
        raise LabelsInputError(f"{review_dir(out_dir)}: labels files hold unknown label(s) {bad}; expected {list(LABELS)}")
    return _latest(table, ["reviewer", "id"]) if latest else table


def read_votes(run_dir: str | os.PathLike, latest: bool = True) -> pa.Table:
    """Comparison votes stored under `run_dir/review/`; latest per (reviewer, run pair, item)."""
    table = _read_all(review_dir(run_dir), VOTES_PREFIX, schemas.review_votes_schema(), schemas.REVIEW_VOTES)
    return _latest(table, ["reviewer", "run_a", "run_b", "id"]) if latest else table


def check_note(note: str | None) -> str | None:
    """A note as stored: stripped, at most MAX_NOTE_CHARS, valid text; empty becomes None."""
    note = check_text((note or "").strip(), "note")
    if len(note) > MAX_NOTE_CHARS:
        raise LabelsConfigError(f"note is longer than {MAX_NOTE_CHARS} characters")
    return note or None


def neutralise_cell(value: Any) -> Any:
    """A text cell a spreadsheet will not run as a formula (one more leading `'`)."""
    return "'" + value if isinstance(value, str) and FORMULA_CELL.match(value) else value


def restore_cell(value: Any) -> Any:
    """The inverse of neutralise_cell, for CSV import."""
    return value[1:] if isinstance(value, str) and value.startswith("'") and FORMULA_CELL.match(value) else value


def label_row(doc_id: str, label: str, reviewer: str, note: str | None, stratum: str | None,
              time: dt.datetime | None = None) -> dict[str, Any]:
    if label not in LABELS:
        raise LabelsConfigError(f"label must be one of {list(LABELS)}, got {label!r}")
    note = check_note(note)
    return {
        "id": check_text(doc_id, "id"), "label": label, "reviewer": check_reviewer(reviewer), "time": time or now_utc(),
        "note": note or None, "stratum": stratum,
    }


# ---- import and export -------------------------------------------------------------------------------------

def _rows_of_file(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line number, record) from a JSONL or CSV file."""
    suffix = path.suffix.lower()
    try:
        with path.open(encoding="utf-8", newline="") as f:
            if suffix in (".jsonl", ".ndjson"):
                # json_lines turns bad JSON, deep nesting and lone surrogates into one LabelsError naming the line
                for n, obj in json_lines(f, path, LabelsInputError):
                    if not isinstance(obj, dict):
                        raise LabelsInputError(f"{path}:{n}: expected a JSON object with id and label")
                    yield n, obj
            elif suffix == ".csv":
                reader = csv.DictReader(f)
                try:
                    if not reader.fieldnames or not {"id", "label"} <= set(reader.fieldnames):
                        raise LabelsInputError(f"{path}: CSV header must name id and label columns, found {reader.fieldnames}")
                    for row in reader:
                        yield reader.line_num, {k: restore_cell(v) for k, v in row.items()}
                except csv.Error as exc:  # e.g. a field over csv.field_size_limit(); the line is the one it broke on
                    raise LabelsInputError(f"{path}:{reader.line_num + 1}: not valid CSV ({exc})") from None
            else:
                raise LabelsConfigError(f"{path}: unknown labels format {suffix or '(no extension)'!r}; use .jsonl or .csv")
    except UnicodeDecodeError as exc:
        raise LabelsInputError(f"{path}: not UTF-8 text ({exc.reason})") from None


def parse_label_file(path: Path, known_ids: Iterable[str], default_reviewer: str = DEFAULT_IMPORT_REVIEWER) -> list[dict]:
    """Validated label rows from `path`; every problem names the file and line."""
    if not path.is_file():
        raise LabelsConfigError(f"{path}: no such labels file")
    known = set(known_ids)
    rows, unknown = [], []
    for n, obj in _rows_of_file(path):
        doc_id, label = obj.get("id"), obj.get("label")
        if not isinstance(doc_id, str) or not doc_id:
            raise LabelsInputError(f"{path}:{n}: missing or non-text id")
        label = str(label).strip().lower() if label is not None else ""
        if label not in LABELS:
            raise LabelsInputError(f"{path}:{n}: label must be one of {list(LABELS)}, got {obj.get('label')!r}")
        try:
            check_text(doc_id, "id")  # before it is echoed in a message below
            if doc_id not in known:
                unknown.append(f"{doc_id} (line {n})")
                continue
            note = obj.get("note")
            if note is not None and not isinstance(note, str):
                raise LabelsInputError("note must be text")
            rows.append(label_row(doc_id, label, str(obj.get("reviewer") or default_reviewer), note, None))
        except LabelsError as exc:
            raise LabelsInputError(f"{path}:{n}: {exc}") from None
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise LabelsInputError(f"{path}: {len(unknown)} id(s) are not in this output: {shown}")
    if not rows:
        raise LabelsInputError(f"{path}: no labels found (expected records with id and label)")
    return rows


def import_labels(out_dir: Path, path: Path, known_ids: Iterable[str], default_reviewer: str) -> tuple[int, Path]:
    """Write the labels of `path` as one file per reviewer named in it; (rows, folder)."""
    rows = parse_label_file(path, known_ids, default_reviewer)
    by_reviewer: dict[str, list[dict]] = {}
    for row in rows:
        by_reviewer.setdefault(row["reviewer"], []).append(row)
    for reviewer, group in by_reviewer.items():
        session = SessionFile(review_dir(out_dir), LABELS_PREFIX, reviewer, schemas.review_labels_schema())
        session.put_many(group)
    return len(rows), review_dir(out_dir)


def export_labels(out_dir: Path, output: Path) -> int:
    """Write the latest labels as JSONL or CSV (by `output`'s extension); the number written."""
    suffix = output.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise LabelsConfigError(f"{output}: unknown export format {suffix or '(no extension)'!r}; use .jsonl or .csv")
    table = read_labels(out_dir)
    if table.num_rows == 0:
        raise LabelsInputError(f"{review_dir(out_dir)}: no labels to export (looked for {LABELS_PREFIX}*.parquet)")
    rows = table.to_pylist()
    for row in rows:
        row["time"] = row["time"].isoformat()
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=output.parent)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        if suffix == ".csv":
            writer = csv.DictWriter(f, fieldnames=table.schema.names)
            writer.writeheader()
            writer.writerows({k: neutralise_cell(v) for k, v in row.items()} for row in rows)
        else:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, output)
    return len(rows)
