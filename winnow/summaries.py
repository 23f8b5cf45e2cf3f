"""Summaries that more than one command shows, each defined once.

`winnow inspect` and `winnow report` both show the curation funnel (records
entering and leaving each stage) from a curation output's stats.json; both
read it through `curation_funnel` so they cannot disagree. The checks raise
`StatsError` with a message naming the file and the key, which each command
turns into its own error type.

Also defined here, once for every command:

- the errors summary (`error_groups`: errors by stage and type with the first
  message and file of each), the run's headline when nothing useful came out
  (`RunOutcome`), and the exit status of such a run (`EXIT_ALL_FAILED`);
- which kind of Winnow output a directory is (`output_kind`), for `winnow
  report` and `winnow inspect`;
- what a path handed to the wrong command is and what to run first
  (`documents_input_problem`, `training_run_problem`).

Beam-free and torch-free: the standard library at module level (pyarrow loads
inside `error_groups` only), so any command can import it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from winnow.curation.stages import STAGE_EXTRACT, STAGE_LANGUAGE, stage_order
from winnow.core.errors import InputError

# stats.json written before `stage_order` existed: the fixed stages in pipeline
# order; filter steps follow in the order their rejections appear.
DEFAULT_STAGE_ORDER: tuple[str, ...] = tuple(stage_order((STAGE_EXTRACT, STAGE_LANGUAGE)))


class StatsError(InputError):
    """A stats file has content of an unexpected shape; the message names the file and key."""


def expect_number(value: Any, where: str) -> float:
    """`value` when it is an int or float (not a bool), else StatsError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StatsError(f"{where}: expected a number, found {value!r}")
    return value


def count_map(value: Any, where: str) -> dict[str, float]:
    """{name: count} with numeric counts (None reads as empty), or StatsError naming `where`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StatsError(f"{where}: expected an object of counts, found {type(value).__name__}")
    return {str(k): expect_number(v, f"{where}.{k}") for k, v in value.items()}


def ranked_counts(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """(name, count) pairs, largest first, ties by name, so every command lists them alike."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass(frozen=True)
class StageCounts:
    """What stats.json says left the pipeline at each stage, validated."""

    records_in: int
    rejected: dict[str, dict[str, int]]  # stage -> reason -> records
    errors_by_stage: dict[str, dict[str, int]]  # stage -> exception type -> records
    order: tuple[str, ...]  # every stage, pipeline order, including any only seen in the counts


@dataclass(frozen=True)
class FunnelStage:
    """One row of the curation funnel."""

    stage: str
    entered: int
    rejected: int
    errors: int
    left: int
    reasons: tuple[tuple[str, int], ...]  # rejection reasons, most frequent first

    def row(self) -> dict[str, Any]:
        """The row both commands write (JSON keys `in` and `out`)."""
        return {"stage": self.stage, "in": self.entered, "rejected": self.rejected, "errors": self.errors, "out": self.left}


def _ordered_stages(declared: Any, seen: Iterable[str]) -> tuple[str, ...]:
    order = [str(s) for s in declared] if isinstance(declared, list) else list(DEFAULT_STAGE_ORDER)
    for stage in seen:
        if stage not in order:
            order.append(stage)
    return tuple(order)


def stage_counts(stats: Mapping[str, Any], where: str) -> StageCounts:
    """Validate the funnel part of a curation stats.json (`where` names the file in errors)."""
    rejected = stats.get("rejected") or {}
    errors = stats.get("errors_by_stage") or {}
    if not isinstance(rejected, dict) or not isinstance(errors, dict):
        raise StatsError(f"{where}: 'rejected' and 'errors_by_stage' must be objects")
    by_reason = {str(s): {k: int(v) for k, v in count_map(r, f"{where}: rejected.{s}").items()} for s, r in rejected.items()}
    by_error = {str(s): {k: int(v) for k, v in count_map(e, f"{where}: errors_by_stage.{s}").items()} for s, e in errors.items()}
    records_in = int(expect_number(stats.get("records_in"), f"{where}: records_in"))
    order = _ordered_stages(stats.get("stage_order"), [*by_reason, *by_error])
    return StageCounts(records_in, by_reason, by_error, order)


def curation_funnel(stats: Mapping[str, Any], where: str) -> list[FunnelStage]:
    """Records entering and leaving each curation stage, in pipeline order.

    A stage's output is its input less what it rejected and what raised there;
    every stage that rejected or errored appears, even if `stage_order` omits it,
    so the rows always add up to stats.json's totals.
    """
    counts = stage_counts(stats, where)
    rows = []
    remaining = counts.records_in
    for stage in counts.order:
        reasons = counts.rejected.get(stage, {})
        removed = sum(reasons.values())
        errored = sum(counts.errors_by_stage.get(stage, {}).values())
        left = remaining - removed - errored
        rows.append(FunnelStage(stage, remaining, removed, errored, left, tuple(ranked_counts(reasons))))
        remaining = left
    return rows


# --- errors: what went wrong, by stage and type, with one example of each ---

