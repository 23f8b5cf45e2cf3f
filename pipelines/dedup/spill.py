"""The local dedup mode whose memory does not grow with the corpus ("spill").

The DirectRunner keeps every shuffle in memory, so the one-graph pipeline holds
the corpus' texts and signatures at once. This mode runs three bounded steps:

1. `SpillFeatures` (a Beam pipeline, parallel over input files): each file is
   streamed in batches into a spill file of ids, exact keys and one uint64 LSH
   key per band (plus signatures when edges are verified). No shuffle.
2. `decide.decide` (the driver): exact groups, band buckets (one band in
   memory at a time) and connected components on compact integer ids.
3. `ApplyDecisions` (a Beam pipeline, parallel over input files): each file is
   streamed again next to its row decisions into OUT/documents and
   OUT/duplicates.

Each worker holds one batch of one file; the driver holds a few integers per
document. Survivors, clusters and outputs equal the graph's.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from winnow import schemas
from winnow.curation.dedup_rules import CONTENT_FIELDS, content_key
from winnow.curation.minhash import MinHashConfig, MinHasher, band_key_matrix, exact_text_key, exact_url_key
from winnow.pipelines.dedup import decide as decide_mod
from winnow.pipelines.dedup.common import (
    CLUSTER_ID,
    CLUSTER_SIZE_COLUMN,
    DOCUMENTS_IN,
    FILES_READ,
    FILES_WRITTEN,
    KIND_EXACT,
    KIND_NEAR,
    NAMESPACE,
    PARQUET_COMPRESSION,
    READ_BATCH_ROWS,
    DedupError,
)
from winnow.pipelines.dedup.read import check_input_schema, open_parquet
from winnow.pipelines.dedup.sink import mkdirs, remove_local_dir, resolve_output_schema, write_table

FEATURES = "features-{:05d}.parquet"
SIGNATURES = "signatures-{:05d}.npy"
DECISIONS = "decisions-{:05d}.parquet"
TEMP_PART = "{:05d}.parquet"
KINDS = decide_mod.KINDS


def band_column(band: int) -> str:
    return f"band_{band:03d}"


def features_schema(config: MinHashConfig) -> pa.Schema:
    fields = [
        pa.field("id", pa.string()),
        pa.field("text_key", pa.string()),
        pa.field("url_key", pa.string()),
        pa.field("has_signature", pa.bool_()),
    ]
    return pa.schema(fields + [pa.field(band_column(b), pa.uint64()) for b in range(config.bands)])


def _batch_features(batch: pa.RecordBatch, config: MinHashConfig, hasher: MinHasher) -> tuple[pa.RecordBatch, np.ndarray]:
    """One input batch -> its features batch and its signature matrix."""
    texts = [t or "" for t in batch.column("text").to_pylist()]
    signatures, has = hasher.signatures(texts)
    names = batch.schema.names
    urls = batch.column("url").to_pylist() if config.urls and "url" in names else [None] * batch.num_rows
    bands = band_key_matrix(signatures, config.bands, config.rows)
    columns = [
        batch.column("id"),
        pa.array([exact_text_key(t) for t in texts] if config.exact else [None] * len(texts), pa.string()),
        pa.array([exact_url_key(u) for u in urls] if config.urls else [None] * len(texts), pa.string()),
        pa.array(has),
    ] + [pa.array(bands[:, b]) for b in range(config.bands)]
    return pa.RecordBatch.from_arrays(columns, schema=features_schema(config)), signatures


class _SpillFeaturesFn(beam.DoFn):
    """(index, path) -> spill_dir/features-INDEX.parquet (and signatures when verifying)."""

    def __init__(self, config: MinHashConfig, spill_dir: str):
        self.config = config
        self.spill_dir = spill_dir
        self._docs = Metrics.counter(NAMESPACE, DOCUMENTS_IN)
        self._files = Metrics.counter(NAMESPACE, FILES_READ)

    def setup(self) -> None:
        self._hasher = MinHasher(self.config)

    def process(self, item: tuple[int, str]) -> Iterator[int]:
        index, path = item
        parquet = open_parquet(path)
        schema = features_schema(self.config)
        target = os.path.join(self.spill_dir, FEATURES.format(index))
        verify = self.config.verify_threshold is not None
        signatures = None
        if verify:
            signatures = np.lib.format.open_memmap(
                os.path.join(self.spill_dir, SIGNATURES.format(index)), mode="w+", dtype=np.uint64,
                shape=(parquet.metadata.num_rows, self.config.num_perm),
            )
        columns = [c for c in ("id", "text", "url") if c in parquet.schema_arrow.names]
        offset = 0
        try:
            check_input_schema(parquet.schema_arrow, path)
            with pq.ParquetWriter(target, schema, compression="lz4") as writer:
                for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS, columns=columns):
                    features, matrix = _batch_features(batch, self.config, self._hasher)
                    writer.write_batch(features)
                    if signatures is not None:
                        signatures[offset : offset + batch.num_rows] = matrix
                    offset += batch.num_rows
                    self._docs.inc(batch.num_rows)
        except (pa.ArrowException, OSError) as exc:
            raise DedupError(f"{path}: corrupt Parquet data ({type(exc).__name__}: {exc})") from exc
        finally:
            parquet.close(force=True)
            if signatures is not None:
                signatures.flush()
        self._files.inc()
        yield offset


class _LazyParquet:
    """A Parquet file on FileSystems (local or remote) opened at the first non-empty table."""

    def __init__(self, path: str, schema: pa.Schema):
        self.path, self.schema = path, schema
        self._handle = self._writer = None

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._writer is None:
            self._handle = FileSystems.create(
                self.path, mime_type="application/octet-stream", compression_type=CompressionTypes.UNCOMPRESSED
            )
            self._writer = pq.ParquetWriter(self._handle, self.schema, compression=PARQUET_COMPRESSION)
        self._writer.write_table(table)

    def close(self) -> bool:
        """Closes the file; True when one was written."""
        if self._writer is None:
            return False
        self._writer.close()
        self._handle.close()
        return True


def _kept_table(batch: pa.RecordBatch, keep: np.ndarray, sizes: np.ndarray, schema: pa.Schema) -> pa.Table:
    kept = batch.filter(pa.array(keep))
    columns = []
    for field in schema:
        if field.name == CLUSTER_ID:
            column = kept.column("id")
        elif field.name == CLUSTER_SIZE_COLUMN:
            column = pa.array(sizes[keep], pa.int64())
        else:
            column = kept.column(field.name)
        columns.append(column if column.type == field.type else column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _duplicates_table(batch: pa.RecordBatch, removed: np.ndarray, status: np.ndarray, reps: pa.Array) -> pa.Table:
    mask = pa.array(removed)
    names = batch.schema.names
    n = int(removed.sum())
    rep = reps.filter(mask)

    def column(name: str) -> pa.Array:
        return batch.column(name).filter(mask).cast(pa.string()) if name in names else pa.nulls(n, pa.string())

    return pa.Table.from_arrays(
        [column("id"), column("url"), column("source"), pa.array([KINDS[int(s)] for s in status[removed]], pa.string()),
         rep, rep],
        schema=schemas.duplicates_schema(),
    )


class _ApplyDecisionsFn(beam.DoFn):
    """(index, path) -> OUT/documents.tmp/INDEX.parquet and OUT/duplicates.tmp/INDEX.parquet.

    Deterministic names: a retried bundle overwrites its own files instead of adding rows."""

    def __init__(self, spill_dir: str, docs_tmp: str, dups_tmp: str, schema: bytes):
        self.spill_dir = spill_dir
        self.docs_tmp = docs_tmp
        self.dups_tmp = dups_tmp
        self.schema_bytes = schema
        self._files = Metrics.counter(NAMESPACE, FILES_WRITTEN)

    def process(self, item: tuple[int, str]) -> Iterator[int]:
        index, path = item
        schema = pa.ipc.read_schema(pa.py_buffer(self.schema_bytes))
        decisions = pq.read_table(os.path.join(self.spill_dir, DECISIONS.format(index)))
        status = decisions.column("status").to_numpy()
        sizes = decisions.column("size").to_numpy()
        reps = decisions.column("rep").combine_chunks()
        kept = _LazyParquet(FileSystems.join(self.docs_tmp, TEMP_PART.format(index)), schema)
        dups = _LazyParquet(FileSystems.join(self.dups_tmp, TEMP_PART.format(index)), schemas.duplicates_schema())
        offset = 0
        parquet = open_parquet(path)
        try:
            for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS):
                window = slice(offset, offset + batch.num_rows)
                if window.stop > len(status):
                    raise DedupError(f"{path}: changed while dedup ran (more rows than when first read)")
                keep = status[window] == decide_mod.STATUS_KEPT
                kept.write(_kept_table(batch, keep, sizes[window], schema))
                if not keep.all():
                    dups.write(_duplicates_table(batch, ~keep, status[window], reps[window.start : window.stop]))
                offset += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise DedupError(f"{path}: corrupt Parquet data ({type(exc).__name__}: {exc})") from exc
        finally:
            parquet.close(force=True)
            written = [kept.close(), dups.close()]
        if offset != len(status):
            raise DedupError(f"{path}: changed while dedup ran ({offset} rows now, {len(status)} when first read)")
        self._files.inc(sum(written))
        yield offset


def _run(pipeline_args: list[str], items: list[tuple[int, str]], name: str, fn: beam.DoFn) -> None:
    with beam.Pipeline(options=PipelineOptions(pipeline_args)) as pipeline:
        _ = (
            pipeline
            | f"{name}Files" >> beam.Create(items)
            | f"{name}Spread" >> beam.Reshuffle()
            | name >> beam.ParDo(fn)
        )


def _input_schemas(paths: list[str]) -> list[tuple[str, bytes]]:
    """Every file's footer and required columns, checked before any work starts."""
    found = []
    for path in paths:
        parquet = open_parquet(path)
        try:
            check_input_schema(parquet.schema_arrow, path)
            found.append((path, parquet.schema_arrow.serialize().to_pybytes()))
        finally:
            parquet.close(force=True)
    return found


