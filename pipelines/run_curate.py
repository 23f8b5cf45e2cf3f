"""`winnow curate`: resolve the recipe, check inputs and output, run, and finish stats.json."""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from winnow.core.config_loader import config_from_mapping, config_to_mapping, given_flags
from winnow.curation.recipe import Recipe, curate_steps, load_recipe
from winnow.curation.stages import stage_order
from winnow.curation.stats import combine_curation_stats
from winnow.curation.readers import FORMAT_WARC, ReaderOptions
from winnow.curation.readers.common import metadata_columns_of
from winnow.pipelines.curate import CurateSettings, build_curate_pipeline
from winnow.pipelines.curate_resume import (
    PROGRESS_DIR,
    ResumeRefused,
    check_on_disk,
    file_sizes,
    rows_on_disk,
    run_manifest,
    start_or_continue,
    stray_outputs,
)
from winnow.pipelines.read_sources import expand_pattern, file_format, plan_file
from winnow.pipelines.dataflow import worker_setup_args
from winnow.pipelines.options import is_local_runner, with_local_defaults
from winnow.pipelines.options_cli import READER_FLAGS
from winnow.pipelines.outputs import beam_temp_folders, prepare_output, read_json, write_json
from winnow.core.errors import ConfigurationError
from winnow.interrupt import Interrupted, kill_children, run_interruptibly, sigint_blocked
from winnow.progress import Progress

OUTPUT_TABLES: tuple[str, ...] = ("documents", "rejected", "errors", "stats.json")


class CurateInputError(ConfigurationError):
    """An input pattern matches nothing (checked up front for local paths)."""


def resolve_settings(
    recipe: Recipe, lid_model: str | None, max_payload_bytes: int, keep_rejected_text: bool, source_name: str = "",
    input_format: str | None = None, reader_options: ReaderOptions | None = None,
) -> CurateSettings:
    steps = curate_steps(recipe, lid_model)
    return CurateSettings(
        steps=tuple(steps), max_payload_bytes=max_payload_bytes, keep_rejected_text=keep_rejected_text,
        mode=recipe.mode, source_name=source_name, input_format=input_format,
        reader_options=dataclasses.replace(reader_options or ReaderOptions(), source_name=source_name),
    )


def check_local_inputs(patterns: Sequence[str]) -> list[str] | None:
    """Every local pattern must match a file; returns the matched files, or None when a
    pattern is remote (the runner matches those, where the credentials live)."""
    files: set[str] = set()
    remote = False
    for pattern in patterns:
        if "://" in pattern:
            remote = True
            continue
        matched = [m.path for m in FileSystems.match([expand_pattern(pattern)])[0].metadata_list]
        if not matched:
            raise CurateInputError(f"input {pattern!r} matches no file")
        files.update(matched)
    return None if remote else sorted(files)