# Exit status of a curate or select run in which every record read ended in
# errors/ (nothing kept, nothing rejected): the run did no useful work, and a
# script chaining commands must stop. 1 is also what a broken accounting
# returns; 2 stays the CLI's code for a user error caught before running.
EXIT_ALL_FAILED = 1

ERROR_EXAMPLE_COLUMNS: tuple[str, ...] = ("stage", "error_type", "error_message", "source", "id")


@dataclass(frozen=True)
class ErrorGroup:
    """All error rows of one stage and exception type, with the first of them.

    "First" is the row with the smallest (source, id, message): a fixed choice,
    so the summary is the same however Beam sharded or ordered the rows.
    """

    stage: str
    error_type: str
    records: int
    first_message: str
    first_source: str


@dataclass(frozen=True)
class RunOutcome:
    """The headline of a run that writes documents/, rejected/ and errors/."""

    records_in: int
    kept: int
    rejected: int
    errors: int

    @property
    def all_failed(self) -> bool:
        """Every record read raised or could not be read: nothing was decided."""
        return self.records_in > 0 and self.errors == self.records_in

    @property
    def kept_nothing(self) -> bool:
        return self.kept == 0

    def headline(self) -> str | None:
        """A sentence for the top of the summary when the run produced nothing useful, else None."""
        if self.records_in == 0:
            return "NOTHING WAS READ: the inputs held no records"
        if self.all_failed:
            return f"EVERY RECORD FAILED: all {self.records_in:,} records ended in errors/; nothing was kept or rejected"
        if self.kept_nothing:
            return f"NOTHING KEPT: all {self.records_in:,} records were rejected or failed; documents/ is empty"
        return None


def run_outcome(stats: Mapping[str, Any], where: str) -> RunOutcome:
    """The four totals of a curate/select stats.json, validated."""
    def number(key: str) -> int:
        return int(expect_number(stats.get(key), f"{where}: {key}"))

    return RunOutcome(number("records_in"), number("kept"), number("rejected_total"), number("errors"))


def exit_status(stats: Mapping[str, Any]) -> int:
    """0 for a useful run; 1 when the accounting fails or every record failed (EXIT_ALL_FAILED)."""
    if not (stats.get("accounting") or {}).get("ok", False):
        return 1
    return EXIT_ALL_FAILED if run_outcome(stats, "stats.json").all_failed else 0


def _example_key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(row.get("source") or ""), str(row.get("id") or ""), str(row.get("error_message") or ""))


def group_error_rows(rows: Iterable[Mapping[str, Any]]) -> list[ErrorGroup]:
    """Error rows grouped by (stage, error_type), largest group first, each with its first row."""
    counts: dict[tuple[str, str], int] = {}
    first: dict[tuple[str, str], Mapping[str, Any]] = {}
    for row in rows:
        key = (str(row.get("stage")), str(row.get("error_type")))
        counts[key] = counts.get(key, 0) + 1
        if key not in first or _example_key(row) < _example_key(first[key]):
            first[key] = row
    order = sorted(counts, key=lambda k: (-counts[k], k))
    return [
        ErrorGroup(stage, kind, counts[(stage, kind)], str(first[(stage, kind)].get("error_message") or ""),
                   str(first[(stage, kind)].get("source") or ""))
        for stage, kind in order
    ]


def error_groups(errors_dir: str) -> list[ErrorGroup]:
    """Group the rows of an errors/ Parquet table (a local folder or a URI pyarrow can open).

    Reads only the five small columns, batch by batch, so a table of millions
    of errors costs memory for the groups, not the rows.
    """
    import pyarrow.dataset as ds  # pyarrow loads only when a summary needs it

    dataset = ds.dataset(errors_dir, format="parquet")
    columns = [c for c in ERROR_EXAMPLE_COLUMNS if c in dataset.schema.names]

    def rows() -> Iterable[Mapping[str, Any]]:
        for batch in dataset.to_batches(columns=columns):
            yield from batch.to_pylist()

    return group_error_rows(rows())