def _row_keys(spill_dir: str, count: int) -> decide_mod.RowKeys:
    columns = ["id", "text_key", "url_key", "has_signature"]
    table = pa.concat_tables([pq.read_table(os.path.join(spill_dir, FEATURES.format(i)), columns=columns) for i in range(count)])
    id_codes, ids = decide_mod.encode_ids(table.column("id"))
    return decide_mod.RowKeys(
        id_codes=id_codes, ids=ids,
        text_codes=decide_mod.encode_keys(table.column("text_key")),
        url_codes=decide_mod.encode_keys(table.column("url_key")),
        has_signature=table.column("has_signature").to_numpy(),
    )


def _band_columns(spill_dir: str, count: int, bands: int) -> Iterator[np.ndarray]:
    """One band's keys for every row at a time (the only per-band memory the driver holds)."""
    for band in range(bands):
        yield np.concatenate([
            pq.read_table(os.path.join(spill_dir, FEATURES.format(i)), columns=[band_column(band)])
            .column(0).to_numpy()
            for i in range(count)
        ])


class _SignatureStore:
    """Row -> signature, from the memory-mapped per-file spill (verification only)."""

    def __init__(self, spill_dir: str, offsets: np.ndarray):
        self.spill_dir, self.offsets = spill_dir, offsets
        self._maps: dict[int, np.ndarray] = {}

    def __call__(self, row: int) -> np.ndarray:
        index = int(np.searchsorted(self.offsets, row, side="right") - 1)
        if index not in self._maps:
            self._maps[index] = np.load(os.path.join(self.spill_dir, SIGNATURES.format(index)), mmap_mode="r")
        return np.asarray(self._maps[index][row - self.offsets[index]])