def run_curate(
    inputs: Sequence[str],
    output: str,
    recipe: str = "extract",
    beam_args: Sequence[str] = (),
    lid_model: str | None = None,
    max_payload_bytes: int = 10_000_000,
    keep_rejected_text: bool = True,
    output_shards: int = 0,
    overwrite: bool = False,
    resume: bool = False,
    files_per_run: int | None = None,
    input_format: str | None = None,
    reader_options: ReaderOptions | None = None,
    source_name: str = "",
) -> dict[str, Any] | None:
    """Run the curation pipeline; returns the final stats (None when the runner did not wait, e.g. a dry run).

    With `resume` (or `files_per_run`), the input files are processed in
    batches, each one a pipeline run whose outputs carry the batch's key and
    end with a completion record in `_progress/`. A re-run with `resume`
    skips the batches that completed and redoes the others from scratch, so a
    job killed at any point finishes without losing or duplicating documents.
    It continues only the very same run: `_progress/manifest.json` records the
    input files, recipe, settings and batch size, and any difference is a
    CurateInputError naming it (see `pipelines/curate_resume.py`). Every run
    ends by counting the rows on disk against stats.json (`stats["on_disk"]`).
    """
    if resume and overwrite:
        raise CurateInputError("--resume and --overwrite contradict each other: choose one")
    loaded = load_recipe(recipe)
    settings = resolve_settings(
        loaded, lid_model, max_payload_bytes, keep_rejected_text, source_name, input_format, reader_options
    )
    args = list(beam_args)
    local_files = None
    # A local output (any runner on this machine: Direct, or Dask with local workers) is checked
    # and prepared here; remote outputs are the runner's business.
    local_output = is_local_runner(args) or ("://" not in output and "--dry_run=True" not in args)
    if is_local_runner(args):
        from winnow.curation.steps import warm_up_extraction

        with sigint_blocked():  # the fork server and its children leave Ctrl-C to this process
            # trafilatura (and the steps after extraction, run in its children) load in the fork
            # server while Beam builds and starts the pipeline
            warm_up_extraction(settings.steps)
    if local_output:
        local_files = check_local_inputs(inputs)
        if not FileSystems.exists(output):
            FileSystems.mkdirs(output)
    chunked = resume or files_per_run is not None
    if not chunked:
        if local_output:
            prepare_output(output, OUTPUT_TABLES + (PROGRESS_DIR,), overwrite)
        file_count = None if local_files is None else len(local_files)
        try:
            with Progress("curate", unit="files"):  # one pipeline run: a heartbeat with the time elapsed
                run = _run_pipeline(list(inputs), file_count, output, settings, loaded.name, args, output_shards, "part", "stats")
        except KeyboardInterrupt:
            raise _interrupted_single_run(output, local_output) from None
        if run is None:
            return None
        stats, wall, metrics = run
        return _finish(output, stats, wall, metrics, loaded, settings, inputs)
    if files_per_run is not None and files_per_run < 1:
        raise CurateInputError(f"--files-per-run must be at least 1, got {files_per_run}")
    if not resume:
        prepare_output(output, OUTPUT_TABLES + (PROGRESS_DIR,), overwrite)
    paths = local_files if local_files is not None else _expand(inputs)
    manifest = run_manifest(
        file_sizes(paths), settings, loaded.name, loaded.curation_fingerprint(), files_per_run or DEFAULT_FILES_PER_RUN, output_shards
    )
    try:
        manifest = start_or_continue(output, manifest, resume, files_per_run is not None)
    except ResumeRefused as exc:
        raise CurateInputError(str(exc)) from None
    return _run_batches(paths, inputs, output, settings, loaded, args, output_shards, manifest["files_per_run"])


DEFAULT_FILES_PER_RUN = 8


READS_PER_WORKER_TO_SKIP_RECORD_SHUFFLE = 2


def spread_records_needed(read_count: int, workers: int) -> bool:
    """Whether a local run's reads (whole files, or byte ranges of a large gzipped WARC:
    read_sources.plan_file) are too few to keep every worker busy without redistributing records."""
    return read_count < READS_PER_WORKER_TO_SKIP_RECORD_SHUFFLE * workers


