"""The curation pipeline: archives -> records -> documents, rejections and errors -> Parquet.

    ReadInputs        file patterns -> ArchiveRecord | TextRecord | ReadFailure (one per record)
    CurateRecords     batches of records -> curation.record_path.run_batch -> kept | rejected | errors
    WriteCurated      three Parquet tables and stats.json

What happens to a record is decided in `curation/record_path.py` (pure, no
Beam); this module only batches records, counts outcomes and routes each to
its output. Every record read leaves through exactly one of the three
outputs, which is what makes `records_in == kept + rejected_total + errors` hold.
"""
from __future__ import annotations


import dataclasses
import functools
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from winnow import schemas
from winnow.curation import record_path
from winnow.curation.readers import FORMAT_WARC, ReaderOptions, detect_format
from winnow.curation.recipe import RecipeStep
from winnow.curation.stats import curation_stats, outcome_key
from winnow.curation.steps import build_steps, prepare_resources, signal_columns, step_spec
from winnow.curation.triage import TriageConfig
from winnow.pipelines.options import LOCAL_RUNNER, names_direct_runner
from winnow.pipelines.outputs import WriteParquetRows, write_json
from winnow.pipelines.read_sources import ReadSources

NAMESPACE = "curate"
REJECTED_TAG = record_path.REJECTED_TABLE
ERRORS_TAG = record_path.ERRORS_TABLE
# Records per call of the record path: amortises per-call overhead and gives
# batch steps (models) enough documents at once; small enough for short bundles.
DEFAULT_BATCH_SIZE = 32
# A batch holds at most about this much text or payload (a record over it is a
# batch of its own), so a few huge records are never curated side by side.
BATCH_BYTES = 32 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class CurateSettings:
    """Everything a worker needs, resolved on the launcher and pickled to workers."""

    steps: tuple[RecipeStep, ...]
    max_payload_bytes: int = 10_000_000
    keep_rejected_text: bool = True
    mode: str = record_path.FILTER
    source_name: str = ""
    batch_size: int = DEFAULT_BATCH_SIZE
    input_format: str | None = None  # None: inferred per file from its extension
    reader_options: ReaderOptions = ReaderOptions()

    @property
    def signal_columns(self) -> tuple[tuple[str, str], ...]:
        return signal_columns([step.name for step in self.steps])

    @property
    def needs_resources(self) -> bool:
        return any(step_spec(step.name).prepare is not None for step in self.steps)