class _ContentOrder:
    """Orders rows that share an id by (source, url, text), reading only those rows' files."""

    def __init__(self, paths: list[str], offsets: np.ndarray):
        self.paths, self.offsets = paths, offsets

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        files = np.searchsorted(self.offsets, rows, side="right") - 1
        keys: dict[int, tuple] = {}
        for index in np.unique(files).tolist():
            parquet = open_parquet(self.paths[index])
            try:
                wanted = [c for c in CONTENT_FIELDS if c in parquet.schema_arrow.names]
                local = rows[files == index]
                table = parquet.read(columns=wanted).take(pa.array(local - self.offsets[index]))
            finally:
                parquet.close(force=True)
            values = {c: table.column(c).to_pylist() for c in wanted}
            for k, row in enumerate(local.tolist()):
                keys[row] = content_key({c: column[k] for c, column in values.items()})
        return np.array(sorted(range(len(rows)), key=lambda k: keys[int(rows[k])]), dtype=np.int64)


def _write_decisions(spill_dir: str, decisions: decide_mod.Decisions, ids: pa.Array, offsets: np.ndarray) -> None:
    reps = decisions.rep_codes
    for index in range(len(offsets) - 1):
        window = slice(int(offsets[index]), int(offsets[index + 1]))
        rep_codes = reps[window]
        rep = ids.take(pa.array(np.where(rep_codes >= 0, rep_codes, 0))).to_pylist() if len(ids) else []
        rep = pa.array([r if c >= 0 else None for r, c in zip(rep, rep_codes.tolist())], pa.string())
        pq.write_table(
            pa.table({"status": decisions.status[window], "rep": rep, "size": decisions.sizes[window]}),
            os.path.join(spill_dir, DECISIONS.format(index)),
        )


