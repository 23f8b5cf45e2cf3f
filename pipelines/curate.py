"""The curation pipeline: archives -> records -> documents, rejections and errors -> Parquet.

    ReadArchives      file patterns -> ArchiveRecord | ReadFailure (one per WARC record)
    CurateRecords     triage, decode, extract, language, filters -> kept | rejected | errors
    WriteCurated      three Parquet tables and stats.json

Every record read leaves through exactly one of the three outputs, which is
what makes `records_in == kept + rejected_total + errors` hold.
"""
from __future__ import annotations

import dataclasses
import json
import traceback
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from winnow.curation.archive import ArchiveRecord, ReadFailure, iter_archive
from winnow.curation.extract import Extractor
from winnow.curation.filters import FILTER_STEPS
from winnow.curation.ids import document_id, domain_of
from winnow.curation.langid import LanguageIdentifier
from winnow.curation.recipe import EXTRACT, LANGUAGE, RecipeStep
from winnow.curation.triage import Rejection, TriageConfig, triage
from winnow.curation.types import Document
from winnow import schemas

NAMESPACE = "curate"
STAGE_READ = "read"
REJECTED_TAG = "rejected"
ERRORS_TAG = "errors"
MAX_TRACEBACK_CHARS = 4000


@dataclasses.dataclass(frozen=True)
class CurateSettings:
    """Everything a worker needs, resolved on the launcher and pickled to workers."""

    steps: tuple[RecipeStep, ...]
    max_payload_bytes: int = 10_000_000
    keep_rejected_text: bool = True

    @property
    def signal_columns(self) -> tuple[tuple[str, str], ...]:
        return tuple(col for step in self.steps if step.name in FILTER_STEPS for col in FILTER_STEPS[step.name].signals)


class _Counters:
    """Metrics.counter per stage and reason, created once per name."""

    def __init__(self) -> None:
        self._counters: dict[str, Any] = {}

    def inc(self, name: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(NAMESPACE, name)
        counter.inc()


class ReadArchiveFn(beam.DoFn):
    """Stream one archive file into records; a broken file yields ReadFailures, never an exception."""

    def __init__(self, max_payload_bytes: int):
        self._max_payload_bytes = max_payload_bytes

    def setup(self) -> None:
        self._counters = _Counters()

    def process(self, path: str) -> Iterator[ArchiveRecord | ReadFailure]:
        try:
            stream = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
        except Exception as exc:  # the file itself cannot be opened: one error row names it
            self._counters.inc("records_in")
            yield ReadFailure(path, None, "", "", type(exc).__name__, f"cannot open {path}: {exc}")
            return
        with stream:
            for item in iter_archive(stream, source=path, max_payload_bytes=self._max_payload_bytes):
                self._counters.inc("records_in")
                yield item


class ReadArchives(beam.PTransform):
    """Expand patterns, spread files over workers, read records, spread records again.

    Redistributing records keeps one large WARC from pinning one worker, which
    matters on Dataflow. The DirectRunner's in-memory shuffle of whole
    payloads is slow (2.2 s for 37 MB of HTML on 2 cores, a sixth of the run),
    so a local run with several input files per worker spreads files only.
    """

    def __init__(self, patterns: Sequence[str], max_payload_bytes: int, spread_records: bool = True):
        super().__init__()
        self._patterns = list(patterns)
        self._max_payload_bytes = max_payload_bytes
        self._spread_records = spread_records

    def expand(self, pbegin):
        records = (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.DISALLOW)
            | "Paths" >> beam.Map(lambda metadata: metadata.path)
            | "SpreadFiles" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(ReadArchiveFn(self._max_payload_bytes))
        )
        if self._spread_records:
            records = records | "SpreadRecords" >> beam.Reshuffle()
        return records