def _run_pipeline(patterns, file_count, output, settings, recipe_name, args, output_shards, prefix, stats_name):
    """One pipeline run; (stats, wall seconds, counters) or None when the runner did not wait.

    `file_count` is the number of local input files, None when the runner matches them remotely.
    """
    from apache_beam.options.pipeline_options import DirectOptions

    if not is_local_runner(args):
        file_count = None  # remote workers always get records redistributed
    local_files = None if file_count is None else local_file_sizes(patterns)
    input_bytes = None if local_files is None else sum(local_files.values())
    options = PipelineOptions(with_local_defaults(args, input_bytes=input_bytes) + worker_setup_args(args))
    workers = options.view_as(DirectOptions).direct_num_workers or 1
    # Beam's local runner holds a record shuffle's whole input in memory (1.1 GB for one 20 MB WARC), so a
    # local run with too few files for its workers reads large WARC and JSONL files in byte ranges instead,
    # and shuffles (web archive) records only when the reads are still too few. Remote runs split always.
    split_large_files = local_files is None or spread_records_needed(len(local_files), workers)
    if local_files is None:
        spread_records = True
    else:
        # Locally only web archive records are ever shuffled, so only their reads decide (planning
        # one means a 1 MiB probe; planning a JSONL file would be a full scan). The files, not the
        # patterns, decide: a folder names no format, and a folder holding one large Parquet file
        # had its records shuffled, all held in memory.
        archives = {path: size for path, size in local_files.items() if file_format(path, settings.input_format) == FORMAT_WARC}
        if not split_large_files:
            read_count = len(local_files)
        else:
            read_count = len(local_files) - len(archives) + sum(len(plan_file(path, size, settings.input_format)) for path, size in archives.items())
        spread_records = bool(archives) and spread_records_needed(read_count, workers)
    started = time.time()
    pipeline = beam.Pipeline(options=options)
    build_curate_pipeline(
        pipeline, patterns, output, settings, recipe_name, output_shards, prefix, stats_name,
        spread_records=spread_records, split_large_files=split_large_files,
    )

    def run_and_wait():
        result = pipeline.run()
        return result, result.wait_until_finish()

    # Locally, Beam's threads and worker processes never see Ctrl-C: this thread does, at once.
    result, state = run_interruptibly(run_and_wait) if is_local_runner(args) else run_and_wait()
    wall = time.time() - started
    stats_path = FileSystems.join(output, f"{stats_name}.json")
    if str(state) not in ("DONE", "PipelineState.DONE") or not FileSystems.exists(stats_path):
        return None
    return read_json(stats_path), wall, _counter_values(result)


def local_file_sizes(patterns: Sequence[str]) -> dict[str, int] | None:
    """Size of each local file `patterns` match (each file once); None when one is remote.

    Picks the local running mode (threads for a small input) and whether records are
    shuffled: sizes, not load, decide.
    """
    if any("://" in pattern for pattern in patterns):
        return None
    return {m.path: m.size_in_bytes for r in FileSystems.match([expand_pattern(p) for p in patterns]) for m in r.metadata_list}


def _finish(output, stats, wall, metrics, loaded, settings, inputs) -> dict[str, Any]:
    stats["stage_order"] = stage_order([step.name for step in settings.steps])
    stats["wall_time_s"] = round(wall, 3)
    stats["records_per_s"] = round(stats["records_in"] / wall, 2) if wall > 0 else None
    stats["inputs"] = list(inputs)
    stats["recipe_origin"] = loaded.origin
    stats["recipe_fingerprint"] = loaded.curation_fingerprint()
    # The resolved steps, so `winnow select` can tell which settings a stored signal depends on.
    stats["steps"] = [{"name": step.name, "config": config_to_mapping(step.config)} for step in settings.steps]
    stats["metrics"] = metrics
    # stats.json must describe what is on disk: count the rows (Parquet footers) and say so when they differ.
    stats["on_disk"] = check_on_disk(stats, rows_on_disk(output))
    if not stats["on_disk"]["ok"]:
        stats["accounting"] = {**stats["accounting"], "ok": False, "on_disk_mismatches": stats["on_disk"]["mismatches"]}
    write_json(FileSystems.join(output, "stats.json"), stats)
    return stats


def _expand(inputs: Sequence[str]) -> list[str]:
    paths = sorted({m.path for pattern in inputs for m in FileSystems.match([expand_pattern(pattern)])[0].metadata_list})
    if not paths:
        raise CurateInputError(f"inputs {list(inputs)} match no file")
    return paths


