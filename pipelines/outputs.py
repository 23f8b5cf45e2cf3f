"""Output directories and small JSON files on any Beam filesystem (local, gs://, s3://)."""
from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from winnow.core.atomic import atomic_write_bytes
from winnow.core.errors import ConfigurationError


class OutputExists(ConfigurationError):
    """The output directory already holds results and neither overwrite nor resume was asked for."""


def existing_outputs(output: str, names: Sequence[str]) -> list[str]:
    """Paths under `output` (files or table directories named in `names`) that already exist."""
    found = []
    for name in names:
        path = FileSystems.join(output, name)
        pattern = FileSystems.join(path, "*") if not name.endswith(".json") else path
        try:
            if FileSystems.match([pattern])[0].metadata_list:
                found.append(path)
        except Exception:  # a missing local directory raises on some filesystems
            continue
    return found


def prepare_output(output: str, names: Sequence[str], overwrite: bool) -> None:
    """Refuse to mix a new run with old results; with `overwrite`, delete the old ones first.

    Beam's temporary folders that an interrupted run left (a kill -9 during its
    writes) are not results: they are removed, and the removal is said on stderr.
    """
    present = existing_outputs(output, names)
    if present and not overwrite:
        raise OutputExists(
            f"output {output} already holds results ({', '.join(present)}); pass --overwrite to replace them"
        )
    for path in present:
        if path.endswith(".json"):
            FileSystems.delete([path])
        else:
            files = [m.path for m in FileSystems.match([FileSystems.join(path, "*")])[0].metadata_list]
            if files:
                FileSystems.delete(files)
    leftovers = beam_temp_folders(output)
    if leftovers:
        FileSystems.delete(leftovers)
        print(f"note: removed {len(leftovers)} temporary folder(s) that an interrupted run left in {output}", file=sys.stderr)


def beam_temp_folders(output: str) -> list[str]:
    """Beam's temporary folders of an interrupted write in a local `output` (in its tables,
    _progress/ and the folder itself). Beam's file matching lists files only, never folders."""
    if "://" in output:
        return []
    return sorted(glob.glob(os.path.join(glob.escape(output), "beam-temp-*"))
                  + glob.glob(os.path.join(glob.escape(output), "*", "beam-temp-*")))


def read_json(path: str) -> Any:
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))


def write_json(path: str, obj: Any, sort_keys: bool = False) -> None:
    """Write `obj` as indented JSON.

    Local paths go through `winnow.core.atomic` (temporary name, fsync, rename), so a
    reader never sees half a stats.json. Object stores (gs://, s3://) have no
    rename-over, but their uploads only become visible once complete, which is
    the same guarantee.
    """
    data = (json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n").encode("utf-8")
    if "://" in path:
        with FileSystems.create(path) as f:
            f.write(data)
        return
    atomic_write_bytes(path, data)


# Rows are turned into an Arrow batch every ROWS_PER_BATCH rows or BATCH_BYTES
# of text, whichever comes first, and written as a row group once ROW_GROUP_BYTES
# of Arrow data are buffered. Beam's WriteToParquet counts rows only (1,000 per
# batch), so 8 documents of 60 MB were all held as Python strings at once.
ROWS_PER_BATCH = 1000
BATCH_BYTES = 8 * 1024 * 1024
ROW_GROUP_BYTES = 32 * 1024 * 1024


def row_bytes(row: dict[str, Any]) -> int:
    """The bytes of a row's string and binary values (the text dominates; other columns are small)."""
    return sum(len(v) for v in row.values() if isinstance(v, (str, bytes)))


class RowsToTables(beam.DoFn):
    """Rows (dicts) -> pyarrow Tables of about ROW_GROUP_BYTES each, buffering by bytes as well as by count."""

    def __init__(self, schema: pa.Schema):
        self._schema = schema

    def start_bundle(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._row_bytes = 0
        self._batches: list[pa.RecordBatch] = []
        self._batch_bytes = 0

    def process(self, row: dict[str, Any]) -> Iterator[pa.Table]:
        self._rows.append(row)
        self._row_bytes += row_bytes(row)
        if len(self._rows) >= ROWS_PER_BATCH or self._row_bytes >= BATCH_BYTES:
            self._flush_rows()
        if self._batch_bytes >= ROW_GROUP_BYTES:
            yield self._take_table()

    def finish_bundle(self) -> Iterator[Any]:
        self._flush_rows()
        if self._batches:
            yield beam.transforms.window.GlobalWindows.windowed_value_at_end_of_window(self._take_table())

    def _flush_rows(self) -> None:
        if not self._rows:
            return
        batch = pa.RecordBatch.from_pylist(self._rows, schema=self._schema)
        self._rows, self._row_bytes = [], 0  # the Python strings go as soon as Arrow holds a copy
        self._batches.append(batch)
        self._batch_bytes += batch.nbytes

    def _take_table(self) -> pa.Table:
        table = pa.Table.from_batches(self._batches, schema=self._schema)
        self._batches, self._batch_bytes = [], 0
        return table


class WriteParquetRows(beam.PTransform):
    """Rows -> zstd Parquet files `<prefix>-SSSSS-of-NNNNN<suffix>`, memory bounded by bytes, not row count."""

    def __init__(self, file_path_prefix: str, schema: pa.Schema, num_shards: int = 0, file_name_suffix: str = ".parquet"):
        super().__init__()
        self._prefix = file_path_prefix
        self._schema = schema
        self._num_shards = num_shards
        self._suffix = file_name_suffix

    def expand(self, rows):
        return (
            rows
            | "ToTables" >> beam.ParDo(RowsToTables(self._schema))
            | "Write" >> beam.io.WriteToParquetBatched(
                self._prefix, self._schema, codec="zstd", file_name_suffix=self._suffix, num_shards=self._num_shards
            )
        )
