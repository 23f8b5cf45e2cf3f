"""Dedup's Parquet sink: OUT/documents/ and OUT/duplicates/ as zstd Parquet, schema metadata kept.

Rows are buffered into uniquely named temporary files and renamed into
`part-NNNNN.parquet` once every bundle has committed, so a retried bundle never
duplicates rows.
"""
from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from winnow import schemas
from winnow.pipelines.dedup.common import FILES_WRITTEN, NAMESPACE, PARQUET_COMPRESSION, ROWS_PER_FILE, DedupError


def output_document_schema(input_schema: pa.Schema) -> pa.Schema:
    """The input schema with `cluster_id` and `minhash_cluster_size` after the text fields;
    unknown columns pass through."""
    fields = [f for f in input_schema if f.name not in {d.name for d in schemas.DEDUP_FIELDS}]
    names = [f.name for f in fields]
    anchor = next((n for n in ("language_score", "language", "text") if n in names), None)
    at = names.index(anchor) + 1 if anchor else len(fields)
    fields[at:at] = list(schemas.DEDUP_FIELDS)
    metadata = dict(input_schema.metadata or {})
    metadata[schemas.META_SCHEMA] = schemas.DOCUMENTS.encode()
    metadata[schemas.META_VERSION] = schemas.SCHEMA_VERSION.encode()
    return pa.schema(fields, metadata=metadata)


def resolve_output_schema(file_schemas: Sequence[tuple[str, bytes]]) -> pa.Schema:
    """One output schema for all input files; input files with different columns are an error."""
    if not file_schemas:
        return schemas.document_schema(with_cluster=True)
    decoded = sorted((path, pa.ipc.read_schema(pa.py_buffer(data))) for path, data in file_schemas)
    first_path, first = decoded[0]
    for path, schema in decoded[1:]:
        if not schema.remove_metadata().equals(first.remove_metadata()):
            raise DedupError(
                f"input files have different columns: {first_path} has {first.names}, {path} has {schema.names}"
            )
    return output_document_schema(first)


def write_table(rows: list[dict], schema: pa.Schema, path: str) -> None:
    table = pa.Table.from_pylist(rows, schema=schema)
    with FileSystems.create(path, mime_type="application/octet-stream", compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        pq.write_table(table, handle, compression=PARQUET_COMPRESSION)


class _WriteTempFilesFn(beam.DoFn):
    """Buffers rows and writes them as uniquely named temporary Parquet files; yields their paths.

    Files become visible only through `_FinalizeFiles`, so a retried bundle's orphans are
    deleted with the temporary directory instead of duplicating rows.
    """

    def __init__(self, temp_dir: str, rows_per_file: int):
        self.temp_dir = temp_dir
        self.rows_per_file = rows_per_file
        self._schema: pa.Schema | None = None
        self._schema_source: object | None = None
        self._files = Metrics.counter(NAMESPACE, FILES_WRITTEN)

    def start_bundle(self) -> None:
        self._rows: list[dict] = []

    def process(self, row: dict, file_schemas: Any) -> Iterator[str]:
        if self._schema is None:
            self._schema = file_schemas if isinstance(file_schemas, pa.Schema) else resolve_output_schema(file_schemas)
        self._rows.append(row)
        if len(self._rows) >= self.rows_per_file:
            yield self._flush()

    def finish_bundle(self) -> Iterator[Any]:
        if self._rows:
            yield GlobalWindows.windowed_value(self._flush())

    def _flush(self) -> str:
        path = FileSystems.join(self.temp_dir, f"{uuid.uuid4().hex}.parquet")
        write_table(self._rows, self._schema, path)
        self._files.inc()
        self._rows = []
        return path


def _finalize_files(temp_paths: list[str], out_dir: str, temp_dir: str, file_schemas: Any) -> int:
    """Move committed temporary files to out_dir/part-NNNNN.parquet (an empty file when none)."""
    mkdirs(out_dir)
    paths = sorted(temp_paths)
    if not paths:
        schema = file_schemas if isinstance(file_schemas, pa.Schema) else resolve_output_schema(file_schemas)
        write_table([], schema, FileSystems.join(out_dir, "part-00000.parquet"))
    else:
        targets = [FileSystems.join(out_dir, f"part-{i:05d}.parquet") for i in range(len(paths))]
        FileSystems.rename(paths, targets)
    leftovers = [m.path for m in FileSystems.match([FileSystems.join(temp_dir, "*")])[0].metadata_list]
    if leftovers:
        FileSystems.delete(leftovers)
    remove_local_dir(temp_dir)
    return max(len(paths), 1)


def mkdirs(path: str) -> None:
    if FileSystems.get_scheme(path) is None or FileSystems.get_scheme(path) == "file":
        os.makedirs(path, exist_ok=True)


def remove_local_dir(path: str) -> None:
    if FileSystems.get_scheme(path) is None or FileSystems.get_scheme(path) == "file":
        if os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)


class _WriteParquet(beam.PTransform):
    def __init__(self, out_dir: str, schema: Any, rows_per_file: int = ROWS_PER_FILE):
        super().__init__()
        self.out_dir = out_dir
        self.schema = schema  # a pa.Schema, or a side input of (path, schema bytes)
        self.rows_per_file = rows_per_file

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        temp_dir = self.out_dir.rstrip("/") + ".tmp"
        schema = self.schema
        return (
            rows
            | "WriteTemp" >> beam.ParDo(_WriteTempFilesFn(temp_dir, self.rows_per_file), schema)
            | "Collect" >> beam.combiners.ToList()
            | "Finalize" >> beam.Map(_finalize_files, self.out_dir, temp_dir, schema)
        )


class WriteDedupOutputs(beam.PTransform):
    """Kept rows -> OUT/documents/, duplicates -> OUT/duplicates/ (zstd Parquet, schema metadata kept)."""

    def __init__(self, output_dir: str, file_schemas: beam.PCollection):
        super().__init__()
        self.output_dir = output_dir
        self.file_schemas = file_schemas

    def expand(self, outputs: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        kept, duplicates = outputs
        base = self.output_dir.rstrip("/")
        schema_side = beam.pvalue.AsList(self.file_schemas)
        written_docs = kept | "Documents" >> _WriteParquet(FileSystems.join(base, "documents"), schema_side)
        written_dups = duplicates | "Duplicates" >> _WriteParquet(
            FileSystems.join(base, "duplicates"), schemas.duplicates_schema()
        )
        return (written_docs, written_dups) | "Written" >> beam.Flatten()


def write_summary(summary: dict, path: str) -> None:
    payload = {
        "counts": summary["counts"],
        "sizes": {str(k): v for k, v in summary["sizes"].items()},
        "unsettled": {str(k): v for k, v in summary["unsettled"].items()},
    }
    with FileSystems.create(path, mime_type="application/json") as handle:
        handle.write(json.dumps(payload, sort_keys=True).encode())

