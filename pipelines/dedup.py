"""Exact and MinHash near-duplicate removal as a Beam pipeline, with no single-machine step.

Stages (each a named composite transform):

    ReadCuratedDocuments   DIR/documents/*.parquet -> row dicts (+ each file's schema)
    MinHashSignatures      rows -> (id, text key, url key, signature): the only pass over the text
    ExactDedup             group by exact key(s); the lowest id of each group survives
    LshCandidatePairs      band keys of the exact survivors -> candidate edges
    ConnectedComponents    large-star/small-star rounds, then an edge-by-edge convergence check
    ApplyClusters          joins the removal decisions back to the rows by id (the one text shuffle)
    WriteDedupOutputs      OUT/documents/*.parquet, OUT/duplicates/*.parquet

`run_dedup` runs it and writes OUT/stats.json from a summary the pipeline itself
computes (so it also works when the driver cannot see the data, e.g. on Dataflow).
"""
from __future__ import annotations

import argparse
import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam import pvalue
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.fileio import EmptyMatchTreatment, MatchFiles
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions
from apache_beam.transforms.window import GlobalWindows

from winnow import schemas
from winnow.pipelines.connected_components import UNSETTLED_NODES, ConnectedComponents, ComponentsDidNotConverge  # noqa: F401
from winnow.curation.config import config_to_mapping
from winnow.curation.minhash import (
    MinHashConfig,
    MinHasher,
    band_keys,
    estimated_jaccard,
    exact_text_key,
    exact_url_key,
    signature_from_bytes,
    signature_to_bytes,
)


NAMESPACE = "dedup"
# Counter names (Metrics.counter(NAMESPACE, ...)) and summary keys.
DOCUMENTS_IN = "documents_in"
KEPT = "kept"
EXACT_DUPLICATES = "exact_duplicates"
NEAR_DUPLICATES = "near_duplicates"
FILES_READ = "files_read"
FILES_WRITTEN = "files_written"
CANDIDATE_EDGES = "candidate_edges"
EDGES_REJECTED_BY_VERIFY = "edges_rejected_by_verification"
CLUSTER_SIZE = "cluster_size"

# Duplicate kinds (the `kind` column of duplicates/).
KIND_EXACT = "exact"
KIND_NEAR = "near"

SCHEMA_TAG = "schema"
DOCUMENTS_TAG = "documents"
SUMMARY_FILE = "_dedup_summary.json"
ROWS_PER_FILE = 20_000
READ_BATCH_ROWS = 1024
PARQUET_COMPRESSION = "zstd"

# A light per-document record: (id, text key | None, url key | None, signature bytes | None).
Features = tuple


class DedupError(RuntimeError):
    """The dedup pipeline cannot produce a correct result (bad input, no convergence)."""


# --------------------------------------------------------------------------- options


def add_dedup_arguments(parser: argparse.ArgumentParser) -> None:
    """`--input`, `--output` and the MinHash flags; flags another component already declared
    (the curate options also define --input/--output) are left to it."""

    def add(*args: Any, **kwargs: Any) -> None:
        if any(a in parser._option_string_actions for a in args if a.startswith("--")):
            return
        parser.add_argument(*args, **kwargs)

    defaults = MinHashConfig()
    add("--input", help="curated output directory with documents/*.parquet")
    add("--output", help="directory for documents/, duplicates/ and stats.json")
    add("--ngram", type=int, default=defaults.ngram, help="words per shingle")
    add("--num-perm", dest="num_perm", type=int, default=defaults.num_perm, help="MinHash permutations")
    add("--bands", type=int, default=defaults.bands, help="LSH bands")
    add("--rows", type=int, default=defaults.rows, help="rows per LSH band")
    add("--threshold", type=float, default=None, help="derive bands x rows for this Jaccard threshold")
    add("--verify-threshold", dest="verify_threshold", type=float, default=None,
        help="drop candidate pairs whose estimated Jaccard is below this")
    add("--max-rounds", dest="max_rounds", type=int, default=defaults.max_rounds,
        help="connected-components rounds before failing")
    add("--minhash-seed", dest="minhash_seed", type=int, default=defaults.seed, help="permutation seed")
    add("--dedup-urls", dest="dedup_urls", action="store_true", help="also drop documents with equal normalised URLs")
    add("--no-exact", dest="no_exact", action="store_true", help="skip exact dedup on the normalised text")