def _finalize(temp_dir: str, out_dir: str, empty_schema: pa.Schema) -> int:
    """Temporary parts -> out_dir/part-NNNNN.parquet in input order (one empty file when none)."""
    mkdirs(out_dir)
    temps = sorted(m.path for m in FileSystems.match([FileSystems.join(temp_dir, "*.parquet")])[0].metadata_list)
    if temps:
        FileSystems.rename(temps, [FileSystems.join(out_dir, f"part-{i:05d}.parquet") for i in range(len(temps))])
    else:
        write_table([], empty_schema, FileSystems.join(out_dir, "part-00000.parquet"))
    remove_local_dir(temp_dir)
    return max(len(temps), 1)


def run_spill_dedup(paths: list[str], output_dir: str, config: MinHashConfig, pipeline_args: list[str]) -> dict:
    """The three steps; returns the summary (counts, cluster sizes, rounds) stats.json is built from."""
    file_schemas = _input_schemas(paths)
    out_schema = resolve_output_schema(file_schemas)
    items = list(enumerate(paths))
    base = output_dir.rstrip("/")
    docs_tmp, dups_tmp = FileSystems.join(base, "documents.tmp"), FileSystems.join(base, "duplicates.tmp")
    for directory in (docs_tmp, dups_tmp):
        mkdirs(directory)
    spill_dir = tempfile.mkdtemp(prefix="winnow-dedup-spill-")
    try:
        _run(pipeline_args, items, "SpillFeatures", _SpillFeaturesFn(config, spill_dir))
        rows = [pq.ParquetFile(os.path.join(spill_dir, FEATURES.format(i))).metadata.num_rows for i in range(len(paths))]
        offsets = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        keys = _row_keys(spill_dir, len(paths))
        decisions = decide_mod.decide(
            keys, _band_columns(spill_dir, len(paths), config.bands),
            signature_of=_SignatureStore(spill_dir, offsets) if config.verify_threshold is not None else None,
            verify_threshold=config.verify_threshold,
            content_order=_ContentOrder(paths, offsets),
        )
        _write_decisions(spill_dir, decisions, keys.ids, offsets)
        del keys
        _run(pipeline_args, items, "ApplyDecisions",
             _ApplyDecisionsFn(spill_dir, docs_tmp, dups_tmp, out_schema.serialize().to_pybytes()))
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)
    _finalize(docs_tmp, FileSystems.join(base, "documents"), out_schema)
    _finalize(dups_tmp, FileSystems.join(base, "duplicates"), schemas.duplicates_schema())
    status = decisions.status
    return {
        "counts": {
            DOCUMENTS_IN: int(status.size),
            "kept": int(np.count_nonzero(status == decide_mod.STATUS_KEPT)),
            f"{KIND_EXACT}_duplicates": int(np.count_nonzero(status == decide_mod.STATUS_EXACT)),
            f"{KIND_NEAR}_duplicates": int(np.count_nonzero(status == decide_mod.STATUS_NEAR)),
        },
        "sizes": decide_mod.cluster_size_histogram(decisions),
        "cc_rounds": decisions.cc_rounds,
        "candidate_edges": decisions.candidate_edges,
    }
