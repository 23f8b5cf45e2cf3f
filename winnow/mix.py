"""`winnow mix`: stream curated sources into one corpus by the plan of `curation.mix`.

Two passes over each source's Parquet: the first reads only the text lengths
(and `minhash_cluster_size` when rehydrating) to plan; the second writes each
document as many times as the plan says, one pass per copy, so a document's
copies land far apart in the output rather than side by side. Output:

    OUT/documents/part-00000.parquet ...   (zstd; a `documents` table with `mix_copy`; every input
                                           column is kept: metadata, signals, cluster_id, minhash_cluster_size)
    OUT/mix_manifest.json                  (targets, realized proportions, repetitions, seed, input hashes, warnings)

The manifest is written last: its presence marks a finished mix. A source
whose realized share is more than one point off its target is listed under
`warnings` (with `strict`, that is an error before anything is written). No
Beam, no torch: pyarrow and numpy only.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from winnow import schemas
from winnow.core.version import __version__
from winnow.core.atomic import atomic_write_json
from winnow.curation.mix import (
    BY_TOKENS, SHARE_TOLERANCE, TOKEN_ESTIMATE, MixConfig, MixPlan, SourceDocs, plan_mix, share_warnings, token_estimate,
)
from winnow.schemas.inputs import resolve_parquet_inputs
from winnow.training.parquet_text import ParquetDataError, ParquetInputError, open_input_file, open_parquet
from winnow.core.errors import ConfigurationError

MANIFEST = "mix_manifest.json"
MANIFEST_SCHEMA = "winnow.mix_manifest"
MANIFEST_VERSION = 1
DOCUMENTS_DIR = schemas.DOCUMENTS
ROWS_PER_FILE = 200_000
BATCH_ROWS = 4096
CLUSTER_COLUMN = "minhash_cluster_size"
REQUIRED_COLUMNS = ("id", "text")
_HASH_CHUNK = 8 << 20


class MixError(ConfigurationError):
    """A mix cannot be made as asked; the message names the source, file or setting."""


def _read_sizes(name: str, paths: list[str], config: MixConfig, split_column: str | None) -> tuple[SourceDocs, list[np.ndarray]]:
    """Per-document units (and cluster sizes) of one source in file order, and its row indices per file.

    With `split_column`, the source is the rows whose `split_column` equals `name`.
    """
    units, clusters, rows = [], [], []
    for path in paths:
        parquet = open_parquet(path, REQUIRED_COLUMNS + ((split_column,) if split_column else ()))
        if config.rehydrate and CLUSTER_COLUMN not in parquet.schema_arrow.names:
            raise MixError(f"{path}: rehydrate needs a {CLUSTER_COLUMN!r} column (mix the output of winnow dedup)")
        if config.by != BY_TOKENS and not config.rehydrate and not split_column:
            n = parquet.metadata.num_rows  # documents of a whole file: the footer is enough
            units.append(np.ones(n, dtype=np.int64))
            rows.append(np.arange(n))
            continue
        columns = ["text"] + ([CLUSTER_COLUMN] if config.rehydrate else []) + ([split_column] if split_column else [])
        file_rows, offset = [], 0
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
            keep = np.arange(batch.num_rows)
            if split_column:
                keep = np.flatnonzero(pc.fill_null(pc.equal(batch.column(split_column), name), False).to_numpy(zero_copy_only=False))
            file_rows.append(keep + offset)
            offset += batch.num_rows
            if config.by == BY_TOKENS:
                lengths = pc.fill_null(pc.binary_length(batch.column("text")), 0).to_numpy(zero_copy_only=False)
                units.append(token_estimate(lengths[keep]))
            else:
                units.append(np.ones(len(keep), dtype=np.int64))
            if config.rehydrate:
                sizes = pc.fill_null(batch.column(CLUSTER_COLUMN), 1).to_numpy(zero_copy_only=False).astype(np.int64)
                clusters.append(sizes[keep])
        rows.append(np.concatenate(file_rows) if file_rows else np.empty(0, dtype=np.int64))
    cat = lambda parts: np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)  # noqa: E731
    return SourceDocs(name, cat(units), cat(clusters) if config.rehydrate else None), rows


@functools.lru_cache(maxsize=4096)  # sources split from one corpus share its files
def _file_hash(path: str) -> str:
    """xxh3-64 of the file's bytes, so a manifest says exactly which inputs made the mix."""
    h = xxhash.xxh3_64()
    with open_input_file(path) as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _carried_fields(files: Mapping[str, list[str]]) -> list[pa.Field]:
    """Every input column beyond a mix document's own (signals, dedup's cluster columns, any
    other), in first-seen order over sources by name and files in order; nullable, since
    another source may lack them. One name with two types is promoted where Arrow can (int64
    and double become double) and otherwise a MixError naming both files."""
    own = set(schemas.mix_document_schema().names)
    carried: dict[str, tuple[pa.Field, str]] = {}
    for name in sorted(files):
        for path in files[name]:
            for field in open_parquet(path, REQUIRED_COLUMNS).schema_arrow:
                if field.name in own:
                    continue
                field = field.with_nullable(True)
                if field.name not in carried:
                    carried[field.name] = (field, path)
                elif not carried[field.name][0].type.equals(field.type):
                    carried[field.name] = (_promoted(carried[field.name], field, path), carried[field.name][1])
    return [field for field, _ in carried.values()]