def minhash_config_from_namespace(ns: Any) -> MinHashConfig:
    """MinHashConfig from parsed `add_dedup_arguments` flags (an argparse namespace or DedupOptions)."""
    return MinHashConfig(
        ngram=ns.ngram, num_perm=ns.num_perm, bands=ns.bands, rows=ns.rows, threshold=ns.threshold,
        seed=ns.minhash_seed, verify_threshold=ns.verify_threshold, max_rounds=ns.max_rounds,
        exact=not ns.no_exact, urls=ns.dedup_urls,
    )


class DedupOptions(PipelineOptions):
    """`--input DIR --output DIR` plus MinHash settings as Beam pipeline options."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        # Beam builds one parser from every imported PipelineOptions subclass, in import order.
        # The curate options declare --input/--output too: let whichever comes later replace
        # the earlier declaration instead of crashing the other pipeline's option parsing.
        parser.conflict_handler = "resolve"
        add_dedup_arguments(parser)

    def minhash_config(self) -> MinHashConfig:
        return minhash_config_from_namespace(self)


# --------------------------------------------------------------------------- reading


def _open_parquet(path: str) -> pq.ParquetFile:
    handle = FileSystems.open(path, mime_type="application/octet-stream", compression_type=CompressionTypes.UNCOMPRESSED)
    try:
        return pq.ParquetFile(handle)
    except (pa.ArrowException, OSError) as exc:
        handle.close()
        raise DedupError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc


class _ReadParquetFileFn(beam.DoFn):
    """One input file -> its rows as dicts, and (path, serialized schema) on the schema output."""

    def __init__(self) -> None:
        self._docs = Metrics.counter(NAMESPACE, DOCUMENTS_IN)
        self._files = Metrics.counter(NAMESPACE, FILES_READ)

    def process(self, path: str) -> Iterator[Any]:
        parquet = _open_parquet(path)
        try:
            schema = parquet.schema_arrow
            schemas.check_table_schema(schema, schemas.DOCUMENTS, path, required=("id", "text"))
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


class ReadCuratedDocuments(beam.PTransform):
    """`input_dir`/documents/*.parquet -> outputs `documents` (row dicts) and `schema`
    ((path, serialized schema) per file, for the writer).

    Files are matched when the pipeline runs, never at construction, so gs:// inputs
    need no credentials to build the pipeline.
    """

    def __init__(self, input_dir: str):
        super().__init__()
        self.input_dir = input_dir

    def expand(self, pbegin: beam.pvalue.PBegin) -> pvalue.DoOutputsTuple:
        pattern = FileSystems.join(self.input_dir.rstrip("/"), "documents", "*.parquet")
        return (
            pbegin
            | "Match" >> MatchFiles(pattern, empty_match_treatment=EmptyMatchTreatment.ALLOW)
            | "Paths" >> beam.Map(lambda metadata: metadata.path)
            # Spread files over workers before the (expensive) per-file read.
            | "SpreadFiles" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadParquetFileFn()).with_outputs(SCHEMA_TAG, main=DOCUMENTS_TAG)
        )


# --------------------------------------------------------------------------- signatures


class _FeaturesFn(beam.DoFn):
    """Row -> (id, text key, url key, signature bytes); permutations built once per worker."""

    def __init__(self, config: MinHashConfig):
        self.config = config
        self._hasher: MinHasher | None = None

    def setup(self) -> None:
        self._hasher = MinHasher(self.config)

    def process(self, row: dict) -> Iterator[Features]:
        text = row.get("text") or ""
        signature = self._hasher.signature(text)
        yield (
            row["id"],
            exact_text_key(text) if self.config.exact else None,
            exact_url_key(row.get("url")) if self.config.urls else None,
            signature_to_bytes(signature) if signature is not None else None,
        )


class MinHashSignatures(beam.PTransform):
    """Rows -> Features: exact keys and the MinHash signature, the one pass that reads the text."""

    def __init__(self, config: MinHashConfig):
        super().__init__()
        self.config = config

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return rows | "Signatures" >> beam.ParDo(_FeaturesFn(self.config))


# --------------------------------------------------------------------------- exact dedup


def _pick_exact(group: tuple[str, Iterable[Features]]) -> Iterator[Any]:
    """The lowest id of an exact group survives; the others point at it."""
    _, members = group
    by_id = {}
    for features in members:
        by_id.setdefault(features[0], features)  # the same id twice is one document here
    ids = sorted(by_id)
    yield by_id[ids[0]]
    for other in ids[1:]:
        yield pvalue.TaggedOutput("removed", (other, KIND_EXACT, ids[0]))


def _keyed_by_removed_rep(removal: tuple) -> tuple:
    doc_id, kind, rep = removal
    return rep, (doc_id, kind)


def _repoint(item: tuple) -> Iterator[tuple]:
    """Removals whose representative was itself removed later now point at the later survivor."""
    old_rep, grouped = item
    new_reps = list(grouped["moved"])
    rep = new_reps[0] if new_reps else old_rep
    for doc_id, kind in grouped["removals"]:
        yield (doc_id, kind, rep)


class _Repoint(beam.PTransform):
    """removals (id, kind, rep) + moves (old rep -> new rep) -> removals pointing at final survivors."""

    def __init__(self, moves: beam.PCollection):
        super().__init__()
        self.moves = moves

    def expand(self, removals: beam.PCollection) -> beam.PCollection:
        return (
            {"removals": removals | "ByRep" >> beam.Map(_keyed_by_removed_rep), "moved": self.moves}
            | "Join" >> beam.CoGroupByKey()
            | "Repoint" >> beam.FlatMap(_repoint)
        )


def _removal_move(removal: tuple) -> tuple[str, str]:
    doc_id, _, rep = removal
    return doc_id, rep


class _ExactStage(beam.PTransform):
    """One exact key (index 1: text, 2: url): survivors and removals."""

    def __init__(self, key_index: int):
        super().__init__()
        self.key_index = key_index

    def expand(self, features: beam.PCollection) -> pvalue.DoOutputsTuple:
        index = self.key_index
        split = features | "HasKey" >> beam.Partition(lambda f, _n: 0 if f[index] is not None else 1, 2)
        picked = (
            split[0]
            | "ByKey" >> beam.Map(lambda f: (f[index], f))
            | "Group" >> beam.GroupByKey()
            | "Pick" >> beam.FlatMap(_pick_exact).with_outputs("removed", main="survivors")
        )
        survivors = (picked.survivors, split[1]) | "Survivors" >> beam.Flatten()
        return survivors, picked.removed


class _CountFn(beam.DoFn):
    """Passes elements through, counting them in Metrics.counter(NAMESPACE, name)."""

    def __init__(self, name: str):
        self._counter = Metrics.counter(NAMESPACE, name)

    def process(self, element: Any) -> Iterator[Any]:
        self._counter.inc()
        yield element


class ExactDedup(beam.PTransform):
    """Features -> (survivors, removals (id, "exact", representative id)).

    Text keys first, then (with `urls`) URL keys among the text survivors; a document
    removed by text whose representative is then removed by URL points at the URL survivor.
    """

    def __init__(self, config: MinHashConfig):
        super().__init__()
        self.config = config

    def expand(self, features: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        stages = ([("Text", 1)] if self.config.exact else []) + ([("Url", 2)] if self.config.urls else [])
        survivors, removals = features, None
        for name, index in stages:
            survivors, removed = survivors | f"{name}Key" >> _ExactStage(index)
            if removals is None:
                removals = removed
            else:
                moves = removed | f"{name}Moves" >> beam.Map(_removal_move)
                removals = (
                    removals | f"{name}Repoint" >> _Repoint(moves),
                    removed,
                ) | f"{name}Removals" >> beam.Flatten()
        if removals is None:
            removals = features.pipeline | "NoExactStage" >> beam.Create([])
        return survivors, removals | "CountExact" >> beam.ParDo(_CountFn(EXACT_DUPLICATES))


# --------------------------------------------------------------------------- LSH


class _BandKeysFn(beam.DoFn):
    def __init__(self, config: MinHashConfig):
        self.config = config

    def process(self, features: Features) -> Iterator[tuple]:
        doc_id, _, _, sig_bytes = features
        if sig_bytes is None:
            return
        signature = signature_from_bytes(sig_bytes)
        # Only carry the signature through the shuffle when edges will be verified.
        payload = (doc_id, sig_bytes if self.config.verify_threshold is not None else None)
        for key in band_keys(signature, self.config.bands, self.config.rows):
            yield key, payload


class _BucketEdgesFn(beam.DoFn):
    """A band bucket -> edges. Without verification, a star on the bucket's lowest id (enough
    for connectivity, linear in bucket size); with it, each member links to the first lower
    member whose estimated Jaccard passes."""

    def __init__(self, verify_threshold: float | None):
        self.verify_threshold = verify_threshold
        self._edges = Metrics.counter(NAMESPACE, CANDIDATE_EDGES)
        self._rejected = Metrics.counter(NAMESPACE, EDGES_REJECTED_BY_VERIFY)

    def process(self, bucket: tuple) -> Iterator[tuple[str, str]]:
        _, members = bucket
        by_id = dict(members)
        ids = sorted(by_id)
        if len(ids) < 2:
            return
        if self.verify_threshold is None:
            self._edges.inc(len(ids) - 1)
            for other in ids[1:]:
                yield ids[0], other
            return
        signatures = {i: signature_from_bytes(by_id[i]) for i in ids}
        for pos, v in enumerate(ids[1:], start=1):
            for u in ids[:pos]:
                if estimated_jaccard(signatures[u], signatures[v]) >= self.verify_threshold:
                    self._edges.inc()
                    yield u, v
                    break
            else:
                self._rejected.inc()


class LshCandidatePairs(beam.PTransform):
    """Features (exact survivors) -> candidate edges (lower id, higher id); may repeat across bands."""

    def __init__(self, config: MinHashConfig):
        super().__init__()
        self.config = config

    def expand(self, features: beam.PCollection) -> beam.PCollection:
        return (
            features
            | "BandKeys" >> beam.ParDo(_BandKeysFn(self.config))
            | "GroupBands" >> beam.GroupByKey()
            | "BucketEdges" >> beam.ParDo(_BucketEdgesFn(self.config.verify_threshold))
        )


# --------------------------------------------------------------------------- apply and write


class _ApplyFn(beam.DoFn):
    """(id, {rows, removal}) -> kept rows (with cluster_id) or duplicates records."""

    def __init__(self) -> None:
        self._kept = Metrics.counter(NAMESPACE, KEPT)
        self._near = Metrics.counter(NAMESPACE, NEAR_DUPLICATES)

    def process(self, item: tuple) -> Iterator[Any]:
        doc_id, grouped = item
        # Rows sharing an id (the same record curated twice) keep one copy, chosen by content.
        rows = sorted(grouped["rows"], key=lambda r: (str(r.get("source")), str(r.get("url")), str(r.get("text"))))
        removals = list(grouped["removal"])
        if removals:
            _, kind, rep = removals[0]
            if kind == KIND_NEAR:
                self._near.inc(len(rows))
            for row in rows:
                yield pvalue.TaggedOutput("duplicates", _duplicate_record(row, kind, rep))
            return
        if not rows:
            return
        self._kept.inc()
        yield {**rows[0], "cluster_id": doc_id}
        for row in rows[1:]:
            yield pvalue.TaggedOutput("duplicates", _duplicate_record(row, KIND_EXACT, doc_id))


def _duplicate_record(row: dict, kind: str, rep: str) -> dict:
    return {
        "id": row["id"], "url": row.get("url"), "source": row.get("source"),
        "kind": kind, "cluster_id": rep, "representative_id": rep,
    }


def _near_removal(item: tuple) -> Iterator[tuple]:
    node, label = item
    if node != label:
        yield node, KIND_NEAR, label


class ApplyClusters(beam.PTransform):
    """Joins decisions to rows by id: (kept rows with cluster_id, duplicates records)."""

    def __init__(self, removals: beam.PCollection):
        super().__init__()
        self.removals = removals

    def expand(self, rows: beam.PCollection) -> pvalue.DoOutputsTuple:
        return (
            {
                "rows": rows | "RowsById" >> beam.Map(lambda r: (r["id"], r)),
                "removal": self.removals | "RemovalsById" >> beam.Map(lambda r: (r[0], r)),
            }
            | "JoinById" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(_ApplyFn()).with_outputs("duplicates", main="kept")
        )


def output_document_schema(input_schema: pa.Schema) -> pa.Schema:
    """The input schema with `cluster_id` after the text fields; unknown columns pass through."""
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


def _write_table(rows: list[dict], schema: pa.Schema, path: str) -> None:
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
        _write_table(self._rows, self._schema, path)
        self._files.inc()
        self._rows = []
        return path


def _finalize_files(temp_paths: list[str], out_dir: str, temp_dir: str, file_schemas: Any) -> int:
    """Move committed temporary files to out_dir/part-NNNNN.parquet (an empty file when none)."""
    _mkdirs(out_dir)
    paths = sorted(temp_paths)
    if not paths:
        schema = file_schemas if isinstance(file_schemas, pa.Schema) else resolve_output_schema(file_schemas)
        _write_table([], schema, FileSystems.join(out_dir, "part-00000.parquet"))
    else:
        targets = [FileSystems.join(out_dir, f"part-{i:05d}.parquet") for i in range(len(paths))]
        FileSystems.rename(paths, targets)
    leftovers = [m.path for m in FileSystems.match([FileSystems.join(temp_dir, "*")])[0].metadata_list]
    if leftovers:
        FileSystems.delete(leftovers)
    _remove_local_dir(temp_dir)
    return max(len(paths), 1)


def _mkdirs(path: str) -> None:
    if FileSystems.get_scheme(path) is None or FileSystems.get_scheme(path) == "file":
        import os

        os.makedirs(path, exist_ok=True)


def _remove_local_dir(path: str) -> None:
    if FileSystems.get_scheme(path) is None or FileSystems.get_scheme(path) == "file":
        import os

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


# --------------------------------------------------------------------------- summary


class _SummaryFn(beam.CombineFn):
    """(name, value) events -> the counts stats.json is built from."""

    def create_accumulator(self) -> dict:
        return {"counts": {}, "sizes": {}, "unsettled": {}}

    def add_input(self, acc: dict, event: tuple) -> dict:
        name, value = event
        if name == CLUSTER_SIZE:
            acc["sizes"][value] = acc["sizes"].get(value, 0) + 1
        elif name == UNSETTLED_NODES:
            acc["unsettled"][value] = acc["unsettled"].get(value, 0) + 1
        else:
            acc["counts"][name] = acc["counts"].get(name, 0) + value
        return acc

    def merge_accumulators(self, accs: Iterable[dict]) -> dict:
        merged = self.create_accumulator()
        for acc in accs:
            for part in ("counts", "sizes", "unsettled"):
                for key, value in acc[part].items():
                    merged[part][key] = merged[part].get(key, 0) + value
        return merged

    def extract_output(self, acc: dict) -> dict:
        return acc


def _write_summary(summary: dict, path: str) -> None:
    payload = {
        "counts": summary["counts"],
        "sizes": {str(k): v for k, v in summary["sizes"].items()},
        "unsettled": {str(k): v for k, v in summary["unsettled"].items()},
    }
    with FileSystems.create(path, mime_type="application/json") as handle:
        handle.write(json.dumps(payload, sort_keys=True).encode())


# --------------------------------------------------------------------------- assembly


def build_dedup_pipeline(pipeline: beam.Pipeline, input_dir: str, output_dir: str, config: MinHashConfig) -> None:
    """Adds every dedup stage to `pipeline`; reads nothing at construction time."""
    read = pipeline | "ReadCuratedDocuments" >> ReadCuratedDocuments(input_dir)
    rows = read[DOCUMENTS_TAG]
    features = rows | "MinHashSignatures" >> MinHashSignatures(config)
    survivors, exact_removals = features | "ExactDedup" >> ExactDedup(config)
    edges = survivors | "LshCandidatePairs" >> LshCandidatePairs(config)
    cc = ConnectedComponents(config.max_rounds)
    labels = edges | "ConnectedComponents" >> cc
    near_removals = labels | "NearRemovals" >> beam.FlatMap(_near_removal)
    near_moves = near_removals | "NearMoves" >> beam.Map(_removal_move)
    removals = (
        exact_removals | "ExactToNearSurvivor" >> _Repoint(near_moves),
        near_removals,
    ) | "AllRemovals" >> beam.Flatten()
    applied = rows | "ApplyClusters" >> ApplyClusters(removals)
    _ = (applied.kept, applied.duplicates) | "WriteDedupOutputs" >> WriteDedupOutputs(output_dir, read[SCHEMA_TAG])

    events = (
        rows | "EvDocs" >> beam.Map(lambda _: (DOCUMENTS_IN, 1)),
        applied.kept | "EvKept" >> beam.Map(lambda _: (KEPT, 1)),
        applied.duplicates | "EvDups" >> beam.Map(lambda d: (f"{d['kind']}_duplicates", 1)),
        applied.duplicates
        | "DupClusters" >> beam.Map(lambda d: d["cluster_id"])
        | "ClusterCounts" >> beam.combiners.Count.PerElement()
        | "EvSizes" >> beam.Map(lambda kv: (CLUSTER_SIZE, kv[1] + 1)),
        cc.unsettled | "EvUnsettled" >> beam.Map(lambda r: (UNSETTLED_NODES, r)),
    ) | "Events" >> beam.Flatten()
    summary_path = FileSystems.join(output_dir.rstrip("/"), SUMMARY_FILE)
    _ = (
        events
        | "Summarize" >> beam.CombineGlobally(_SummaryFn())
        | "WriteSummary" >> beam.Map(_write_summary, summary_path)
    )


def _has_runner_options(args: Sequence[str]) -> bool:
    return any(a.split("=")[0] in ("--runner", "--direct_running_mode", "--direct_num_workers") for a in args)


def stats_from_summary(summary: dict, config: MinHashConfig, wall_time_s: float) -> dict:
    """stats.json content from the pipeline's summary."""
    counts = summary["counts"]
    documents_in = counts.get(DOCUMENTS_IN, 0)
    kept = counts.get(KEPT, 0)
    exact = counts.get(f"{KIND_EXACT}_duplicates", 0)
    near = counts.get(f"{KIND_NEAR}_duplicates", 0)
    sizes = {int(k): v for k, v in summary["sizes"].items()}
    unsettled = {int(k): v for k, v in summary["unsettled"].items()}
    return {
        "documents_in": documents_in,
        "kept": kept,
        "exact_duplicates": exact,
        "near_duplicates": near,
        "clusters": sum(sizes.values()),
        "largest_cluster": max(sizes, default=0),
        "cluster_size_histogram": {str(k): sizes[k] for k in sorted(sizes)},
        # A round did work when it started with at least one unsettled node.
        "cc_rounds_used": len([r for r, n in unsettled.items() if n > 0]),
        "cc_max_rounds": config.max_rounds,
        "wall_time_s": round(wall_time_s, 3),
        "config": config_to_mapping(config),
        "accounting": {
            "documents_in": documents_in,
            "kept_plus_duplicates": kept + exact + near,
            "ok": documents_in == kept + exact + near,
        },
    }


def run_dedup(input_dir: str, output_dir: str, config: MinHashConfig, pipeline_args: list[str]) -> dict:
    """Runs the dedup pipeline and returns (and writes to OUT/stats.json) its stats.

    DirectRunner in multi-processing mode on every core unless `pipeline_args` name a runner.
    With `--dry_run=True` (Dataflow), the job is only built; the returned dict says so.
    """
    args = list(pipeline_args)
    if not _has_runner_options(args):
        args += ["--direct_running_mode=multi_processing", "--direct_num_workers=0"]
    options = PipelineOptions(args)
    started = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    build_dedup_pipeline(pipeline, input_dir, output_dir, config)
    result = pipeline.run()
    result.wait_until_finish()
    if options.view_as(TestOptions).dry_run:
        return {"dry_run": True, "runner": options.view_as(StandardOptions).runner}
    summary_path = FileSystems.join(output_dir.rstrip("/"), SUMMARY_FILE)
    with FileSystems.open(summary_path) as handle:
        summary = json.loads(handle.read().decode())
    FileSystems.delete([summary_path])
    stats = stats_from_summary(summary, config, time.monotonic() - started)
    with FileSystems.create(FileSystems.join(output_dir.rstrip("/"), "stats.json"), mime_type="application/json") as handle:
        handle.write((json.dumps(stats, indent=2, sort_keys=True) + "\n").encode())
    if not stats["accounting"]["ok"]:
        raise DedupError(f"dedup accounting failed for {output_dir}: {stats['accounting']}")
    return stats


def main(argv: list[str] | None = None) -> int:
    """`python -m winnow.pipelines.dedup --input DIR --output DIR [MinHash flags] [Beam options]`."""
    parser = argparse.ArgumentParser(prog="python -m winnow.pipelines.dedup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dedup_arguments(parser)
    args, beam_args = parser.parse_known_args(argv)
    if not args.input or not args.output:
        parser.error("--input and --output are required")
    stats = run_dedup(args.input, args.output, minhash_config_from_namespace(args), beam_args)
    print(json.dumps(stats, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.WARNING)
    sys.exit(main(sys.argv[1:]))
