"""Reading dedup's input: the shared Parquet resolver, run inside the pipeline, then one
DoFn per file that checks its schema and streams its rows."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam import pvalue
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from winnow import schemas
from winnow.core.errors import InputError
from winnow.pipelines.dedup.common import (
    DOCUMENTS_IN,
    DOCUMENTS_TAG,
    FILES_READ,
    NAMESPACE,
    READ_BATCH_ROWS,
    SCHEMA_TAG,
    DedupError,
)
from winnow.schemas.inputs import resolve_parquet_inputs

REQUIRED_COLUMNS = ("id", "text")


def open_parquet(path: str) -> pq.ParquetFile:
    """The file through Beam's FileSystems (local, gs://, ...); errors name it."""
    handle = FileSystems.open(path, mime_type="application/octet-stream", compression_type=CompressionTypes.UNCOMPRESSED)
    try:
        return pq.ParquetFile(handle)
    except (pa.ArrowException, OSError) as exc:
        handle.close()
        raise DedupError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc


def check_input_schema(schema: pa.Schema, path: str) -> None:
    schemas.check_table_schema(schema, schemas.DOCUMENTS, path, required=REQUIRED_COLUMNS)


def check_local_inputs(paths: list[str]) -> None:
    """Check every local input's schema from its footer before a pipeline is built.

    Inside the pipeline the same check would surface wrapped in a Beam
    traceback (graph mode); here it is one SchemaMismatch naming the file and
    the missing column. Remote paths are left to the pipeline: building it
    must not need their credentials.
    """
    for path in paths:
        if "://" in path:
            continue
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowException, OSError) as exc:  # unusable input: exit 3, as the schema check
            raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc
        check_input_schema(schema, path)


def resolve_input(spec: str) -> list[str]:
    """Input files of `spec` (a Winnow output directory, a directory of Parquet, a glob or a file).

    Raises winnow.schemas.inputs.ParquetInputError naming what was looked for when nothing matches.
    """
    return resolve_parquet_inputs(spec)


class _ReadParquetFileFn(beam.DoFn):
    """One input file -> its rows as dicts, and (path, serialized schema) on the schema output."""

    def __init__(self) -> None:
        self._docs = Metrics.counter(NAMESPACE, DOCUMENTS_IN)
        self._files = Metrics.counter(NAMESPACE, FILES_READ)

    def process(self, path: str) -> Iterator[Any]:
        parquet = open_parquet(path)
        try:
            schema = parquet.schema_arrow
            check_input_schema(schema, path)
            self._files.inc()
            yield pvalue.TaggedOutput(SCHEMA_TAG, (path, schema.serialize().to_pybytes()))
            try:
                for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS):
                    rows = batch.to_pylist()
                    self._docs.inc(len(rows))
                    yield from rows
            except (pa.ArrowException, OSError) as exc:
                raise DedupError(f"{path}: corrupt Parquet data ({type(exc).__name__}: {exc})") from exc
        finally:
            parquet.close(force=True)  # also closes the FileSystems handle we passed in


class ResolveInputFiles(beam.PTransform):
    """The input spec -> its Parquet paths, resolved when the pipeline runs (never at
    construction, so gs:// inputs need no credentials to build the pipeline)."""

    def __init__(self, input_spec: str):
        super().__init__()
        self.input_spec = input_spec

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Spec" >> beam.Create([self.input_spec])
            | "Resolve" >> beam.FlatMap(resolve_input)
        )


class ReadCuratedDocuments(beam.PTransform):
    """Input spec -> outputs `documents` (row dicts) and `schema` ((path, serialized schema)
    per file, for the writer)."""

    def __init__(self, input_dir: str):
        super().__init__()
        self.input_dir = input_dir

    def expand(self, pbegin: beam.pvalue.PBegin) -> pvalue.DoOutputsTuple:
        return (
            pbegin
            | "Resolve" >> ResolveInputFiles(self.input_dir)
            # Spread files over workers before the (expensive) per-file read.
            | "SpreadFiles" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadParquetFileFn()).with_outputs(SCHEMA_TAG, main=DOCUMENTS_TAG)
        )