def _promoted(first: tuple[pa.Field, str], field: pa.Field, path: str) -> pa.Field:
    try:
        return pa.unify_schemas([pa.schema([first[0]]), pa.schema([field])], promote_options="permissive").field(0)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise MixError(
            f"column {field.name!r} is {first[0].type} in {first[1]} but {field.type} in {path}; "
            f"the mix cannot hold both ({exc})"
        ) from None


def _output_table(batch: pa.RecordBatch, name: str, copy: int, schema: pa.Schema) -> pa.Table:
    n = batch.num_rows
    columns = []
    for field in schema:
        if field.name == "source_name":
            columns.append(pa.array([name] * n, pa.string()))
        elif field.name == "mix_copy":
            columns.append(pa.array(np.full(n, copy, dtype=np.int32)))
        elif field.name in batch.schema.names:
            columns.append(batch.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(n, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


class _ShardWriter:
    """zstd Parquet parts of at most `rows_per_file` rows."""

    def __init__(self, directory: Path, schema: pa.Schema, rows_per_file: int):
        self._dir, self.schema, self._limit = directory, schema, rows_per_file
        self._writer: pq.ParquetWriter | None = None
        self._rows = 0
        self.files: list[str] = []
        self.rows_written = 0

    def write(self, table: pa.Table) -> None:
        while table.num_rows:
            if self._writer is None:
                path = self._dir / f"part-{len(self.files):05d}.parquet"
                self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
                self.files.append(str(path))
                self._rows = 0
            take = min(table.num_rows, self._limit - self._rows)
            self._writer.write_table(table.slice(0, take))
            self._rows += take
            self.rows_written += take
            table = table.slice(take)
            if self._rows >= self._limit:
                self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _copies_by_file(copies: np.ndarray, rows: list[np.ndarray], num_rows: list[int]) -> Iterator[np.ndarray]:
    """The plan's copies spread back over each file's rows (0 for rows of other sources)."""
    start = 0
    for indices, n in zip(rows, num_rows):
        full = np.zeros(n, dtype=np.int64)
        full[indices] = copies[start : start + len(indices)]
        start += len(indices)
        yield full


def _write_source(name: str, paths: list[str], file_copies: list[np.ndarray], writer: _ShardWriter) -> None:
    """One pass per copy number over the source's files, writing the rows that have that many copies."""
    max_copies = max((int(c.max()) for c in file_copies if len(c)), default=0)
    schema = writer.schema
    for copy in range(max_copies):
        for path, copies in zip(paths, file_copies):
            if not (copies > copy).any():
                continue
            parquet = open_parquet(path, REQUIRED_COLUMNS)
            wanted = [f.name for f in schema if f.name in parquet.schema_arrow.names]
            offset = 0
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
                mask = copies[offset : offset + batch.num_rows] > copy
                offset += batch.num_rows
                if mask.any():
                    writer.write(_output_table(batch.filter(pa.array(mask)), name, copy, schema))


def _prepare_output(output: Path, overwrite: bool) -> None:
    if output.exists() and any(output.iterdir()):
        if not overwrite:
            raise MixError(f"{output}: output directory is not empty; pass --overwrite to replace it")
        for child in (output / DOCUMENTS_DIR, output / MANIFEST):
            if child.is_dir():
                shutil.rmtree(child)
            elif child.exists():
                child.unlink()
    (output / DOCUMENTS_DIR).mkdir(parents=True, exist_ok=True)


def run_mix(
    sources: Mapping[str, str],
    config: MixConfig,
    output: str | os.PathLike,
    overwrite: bool = False,
    rows_per_file: int = ROWS_PER_FILE,
    split_column: str | None = None,
) -> dict[str, Any]:
    """Plan and write the mix of `sources` (name -> directory, glob or file); returns the manifest.

    With `split_column` (e.g. `source_name`), several names may point at one
    corpus: each source is then the rows whose column equals its name.
    """
    if "://" in os.fspath(output):
        raise MixError(f"{output}: winnow mix writes to a local directory (inputs may be remote)")
    missing = sorted(set(config.weights) - set(sources))
    if missing:
        raise MixError(f"--weights name source(s) {missing} without a --source NAME=DIR; sources: {sorted(sources)}")
    extra = sorted(set(sources) - set(config.weights))
    if extra:
        raise MixError(f"source(s) {extra} have no weight in --weights")
    files: dict[str, list[str]] = {}
    for name, spec in sorted(sources.items()):
        try:
            files[name] = resolve_parquet_inputs(spec)
        except ParquetInputError as exc:
            raise MixError(f"source {name}: {exc}") from exc
    try:
        read = {name: _read_sizes(name, paths, config, split_column) for name, paths in files.items()}
        plan = plan_mix([docs for docs, _ in read.values()], config)
    except ParquetDataError:
        raise  # a corrupt or unreadable source file is unusable input (exit 3), not a wrong flag
    except (ParquetInputError, ValueError) as exc:
        raise MixError(str(exc)) from exc
    carried = _carried_fields(files)  # before the output is touched: a type clash is refused first
    warnings = share_warnings(plan)
    if config.strict and warnings:  # refused before the output directory is touched
        raise MixError("strict: " + "; ".join(warnings))
    out = Path(output)
    inside = sorted(p for paths in files.values() for p in paths if "://" not in p and Path(p).resolve().is_relative_to(out.resolve()))
    if inside:
        raise MixError(f"{out}: the output directory holds input {inside[0]}; write the mix elsewhere")
    _prepare_output(out, overwrite)
    writer = _ShardWriter(out / DOCUMENTS_DIR, schemas.mix_document_schema(carried), rows_per_file)
    try:
        for source_plan in plan.sources:
            paths = files[source_plan.name]
            num_rows = [open_parquet(p, REQUIRED_COLUMNS).metadata.num_rows for p in paths]
            per_file = list(_copies_by_file(source_plan.copies, read[source_plan.name][1], num_rows))
            _write_source(source_plan.name, paths, per_file, writer)
    finally:
        writer.close()
    manifest = build_manifest(plan, config, sources, files, writer.files, writer.rows_written)
    manifest["split_column"] = split_column
    manifest["warnings"] = warnings
    atomic_write_json(out / MANIFEST, manifest)
    return manifest


def build_manifest(
    plan: MixPlan,
    config: MixConfig,
    sources: Mapping[str, str],
    files: Mapping[str, list[str]],
    outputs: list[str],
    rows_written: int,
) -> dict[str, Any]:
    realized = plan.realized()
    per_source = {}
    for s in plan.sources:
        per_source[s.name] = {
            "input": os.fspath(sources[s.name]),
            "files": [{"path": p, "xxh3_64": _file_hash(p)} for p in files[s.name]],
            "target": s.target,
            "realized": realized[s.name],
            "available_units": s.available_units,
            "units": s.units,
            "available_documents": int(len(s.copies)),
            "documents": s.documents,
            "documents_used": int((s.copies > 0).sum()),
            "repetitions": s.repetitions,
            "max_copies": s.max_copies,
        }
    return {
        "schema": MANIFEST_SCHEMA,
        "version": MANIFEST_VERSION,
        "winnow_version": __version__,
        "by": config.by,
        "token_estimate": TOKEN_ESTIMATE if config.by == BY_TOKENS else None,
        "seed": config.seed,
        "max_repeats": config.max_repeats,
        "rehydrate": config.rehydrate,
        "requested_total": config.total,
        "total_units": plan.total_units,
        "documents": rows_written,
        "max_abs_error": max(abs(realized[s.name] - s.target) for s in plan.sources),
        "share_tolerance": SHARE_TOLERANCE,
        "sources": per_source,
        "outputs": [os.path.relpath(p, Path(outputs[0]).parent.parent) for p in outputs] if outputs else [],
        "config": {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(config).items()},
    }


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """A mixture manifest (a mix directory or the file itself); errors name the file."""
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST
    try:
        manifest = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MixError(f"{p}: cannot read the mixture manifest: {exc}") from exc
    if manifest.get("schema") != MANIFEST_SCHEMA:
        raise MixError(f"{p}: not a Winnow mixture manifest")
    return manifest