class CurateRecordFn(beam.DoFn):
    """Run one record through triage, extraction, language ID and the recipe's filters."""

    def __init__(self, settings: CurateSettings):
        self._settings = settings

    def setup(self) -> None:
        self._counters = _Counters()
        self._triage = TriageConfig(max_payload_bytes=self._settings.max_payload_bytes)
        self._extractor = None
        self._language = None
        self._filters = {}
        for step in self._settings.steps:
            if step.name == EXTRACT:
                self._extractor = Extractor(step.config)
            elif step.name == LANGUAGE:
                self._language = LanguageIdentifier(step.config)
            else:
                self._filters[step.name] = FILTER_STEPS[step.name].build(step.config)
        self._signal_names = [name for name, _ in self._settings.signal_columns]

    def teardown(self) -> None:
        if getattr(self, "_extractor", None) is not None:
            self._extractor.close()

    def process(self, item: ArchiveRecord | ReadFailure) -> Iterator[Any]:
        if isinstance(item, ReadFailure):
            self._counters.inc(f"errors.{STAGE_READ}")
            yield pvalue.TaggedOutput(ERRORS_TAG, read_failure_row(item))
            return
        identity = identity_of(item)
        stage = "triage"
        try:
            yield from self._curate(item, identity)
        except Exception as exc:  # a bug or a library failure on one page costs that page only
            self._counters.inc(f"errors.{stage}")
            yield pvalue.TaggedOutput(ERRORS_TAG, error_row(identity, stage, exc))

    def _curate(self, record: ArchiveRecord, identity: dict[str, Any]) -> Iterator[Any]:
        decoded = triage(record, self._triage)
        if isinstance(decoded, Rejection):
            yield self._reject(identity, decoded.stage, decoded.reason, decoded.detail, {}, None)
            return
        text = decoded.content
        language, language_score = "", 0.0
        signals: dict[str, Any] = {}
        for step in self._settings.steps:
            stage = step.name
            try:
                if stage == EXTRACT:
                    if decoded.kind != "html":
                        continue  # WET conversion records are already text
                    extracted = self._extractor.extract(text, url=record.url)
                    if isinstance(extracted, Rejection):
                        yield self._reject(identity, extracted.stage, extracted.reason, extracted.detail, signals, None)
                        return
                    text = extracted
                elif stage == LANGUAGE:
                    language, language_score, rejection = self._language.judge(text)
                    if rejection is not None:
                        yield self._reject(
                            identity, rejection.stage, rejection.reason, rejection.detail, signals, (text, language, language_score)
                        )
                        return
                else:
                    result = self._filters[stage](Document(text=text, url=record.url, language=language, language_score=language_score))
                    signals.update(result.signals)
                    if result.text is not None:
                        text = result.text
                    if result.reason is not None:
                        yield self._reject(identity, stage, result.reason, result.detail, signals, (text, language, language_score))
                        return
            except Exception as exc:
                self._counters.inc(f"errors.{stage}")
                yield pvalue.TaggedOutput(ERRORS_TAG, error_row(identity, stage, exc))
                return
        self._counters.inc("kept")
        row = dict(identity, text=text, language=language, language_score=float(language_score))
        row.update({name: signals.get(name) for name in self._signal_names})
        yield row

    def _reject(self, identity, stage, reason, detail, signals, text_fields):
        self._counters.inc(f"rejected.{stage}.{reason}")
        text, language, score = text_fields if text_fields else (None, None, None)
        row = dict(identity, stage=stage, reason=reason, detail=detail or "")
        row["text"] = text if self._settings.keep_rejected_text else None
        row["language"] = language
        row["language_score"] = None if score is None else float(score)
        row.update({name: signals.get(name) for name in self._signal_names})
        return pvalue.TaggedOutput(REJECTED_TAG, row)


def identity_of(record: ArchiveRecord) -> dict[str, Any]:
    return {
        "id": document_id(record.warc_record_id, record.url, record.date),
        "url": record.url,
        "domain": domain_of(record.url),
        "warc_record_id": record.warc_record_id,
        "warc_date": record.date,
        "source": record.source,
    }


def read_failure_row(failure: ReadFailure) -> dict[str, Any]:
    key = failure.warc_record_id or f"{failure.source}@{failure.offset}"
    return {
        "id": document_id(key, failure.url, None),
        "url": failure.url,
        "warc_record_id": failure.warc_record_id,
        "source": failure.source,
        "stage": STAGE_READ,
        "error_type": failure.error_type,
        "error_message": failure.message if failure.offset is None or "offset" in failure.message else f"{failure.message} (at byte offset {failure.offset})",
        "traceback": None,
    }


