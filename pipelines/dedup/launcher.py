"""Exact and MinHash near-duplicate removal with Apache Beam: the launcher.

Two ways to run the same decisions (`--dedup-mode`):

* graph: one Beam pipeline with no single-machine step, for Dataflow, Dask and
  any other runner (stages in read, graph, connected_components and sink):

      ReadCuratedDocuments   input spec -> row dicts (+ each file's schema)
      MinHashSignatures      rows -> (id, text key, url key, signature): the only pass over the text
      ExactDedup             group by exact key(s); the lowest id of each group survives
      LshCandidatePairs      band keys of the exact survivors -> candidate edges
      ConnectedComponents    large-star/small-star rounds, then an edge-by-edge convergence check
      ClusterSizes           documents per surviving representative (id-level shuffles)
      ApplyClusters          joins the decisions back to the rows by id (the one text shuffle)
      WriteDedupOutputs      OUT/documents/*.parquet, OUT/duplicates/*.parquet

* spill (spill.py, decide.py): on the DirectRunner, whose shuffles live in memory, two
  per-file Beam passes around a driver step on compact integer ids, so memory
  does not grow with the corpus.

`run_dedup` picks the mode, runs it and writes OUT/stats.json (in the graph
mode from a summary the pipeline itself computes, so it also works when the
driver cannot see the data, e.g. on Dataflow).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions

from winnow.core.config_loader import config_to_mapping
from winnow.curation.minhash import MinHashConfig
from winnow.pipelines.dedup.connected_components import UNSETTLED_NODES, ConnectedComponents
from winnow.pipelines.dedup.common import (
    CLUSTER_SIZE,
    DOCUMENTS_IN,
    DOCUMENTS_TAG,
    KEPT,
    KIND_EXACT,
    KIND_NEAR,
    SCHEMA_TAG,
    SUMMARY_FILE,
    DedupError,
)
from winnow.pipelines.dedup.flags import MODE_AUTO, MODE_GRAPH, MODE_SPILL, minhash_config_from_namespace
from winnow.pipelines.dedup.options import add_dedup_arguments
from winnow.pipelines.dedup.read import ReadCuratedDocuments
from winnow.pipelines.dedup.sink import WriteDedupOutputs, write_summary
from winnow.pipelines.dedup.graph import (
    ApplyClusters,
    ClusterSizes,
    ExactDedup,
    LshCandidatePairs,
    MinHashSignatures,
    Repoint,
    SummaryFn,
    near_removal,
    removal_move,
)
from winnow.core.errors import ConfigurationError
from winnow.pipelines.options import is_local_runner, with_local_defaults
from winnow.pipelines.options_cli import reject_unknown_beam_args


def build_dedup_pipeline(pipeline: beam.Pipeline, input_dir: str, output_dir: str, config: MinHashConfig) -> None:
    """Adds every dedup stage to `pipeline`; reads nothing at construction time."""
    read = pipeline | "ReadCuratedDocuments" >> ReadCuratedDocuments(input_dir)
    rows = read[DOCUMENTS_TAG]
    features = rows | "MinHashSignatures" >> MinHashSignatures(config)
    survivors, exact_removals = features | "ExactDedup" >> ExactDedup(config)
    edges = survivors | "LshCandidatePairs" >> LshCandidatePairs(config)
    cc = ConnectedComponents(config.max_rounds)
    labels = edges | "ConnectedComponents" >> cc
    near_removals = labels | "NearRemovals" >> beam.FlatMap(near_removal)
    near_moves = near_removals | "NearMoves" >> beam.Map(removal_move)
    removals = (
        exact_removals | "ExactToNearSurvivor" >> Repoint(near_moves),
        near_removals,
    ) | "AllRemovals" >> beam.Flatten()
    sizes = features | "ClusterSizes" >> ClusterSizes(removals)
    applied = rows | "ApplyClusters" >> ApplyClusters(removals, sizes)
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
        | "Summarize" >> beam.CombineGlobally(SummaryFn())
        | "WriteSummary" >> beam.Map(write_summary, summary_path)
    )


def stats_from_summary(summary: dict, config: MinHashConfig, wall_time_s: float) -> dict:
    """stats.json content from a summary (the graph's, or the spill mode's with `cc_rounds`)."""
    counts = summary["counts"]
    documents_in = counts.get(DOCUMENTS_IN, 0)
    kept = counts.get(KEPT, 0)
    exact = counts.get(f"{KIND_EXACT}_duplicates", 0)
    near = counts.get(f"{KIND_NEAR}_duplicates", 0)
    sizes = {int(k): v for k, v in summary["sizes"].items()}
    unsettled = {int(k): v for k, v in summary.get("unsettled", {}).items()}
    # A round did work when it started with at least one unsettled node.
    rounds = summary.get("cc_rounds", len([r for r, n in unsettled.items() if n > 0]))
    return {
        "documents_in": documents_in,
        "kept": kept,
        "exact_duplicates": exact,
        "near_duplicates": near,
        "clusters": sum(sizes.values()),
        "largest_cluster": max(sizes, default=0),
        "cluster_size_histogram": {str(k): sizes[k] for k in sorted(sizes)},
        "cc_rounds_used": rounds,
        "cc_max_rounds": config.max_rounds,
        "mode": summary.get("mode", MODE_GRAPH),
        "wall_time_s": round(wall_time_s, 3),
        "config": config_to_mapping(config),
        "accounting": {
            "documents_in": documents_in,
            "kept_plus_duplicates": kept + exact + near,
            "ok": documents_in == kept + exact + near,
        },
    }


def resolve_mode(mode: str | None, pipeline_args: Sequence[str]) -> str:
    """auto -> spill on the DirectRunner (its shuffles are in memory), graph on any other runner."""
    mode = mode or MODE_AUTO
    if mode == MODE_AUTO:
        return MODE_SPILL if is_local_runner(list(pipeline_args)) and not _is_dry_run(pipeline_args) else MODE_GRAPH
    if mode == MODE_SPILL and not is_local_runner(list(pipeline_args)):
        raise DedupError("--dedup-mode=spill runs on the local DirectRunner only; use graph (or auto) with other runners")
    return mode


def _is_dry_run(pipeline_args: Sequence[str]) -> bool:
    return bool(PipelineOptions(list(pipeline_args)).view_as(TestOptions).dry_run)


def _run_graph(input_dir: str, output_dir: str, config: MinHashConfig, args: list[str]) -> dict | None:
    options = PipelineOptions(args)
    pipeline = beam.Pipeline(options=options)
    build_dedup_pipeline(pipeline, input_dir, output_dir, config)
    result = pipeline.run()
    result.wait_until_finish()
    if options.view_as(TestOptions).dry_run:
        return None
    summary_path = FileSystems.join(output_dir.rstrip("/"), SUMMARY_FILE)
    with FileSystems.open(summary_path) as handle:
        summary = json.loads(handle.read().decode())
    FileSystems.delete([summary_path])
    return summary


def run_dedup(
    input_dir: str, output_dir: str, config: MinHashConfig, pipeline_args: list[str], mode: str | None = None,
) -> dict:
    """Runs dedup and returns (and writes to OUT/stats.json) its stats.

    `input_dir` is any input the shared resolver accepts (a Winnow output directory, a
    directory of Parquet files, a glob or a file). On the DirectRunner, every core in
    multi-processing mode unless `pipeline_args` choose (a lone --direct_num_workers keeps the
    parallel mode). With `--dry_run=True` (Dataflow), the job is only built; the dict says so.
    """
    args = with_local_defaults(list(pipeline_args), processes=True, input_bytes=local_input_bytes(input_dir))
    chosen = resolve_mode(mode, args)
    started = time.monotonic()
    if chosen == MODE_SPILL:
        from winnow.pipelines.dedup.read import resolve_input
        from winnow.pipelines.dedup.spill import run_spill_dedup

        summary = {**run_spill_dedup(resolve_input(input_dir), output_dir, config, args), "mode": MODE_SPILL}
    else:
        summary = _run_graph(input_dir, output_dir, config, args)
        if summary is None:
            return {"dry_run": True, "runner": PipelineOptions(args).view_as(StandardOptions).runner}
    stats = stats_from_summary(summary, config, time.monotonic() - started)
    with FileSystems.create(FileSystems.join(output_dir.rstrip("/"), "stats.json"), mime_type="application/json") as handle:
        handle.write((json.dumps(stats, indent=2, sort_keys=True) + "\n").encode())
    if not stats["accounting"]["ok"]:
        raise DedupError(f"dedup accounting failed for {output_dir}: {stats['accounting']}")
    return stats


def local_input_bytes(input_dir: str) -> int | None:
    """Total size of a local input's Parquet files; None for a remote or unmatched input.

    Picks the local running mode (threads for a small input); sizes, not load, decide.
    """
    if "://" in input_dir:
        return None
    from winnow.schemas.inputs import ParquetInputError, resolve_parquet_inputs

    try:
        paths = resolve_parquet_inputs(input_dir)
    except ParquetInputError:
        return None  # the pipeline's reader reports it, naming what was looked for
    return sum(os.path.getsize(path) for path in paths)


def main(argv: list[str] | None = None) -> int:
    """`python -m winnow.pipelines.dedup --input SPEC --output DIR [MinHash flags] [Beam options]`."""
    parser = argparse.ArgumentParser(prog="python -m winnow.pipelines.dedup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dedup_arguments(parser)
    args, beam_args = parser.parse_known_args(argv)
    if not args.input or not args.output:
        parser.error("--input and --output are required")
    try:  # what is not a dedup flag must be a Beam option: a typo is an error, not a default
        reject_unknown_beam_args(beam_args, list(parser._option_string_actions))
    except ConfigurationError as exc:
        parser.error(str(exc))
    stats = run_dedup(args.input, args.output, minhash_config_from_namespace(args), beam_args, args.dedup_mode)
    print(json.dumps(stats, indent=2, sort_keys=True))
    return 0