def one_line(message: str, limit: int = 160) -> str:
    """A message's first line, cut to `limit` characters, for a table cell."""
    line = (message.strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- which kind of Winnow output a directory is (`winnow report`, `winnow inspect`) ---

KIND_RUN = "winnow run directory"
KIND_ABLATION = "winnow ablate directory"
KIND_CURATE = "curate output"
KIND_SELECT = "select output"
KIND_DEDUP = "dedup output"
KIND_MIX = "mix output"
KIND_TOKENS = "token directory"
KIND_TOKENIZER = "tokenizer directory"
KIND_TRAIN = "training run"
KIND_UNKNOWN = "unknown"

# The `winnow run` stage folder each single-stage kind is: a curate output is
# what RUN_DIR/curate holds, so one reader serves both.
RUN_STAGE_OF_KIND: dict[str, str] = {
    KIND_CURATE: "curate", KIND_SELECT: "curate", KIND_DEDUP: "dedup", KIND_MIX: "mix",
    KIND_TOKENS: "tokens", KIND_TOKENIZER: "tokenizer", KIND_TRAIN: "train",
}
RUN_STAGE_FOLDERS = ("curate", "dedup", "mix", "tokenizer", "tokens", "train", "evaluate")


def _json_object(path: Any) -> dict[str, Any]:
    """A JSON file's object, or {} when it is absent, unreadable or not an object (detection only guesses)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def output_kind(directory: Any) -> str:
    """Which Winnow output `directory` (a pathlib.Path) is, from the files each command writes.

    Checked most specific first: a `winnow run` directory has run.json or
    stages/, an ablation ablate/results.json or recipes/; a single command's output is told apart by its stats.json
    keys or its manifest. KIND_UNKNOWN when nothing matches.
    """
    if (directory / "run.json").is_file() or (directory / "stages").is_dir():
        return KIND_RUN
    if (directory / "ablate" / "results.json").is_file() or (directory / "recipes").is_dir():
        return KIND_ABLATION
    stats = _json_object(directory / "stats.json")
    if "documents_in" in stats or (directory / "duplicates").is_dir():
        return KIND_DEDUP
    if "records_in" in stats and "kept" in stats:
        return KIND_SELECT if "selected_from" in stats else KIND_CURATE
    if (directory / "mix_manifest.json").is_file():
        return KIND_MIX
    if _json_object(directory / "manifest.json").get("format") == "winnow-token-shards":
        return KIND_TOKENS
    if (directory / "metrics.jsonl").is_file() or (directory / "checkpoints").is_dir():
        return KIND_TRAIN
    if (directory / "tokenizer.json").is_file() and (directory / "report.json").is_file():
        return KIND_TOKENIZER
    if any((directory / stage).is_dir() for stage in RUN_STAGE_FOLDERS):
        return KIND_RUN
    return KIND_UNKNOWN


# --- what a path given to the wrong command is, and what to run first ---

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".wet", ".wet.gz")
RAW_TEXT_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".txt", ".txt.gz")
DOCUMENT_KINDS = (KIND_CURATE, KIND_SELECT, KIND_DEDUP, KIND_MIX)
TOKENIZE_FIRST = (
    "winnow tokenizer train --input {docs} --vocab-size N --output tokenizer.json; "
    "winnow tokenize --input {docs} --tokenizer tokenizer.json --output TOKENS; "
    "winnow train --input TOKENS --output RUN_DIR"
)


def documents_input_problem(path: str) -> str | None:
    """Why `path` is not curated Parquet documents (what `tokenizer train` and `tokenize` read) and what
    to run first; None when it may be (a glob, a Parquet file, a documents folder)."""
    from pathlib import Path

    p = Path(path)
    name = p.name.lower()
    if p.is_file() and name.endswith(ARCHIVE_SUFFIXES + RAW_TEXT_SUFFIXES):
        what = "a web archive" if name.endswith(ARCHIVE_SUFFIXES) else "a raw JSONL or text source"
        return (f"{path} is {what}, not curated Parquet documents: curate it first "
                f"(winnow curate --input {path} --output OUT) and pass OUT")
    if not p.is_dir():
        return None
    kind = output_kind(p)
    if kind == KIND_TOKENS:
        return f"{path} is a token directory (already tokenized): train on it with winnow train --input {path} --output RUN_DIR"
    if kind == KIND_TRAIN:
        return f"{path} is a training run, not documents: pass the curate or dedup output it was trained from"
    if kind in (KIND_RUN, KIND_ABLATION):
        inner = [stage for stage in ("dedup", "curate") if (p / stage / "documents").is_dir()]
        where = f"{path}/{inner[0]}" if inner else f"its curate/ or dedup/ folder"
        return f"{path} is a {kind}, not one output: pass {where}"
    return None


def training_run_problem(path: str) -> str | None:
    """Why `path` is not a `winnow train` run directory and what to run first; None when it is one."""
    from pathlib import Path

    p = Path(path)
    if not p.is_dir():
        return f"{path}: no such run directory"
    kind = output_kind(p)
    if kind == KIND_TRAIN:
        return None
    if kind == KIND_TOKENS:
        return f"{path} is a token directory, not a training run: train first with winnow train --input {path} --output RUN_DIR, then pass RUN_DIR"
    if kind in DOCUMENT_KINDS:
        return f"{path} is a {kind}, not a training run: tokenize and train first: {TOKENIZE_FIRST.format(docs=path)}; then pass RUN_DIR"
    if kind in (KIND_RUN, KIND_ABLATION):
        hint = f"pass {path}/train" if (p / "train").is_dir() else "it has no train/ folder yet"
        return f"{path} is a {kind}, not a training run: {hint}"
    if kind == KIND_TOKENIZER:
        return f"{path} is a tokenizer directory, not a training run: tokenize and train with it first (winnow tokenize, winnow train)"
    return f"{path} is not a training run: it has no checkpoints/ and no metrics.jsonl (`winnow train --output RUN_DIR` writes them)"