def error_row(identity: dict[str, Any], stage: str, exc: BaseException) -> dict[str, Any]:
    return {
        "id": identity["id"],
        "url": identity.get("url"),
        "warc_record_id": identity.get("warc_record_id"),
        "source": identity.get("source"),
        "stage": stage,
        "error_type": type(exc).__name__,
        "error_message": str(exc)[:2000],
        "traceback": "".join(traceback.format_exception(exc))[-MAX_TRACEBACK_CHARS:],
    }


class CurateRecords(beam.PTransform):
    """Records -> main (kept documents), `rejected` and `errors` outputs."""

    def __init__(self, settings: CurateSettings):
        super().__init__()
        self._settings = settings

    def expand(self, records):
        return records | "Curate" >> beam.ParDo(CurateRecordFn(self._settings)).with_outputs(
            REJECTED_TAG, ERRORS_TAG, main="kept"
        )


def build_stats(_, records_in: int, counts: Iterable[tuple[tuple[str, str], int]], recipe: str) -> str:
    """stats.json content from the per-(table, key) counts of what was written."""
    kept = rejected_total = errors = 0
    by_language: dict[str, int] = {}
    rejected: dict[str, dict[str, int]] = {}
    errors_by_stage: dict[str, dict[str, int]] = {}
    for (table, key), count in counts:
        if table == "kept":
            kept += count
            by_language[key or "unknown"] = by_language.get(key or "unknown", 0) + count
        elif table == "rejected":
            stage, reason = key.split("/", 1)
            rejected.setdefault(stage, {})[reason] = count
            rejected_total += count
        else:
            stage, error_type = key.split("/", 1)
            errors_by_stage.setdefault(stage, {})[error_type] = count
            errors += count
    stats = {
        "recipe": recipe,
        "records_in": records_in,
        "kept": kept,
        "rejected_total": rejected_total,
        "errors": errors,
        "rejected": {stage: dict(sorted(r.items())) for stage, r in sorted(rejected.items())},
        "errors_by_stage": errors_by_stage,
        "languages": dict(sorted(by_language.items(), key=lambda kv: (-kv[1], kv[0]))),
        "accounting": {
            "identity": "records_in == kept + rejected_total + errors",
            "ok": records_in == kept + rejected_total + errors,
            "unaccounted": records_in - (kept + rejected_total + errors),
        },
    }
    return json.dumps(stats, indent=2, sort_keys=False)


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
        for name, pcoll, schema in tables:
            pcoll | f"Write{name.title()}" >> beam.io.WriteToParquet(
                FileSystems.join(self._output, name, self._prefix),
                schema,
                codec="zstd",
                file_name_suffix=".parquet",
                num_shards=self._num_shards,
            )
        records_in = records | "CountIn" >> beam.combiners.Count.Globally()
        keyed = (
            kept | "KeyKept" >> beam.Map(lambda d: ("kept", d["language"] or "")),
            rejected | "KeyRejected" >> beam.Map(lambda r: ("rejected", f"{r['stage']}/{r['reason']}")),
            errors | "KeyErrors" >> beam.Map(lambda e: ("errors", f"{e['stage']}/{e['error_type']}")),
        ) | "AllOutcomes" >> beam.Flatten()
        counts = keyed | "CountOutcomes" >> beam.combiners.Count.PerElement() | "Collect" >> beam.combiners.ToList()
        return (
            records.pipeline
            | "StatsSeed" >> beam.Create([None])
            | "BuildStats" >> beam.Map(
                build_stats,
                records_in=beam.pvalue.AsSingleton(records_in),
                counts=beam.pvalue.AsSingleton(counts),
                recipe=self._recipe_name,
            )
            | "WriteStats" >> beam.io.WriteToText(
                FileSystems.join(self._output, self._stats_name), file_name_suffix=".json", shard_name_template=""
            )
        )


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
) -> None:
    """Attach the whole curation graph to `pipeline`; tables are written as `<table>/<prefix>-*.parquet`."""
    records = pipeline | "ReadArchives" >> ReadArchives(patterns, settings.max_payload_bytes, spread_records)
    outputs = records | "CurateRecords" >> CurateRecords(settings)
    {
        "kept": outputs.kept,
        REJECTED_TAG: outputs[REJECTED_TAG],
        ERRORS_TAG: outputs[ERRORS_TAG],
        "records": records,
    } | "WriteCurated" >> WriteCurated(output, settings, recipe_name, num_shards, prefix, stats_name)