class _Counters:
    """Metrics.counter per stage and reason, created once per name."""

    def __init__(self) -> None:
        self._counters: dict[str, Any] = {}

    def inc(self, name: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(NAMESPACE, name)
        counter.inc()


class ReadInputs(beam.PTransform):
    """Expand patterns, spread files over workers, read records of any format, spread records again
    (locally: web archives only).

    Reading is `ReadSources` (WARC/ARC/WET, JSONL, Parquet, text). Redistributing
    records keeps one large file from pinning one worker, which matters on
    Dataflow. The DirectRunner's in-memory shuffle of whole payloads is slow
    (2.2 s for 37 MB of HTML on 2 cores, a sixth of the run), so a local run
    with several input files per worker spreads files only.
    """

    def __init__(
        self,
        patterns: Sequence[str],
        max_payload_bytes: int,
        spread_records: bool = True,
        input_format: str | None = None,
        reader_options: ReaderOptions = ReaderOptions(),
        split_large_files: bool = True,
    ):
        super().__init__()
        self._read = ReadSources(patterns, input_format, reader_options, max_payload_bytes, split_large_files=split_large_files)
        self._spread_records = spread_records
        self._archives = may_hold_archives(patterns, input_format)

    def expand(self, pbegin):
        records = pbegin | "Read" >> self._read
        # A local runner holds a Reshuffle's whole input in memory (8 records of 60 MB peaked
        # at 4.7 GB), so local runs spread web archives only. Plain-text records stay with the
        # worker thread that read their file; their language ID and filters run in that
        # thread's extraction child (document_chain.py), so several files use several cores.
        local = runs_locally(pbegin.pipeline.options)
        if self._spread_records and (self._archives or not local):
            records = records | "SpreadRecords" >> beam.Reshuffle()
        return records


def runs_locally(options: PipelineOptions) -> bool:
    runner = options.view_as(StandardOptions).runner
    return names_direct_runner(runner) or runner in (LOCAL_RUNNER, "FnApiRunner")


def may_hold_archives(patterns: Sequence[str], input_format: str | None) -> bool:
    """Whether any input could be a web archive (format given as warc, or a pattern without a known extension)."""
    if input_format is not None:
        return input_format == FORMAT_WARC
    for pattern in patterns:
        try:
            if detect_format(pattern) == FORMAT_WARC:
                return True
        except ValueError:
            return True  # a folder or an unusual name: any format may be below it
    return False


def record_bytes(record: Any) -> int:
    """About how many bytes a record holds in memory (its text or payload); 0 for anything else."""
    for field in ("text", "payload", "message"):
        value = getattr(record, field, None)
        if isinstance(value, (str, bytes)):
            return len(value)
    return 0


class CurateBatchFn(beam.DoFn):
    """Run a batch of records through the record path; count and route each outcome.

    Steps are built once per worker: in `setup`, or on the first batch when a
    step needs a resource that arrives as a side input (an n-gram index, say).
    """

    def __init__(self, settings: CurateSettings):
        self._settings = settings

    def setup(self) -> None:
        self._counters = _Counters()
        self._triage = TriageConfig(max_payload_bytes=self._settings.max_payload_bytes)
        self._signal_names = [name for name, _ in self._settings.signal_columns]
        self._steps = None if self._settings.needs_resources else build_steps(self._settings.steps)

    def teardown(self) -> None:
        for step in getattr(self, "_steps", None) or ():
            step.close()

    def process(self, batch: Sequence[Any], resources: Any = None) -> Iterator[Any]:
        if self._steps is None:
            self._steps = build_steps(self._settings.steps, resources)
        outcomes = record_path.run_batch(
            batch, self._steps, self._triage, self._settings.mode, self._settings.source_name
        )
        for outcome in outcomes:
            self._counters.inc(record_path.counter_name(outcome))
            row = record_path.outcome_row(outcome, self._signal_names, self._settings.keep_rejected_text)
            table = record_path.table_of(outcome)
            yield row if table == record_path.KEPT_TABLE else pvalue.TaggedOutput(table, row)


def _open_binary(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _prepare(_, steps: tuple[RecipeStep, ...]) -> dict[str, Any]:
    return prepare_resources(steps, _open_binary)


def batch_weight(record: Any, batch_size: int) -> int:
    """A record's share of a batch of `batch_size`: 1, plus 1 per BATCH_BYTES / batch_size it holds.

    Capped at a whole batch, so a huge record is a batch alone and never an empty one.
    """
    return min(batch_size, 1 + record_bytes(record) // max(1, BATCH_BYTES // batch_size))


class CurateRecords(beam.PTransform):
    """Records -> main (kept documents), `rejected` and `errors` outputs."""

    def __init__(self, settings: CurateSettings):
        super().__init__()
        self._settings = settings

    def expand(self, records):
        size = self._settings.batch_size
        batches = records | "Batch" >> beam.BatchElements(
            min_batch_size=size, max_batch_size=size, element_size_fn=functools.partial(batch_weight, batch_size=size)
        )
        extra = []
        if self._settings.needs_resources:
            # Built once per pipeline, handed to every worker as a side input.
            resources = (
                records.pipeline
                | "ResourcesSeed" >> beam.Create([None])
                | "PrepareSteps" >> beam.Map(_prepare, steps=self._settings.steps)
            )
            extra = [beam.pvalue.AsSingleton(resources)]
        return batches | "Curate" >> beam.ParDo(CurateBatchFn(self._settings), *extra).with_outputs(
            REJECTED_TAG, ERRORS_TAG, main="kept"
        )


# Count keys besides outcome_key's: every record read (stats.json's records_in), and the one
# element the stats seed adds so that an empty input still gets its stats.json.
RECORD_READ_KEY = ("read", "")
STATS_SEED_KEY = ("seed", "")


class CountKeys(beam.CombineFn):
    """How many elements carry each (table, key): all the counts of stats.json in one combine."""

    def create_accumulator(self) -> Counter:
        return Counter()

    def add_input(self, counts: Counter, key: tuple[str, str]) -> Counter:
        counts[key] += 1
        return counts

    def merge_accumulators(self, accumulators: Iterable[Counter]) -> Counter:
        merged: Counter = Counter()
        for counts in accumulators:
            merged.update(counts)
        return merged

    def extract_output(self, counts: Counter) -> dict[tuple[str, str], int]:
        return dict(counts)


def build_stats(counts: dict[tuple[str, str], int], recipe: str, mode: str = record_path.FILTER) -> dict[str, Any]:
    """stats.json's body from CountKeys' counts of the records read and the rows written."""
    written = [(key, n) for key, n in counts.items() if key not in (RECORD_READ_KEY, STATS_SEED_KEY)]
    return curation_stats(counts.get(RECORD_READ_KEY, 0), written, recipe, mode)


def write_stats(stats: dict[str, Any], path: str, tables: Sequence[str] = ()) -> None:
    """stats.json, written whole (atomically where the filesystem allows; a retry writes the same bytes).

    `tables`: the table files written; the pipeline passes them only so that this runs after them.
    """
    if "://" not in path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    write_json(path, stats)


class WriteCurated(beam.PTransform):
    """Write kept/rejected/errors as zstd Parquet and stats.json under `output`."""

    def __init__(self, output: str, settings: CurateSettings, recipe_name: str, num_shards: int = 0, prefix: str = "part", stats_name: str = "stats"):
        super().__init__()
        self._output = output.rstrip("/")
        self._prefix = prefix
        self._stats_name = stats_name
        self._settings = settings
        self._recipe_name = recipe_name
        self._num_shards = num_shards

    def expand(self, outputs):
        kept, rejected, errors, records = outputs["kept"], outputs[REJECTED_TAG], outputs[ERRORS_TAG], outputs["records"]
        signals = self._settings.signal_columns
        tables = (
            ("documents", kept, schemas.document_schema(signals)),
            ("rejected", rejected, schemas.rejected_schema(signals)),
            ("errors", errors, schemas.error_schema()),
        )
        written = [
            pcoll | f"Write{name.title()}" >> WriteParquetRows(
                FileSystems.join(self._output, name, self._prefix), schema, num_shards=self._num_shards
            )
            for name, pcoll, schema in tables
        ] | "TablesWritten" >> beam.Flatten()
        # One combine counts the records read and the rows written, and one Map writes stats.json:
        # Count.Globally, Count.PerElement, ToList and WriteToText took 11 stages, about 0.3 s of
        # a local run's tail on one core.
        keys = (
            records.pipeline | "StatsSeed" >> beam.Create([STATS_SEED_KEY]),
            records | "KeyRead" >> beam.Map(lambda _: RECORD_READ_KEY),
            kept | "KeyKept" >> beam.Map(lambda row: outcome_key("kept", row)),
            rejected | "KeyRejected" >> beam.Map(lambda row: outcome_key("rejected", row)),
            errors | "KeyErrors" >> beam.Map(lambda row: outcome_key("errors", row)),
        ) | "AllKeys" >> beam.Flatten()
        return (
            keys
            | "CountKeys" >> beam.CombineGlobally(CountKeys()).without_defaults()
            | "BuildStats" >> beam.Map(build_stats, recipe=self._recipe_name, mode=self._settings.mode)
            # The final file names as a side input: stats.json is written only once every table is,
            # so a stats.json on disk always describes finished tables (a killed run has none).
            | "WriteStats" >> beam.Map(
                write_stats, path=FileSystems.join(self._output, f"{self._stats_name}.json"),
                tables=beam.pvalue.AsList(written),
            )
        )


def _keep_top_fractions(kept, rejected, settings: CurateSettings):
    """Classifier steps with `keep_top_fraction` cut the kept documents in a second pass:
    the threshold needs the whole corpus' score distribution (`pipelines/top_fraction.py`)."""
    from winnow.curation.classifier.step import is_classifier_step_name
    from winnow.pipelines.top_fraction import KEPT, REJECTED, KeepTopFraction

    cut_rejections = []
    for step in settings.steps:
        fraction = getattr(step.config, "keep_top_fraction", None)
        if is_classifier_step_name(step.name) and fraction is not None:
            cut = kept | f"TopFraction[{step.name}]" >> KeepTopFraction(step.name, fraction)
            kept = cut[KEPT]
            cut_rejections.append(cut[REJECTED])
    if cut_rejections:
        rejected = (rejected, *cut_rejections) | "AllRejected" >> beam.Flatten()
    return kept, rejected


def build_curate_pipeline(
    pipeline: beam.Pipeline,
    patterns: Sequence[str],
    output: str,
    settings: CurateSettings,
    recipe_name: str,
    num_shards: int = 0,
    prefix: str = "part",
    stats_name: str = "stats",
    spread_records: bool = True,
    split_large_files: bool = True,
) -> None:
    """Attach the whole curation graph to `pipeline`; tables are written as `<table>/<prefix>-*.parquet`.

    `split_large_files`: read large gzipped WARC and plain JSONL files in byte ranges (read_sources.plan_file).
    """
    records = pipeline | "ReadInputs" >> ReadInputs(
        patterns, settings.max_payload_bytes, spread_records, settings.input_format, settings.reader_options,
        split_large_files,
    )
    outputs = records | "CurateRecords" >> CurateRecords(settings)
    kept, rejected = _keep_top_fractions(outputs.kept, outputs[REJECTED_TAG], settings)
    {
        "kept": kept,
        REJECTED_TAG: rejected,
        ERRORS_TAG: outputs[ERRORS_TAG],
        "records": records,
    } | "WriteCurated" >> WriteCurated(output, settings, recipe_name, num_shards, prefix, stats_name)