def _run_batches(paths, inputs, output, settings, loaded, args, output_shards, files_per_run) -> dict[str, Any]:
    fingerprint = loaded.curation_fingerprint()
    started = time.time()
    batches = [paths[i : i + files_per_run] for i in range(0, len(paths), files_per_run)]
    keys = [_batch_key(fingerprint, batch) for batch in batches]
    done = {key: stats for key, batch in zip(keys, batches) if (stats := _completed(output, key, batch, fingerprint)) is not None}
    # What a killed attempt left: files no batch of this run writes, and Beam's temporary folders
    # (a kill during a table's write leaves one; Beam's file matching lists files, never folders).
    stray = stray_outputs(output, [f"part-{key}" for key in keys]) + beam_temp_folders(output)
    if stray:
        FileSystems.delete(stray)
    _report_progress(batches, keys, done, len(stray), output)
    done_stats, metrics_total = [], {}
    with Progress("curate", total=len(batches) - len(done), unit="batches") as progress:
        for number, (key, batch) in enumerate(zip(keys, batches), 1):
            if key in done:
                done_stats.append(done[key])
                continue
            _delete_batch_outputs(output, key)  # a killed attempt may have left some of its files
            try:
                run = _run_pipeline(batch, len(batch), output, settings, loaded.name, args, output_shards, f"part-{key}", f"{PROGRESS_DIR}/{key}.stats")
            except KeyboardInterrupt:
                raise _interrupted_batch(output, keys, key, number, len(done_stats), args) from None
            if run is None:
                raise CurateInputError(f"batch {key} did not finish; re-run with --resume")
            stats, _, metrics = run
            for name, value in metrics.items():
                metrics_total[name] = metrics_total.get(name, 0) + value
            write_json(_record_path(output, key), {"files": batch, "recipe_fingerprint": fingerprint, "stats": stats})
            done_stats.append(stats)
            progress.advance(records=stats["records_in"])
    combined = combine_curation_stats(done_stats, loaded.name, loaded.mode)
    combined["batches"] = {
        "total": len(batches), "skipped_complete": len(done), "files_per_run": files_per_run,
        "stray_files_removed": len(stray),
    }
    return _finish(output, combined, time.time() - started, metrics_total, loaded, settings, inputs)


def _interrupted_batch(output, keys, key, number, complete, args) -> Interrupted:
    """Ctrl-C during batch `number`: remove what it wrote (locally), keep the completed batches."""
    if not is_local_runner(args):
        return Interrupted(
            f"stopped waiting for batch {number} of {len(keys)}; the runner may still run it (cancel it there); "
            f"{complete} complete batch(es) kept in {output}, and --resume redoes the others"
        )
    kill_children()  # Beam's worker processes and extraction children stop writing first
    _delete_batch_outputs(output, key)
    _delete(stray_outputs(output, [f"part-{k}" for k in keys if k != key]) + beam_temp_folders(output))
    return Interrupted(
        f"batch {number} of {len(keys)} stopped and its partial output removed; "
        f"{complete} complete batch(es) kept in {output}"
    )


def _interrupted_single_run(output: str, local_output: bool) -> Interrupted:
    """Ctrl-C during an unbatched run: nothing in it is complete, so (locally) remove its partial output."""
    if not local_output:
        return Interrupted(f"stopped waiting; the job may still run on the runner and write to {output} (cancel it there)")
    kill_children()
    stats = FileSystems.join(output, "stats.json")

    def partial() -> list[str]:
        return stray_outputs(output, []) + beam_temp_folders(output) + ([stats] if FileSystems.exists(stats) else [])

    _delete_until_quiet(partial)
    return Interrupted(f"the run was not batched, so nothing in it was complete; its partial output in {output} was removed")


def _delete_until_quiet(find: Callable[[], list[str]], sweeps: int = 10, pause_s: float = 0.05) -> None:
    """Delete what `find` lists until two sweeps in a row find nothing: Beam's writer threads
    cannot be stopped from here, and one may still open a temporary folder after the first sweep."""
    quiet = 0
    for _ in range(sweeps):
        found = find()
        _delete(found)
        quiet = 0 if found else quiet + 1
        if quiet == 2:
            return
        time.sleep(pause_s)


def _delete(paths: list[str]) -> None:
    if paths:
        FileSystems.delete(paths)


def _batch_key(fingerprint: str, batch: Sequence[str]) -> str:
    import xxhash

    return xxhash.xxh3_64_hexdigest(json.dumps([fingerprint, list(batch)]).encode())


def _record_path(output: str, key: str) -> str:
    return FileSystems.join(output, PROGRESS_DIR, f"{key}.json")


def _completed(output: str, key: str, batch: Sequence[str], fingerprint: str) -> dict[str, Any] | None:
    """The stats of a batch whose completion record matches it, else None."""
    path = _record_path(output, key)
    if not FileSystems.exists(path):
        return None
    record = read_json(path)
    if record.get("files") == list(batch) and record.get("recipe_fingerprint") == fingerprint:
        return record["stats"]
    return None


def _report_progress(batches, keys, done, stray: int, output: str) -> None:
    """One line on stderr: what a (resumed) batched run found done and what it will run."""
    if not done and not stray:
        return
    remaining = [batch for key, batch in zip(keys, batches) if key not in done]
    print(
        f"resume {output}: {len(done)} of {len(batches)} batches already complete "
        f"({sum(len(b) for k, b in zip(keys, batches) if k in done)} files, skipped); "
        f"{len(remaining)} to run ({sum(len(b) for b in remaining)} files); "
        f"{stray} leftover temporary file(s) of a killed attempt removed",
        file=sys.stderr,
    )


def _delete_batch_outputs(output: str, key: str) -> None:
    for table in ("documents", "rejected", "errors"):
        pattern = FileSystems.join(output, table, f"part-{key}-*")
        stale = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        if stale:
            FileSystems.delete(stale)


def _counter_values(result) -> dict[str, int]:
    """Beam counters as committed by the runner (the same names appear on Dataflow)."""
    try:
        query = result.metrics().query()
    except Exception:
        return {}
    values = {}
    for counter in query.get("counters", []):
        value = counter.committed if counter.committed is not None else counter.attempted
        values[counter.key.metric.name] = values.get(counter.key.metric.name, 0) + int(value or 0)
    return dict(sorted(values.items()))


def reader_options_of(args: Any) -> ReaderOptions:
    """ReaderOptions from parsed curate flags (the CLI's namespace or CurateOptions); a bad
    combination (say --keep-columns naming the text column) is a CurateInputError."""
    try:
        metadata = metadata_columns_of(getattr(args, "keep_columns", None), bool(getattr(args, "drop_metadata", False)))
    except ValueError as exc:
        raise CurateInputError(str(exc)) from exc
    # The flags add_field_flags derived from ReaderOptions (unset: None, the field's default),
    # built by the one strict loader.
    given = {**given_flags(args, READER_FLAGS), "metadata_columns": metadata}
    return config_from_mapping(ReaderOptions, given, "command line", CurateInputError)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m winnow.pipelines.run_curate --input ... --output ... [Beam options]`.

    The same flags as `winnow curate`, read through `CurateOptions` so the
    pipeline can also be launched by tools that only speak Beam options.
    """
    import argparse
    import sys

    from winnow.pipelines.options import CurateOptions
    from winnow.core.errors import WinnowError
    from winnow.pipelines.options_cli import add_curate_arguments, reject_unknown_beam_args

    args = list(sys.argv[1:] if argv is None else argv)
    curate = PipelineOptions(args).view_as(CurateOptions)
    if not curate.inputs or not curate.output:
        print("--input and --output are required", file=sys.stderr)
        return 2
    # Beam gets every flag that is not one of Winnow's own (the same declarations CurateOptions uses).
    own_flags = argparse.ArgumentParser(add_help=False)
    add_curate_arguments(own_flags)
    _, beam_args = own_flags.parse_known_args(args)
    try:  # what is not a curate flag must be a Beam option: a typo is an error, not a default
        reject_unknown_beam_args(beam_args, list(own_flags._option_string_actions))
        stats = run_curate(
            curate.inputs, curate.output, recipe=curate.recipe, beam_args=beam_args, lid_model=curate.lid_model,
            max_payload_bytes=curate.max_payload_bytes, keep_rejected_text=curate.rejected_text == "keep",
            output_shards=curate.output_shards, input_format=curate.input_format,
            reader_options=reader_options_of(curate), source_name=curate.source_name or "",
        )
    except WinnowError as exc:  # one line and the error's exit status, as `winnow curate` does
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0 if stats is None or stats["accounting"]["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
