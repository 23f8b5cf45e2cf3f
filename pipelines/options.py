"""Pipeline options for `winnow curate`, declared once for Beam and the CLI."""
from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING

from winnow.pipelines.options_cli import DIRECT_RUNNER_NAMES, add_curate_arguments
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineRunner

if TYPE_CHECKING:
    from apache_beam.pipeline import Pipeline
    from apache_beam.runners.runner import PipelineResult


class CurateOptions(PipelineOptions):
    """`--input`, `--output`, `--recipe` ... as Beam pipeline options."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        # Beam builds one parser from every imported PipelineOptions subclass; the dedup
        # options also declare --input/--output. Whichever registers later replaces the
        # earlier declaration instead of crashing option parsing for both pipelines.
        parser.conflict_handler = "resolve"
        parser._optionals.conflict_handler = "resolve"  # the group argparse checks was created with "error"
        add_curate_arguments(parser)


def with_local_defaults(beam_args: list[str], processes: bool = False, input_bytes: int | None = None) -> list[str]:
    """Use every core on the DirectRunner; a user's --direct_* flag replaces only its own default.

    The DirectRunner (named or by default) becomes `LocalRunner`, which never downloads Prism.

    Extraction, the dominant cost, runs in per-DoFn child processes, so worker
    threads already keep every core busy on small machines, without the
    multi-process runner's cost of shipping every record between processes
    (measured: 10.3 s vs 14.7 s for 1,086 news pages on 2 cores). Above 4 cores
    the GIL-bound work (language ID, filters) would become the bottleneck in
    one process, so larger machines get one worker process per 2 cores.
    `processes=True` (dedup: GIL-bound hashing, no child processes of its own)
    always defaults to one worker process per core.

    `input_bytes` (the local inputs' total size, None when unknown or remote) below
    `SMALL_INPUT_BYTES` always gets worker threads: each worker process re-imports Beam
    and Winnow (about a CPU-second each), which costs more than a small input's work.
    The choice depends on the input sizes only, never on the machine's load, so the
    same input always runs the same way.

    `--direct_num_workers=N` alone keeps the parallel running mode, and
    `--direct_running_mode=M` alone keeps the default worker count: Beam's own
    default mode (in_memory) would silently run one worker whatever N says.
    """
    args = pin_local_runner(beam_args)
    runner = PipelineOptions(args).view_as(StandardOptions).runner
    if runner and "dask" in runner.lower():
        # Beam's DaskRunner has defects Winnow's outputs hit (docs/runners.md): use the fixed subclass.
        from winnow.pipelines.dask_runner import substitute_runner

        return substitute_runner(args)
    if runner in (LOCAL_RUNNER, "FnApiRunner"):
        given = {a.split("=", 1)[0] for a in args if a.startswith("--")}
        cores = os.cpu_count() or 1
        many = cores > MAX_CORES_FOR_THREADS
        if small_input(input_bytes):
            mode, workers = "multi_threading", cores
        elif processes:
            mode, workers = "multi_processing", cores
        else:
            mode, workers = ("multi_processing", max(1, cores // 2)) if many else ("multi_threading", cores)
        if "--direct_running_mode" not in given:
            args.append(f"--direct_running_mode={mode}")
        chose_in_memory = any(a in ("--direct_running_mode=in_memory", "in_memory") for a in args)
        if "--direct_num_workers" not in given and not chose_in_memory:
            args.append(f"--direct_num_workers={workers}")
        _warn_if_single_worker(args)
    return args


def _warn_if_single_worker(args: list[str]) -> None:
    """in_memory runs one worker whatever --direct_num_workers says: say so instead of hiding it."""
    options = PipelineOptions(args).view_as(DirectOptions)
    if options.direct_running_mode == "in_memory" and (options.direct_num_workers or 1) > 1:
        logging.getLogger(__name__).warning(
            "--direct_running_mode=in_memory runs one worker; --direct_num_workers=%s is ignored "
            "(use multi_processing or multi_threading for parallel workers)", options.direct_num_workers,
        )


MAX_CORES_FOR_THREADS = 4

# Below this many bytes of local input, worker processes cost more to start than they save:
# `winnow dedup` on 2 cores paid about 8 CPU-s more with processes than threads at 500, 2,000
# and 8,000 documents (0.8 to 22.5 MB; docs/benchmarks.md, "Small jobs"), and threads still
# finished first at 22.5 MB. Larger inputs keep worker processes, as measured in #16.
SMALL_INPUT_BYTES = 16 * 1024 * 1024


def small_input(input_bytes: int | None) -> bool:
    """True when the local inputs are known and small enough for worker threads."""
    return input_bytes is not None and input_bytes < SMALL_INPUT_BYTES


def is_local_runner(beam_args: list[str]) -> bool:
    runner = PipelineOptions(list(beam_args)).view_as(StandardOptions).runner
    return names_direct_runner(runner) or runner in (LOCAL_RUNNER, "FnApiRunner", "PrismRunner")


# ----------------------------------------------------------------------------- runner pinning

# DIRECT_RUNNER_NAMES (options_cli.py, Beam-free) mean "Beam's DirectRunner". Since
# Beam 2.68 that runner first tries Prism, which downloads a Go binary at run time (and
# falls back only after the download fails): Winnow replaces these names, and no name at
# all, with LocalRunner below.
LOCAL_RUNNER = f"{__name__}.LocalRunner"


def names_direct_runner(runner: str | None) -> bool:
    """True for no runner (Beam's default is the DirectRunner) or a name of the DirectRunner."""
    return runner is None or runner.lower() in DIRECT_RUNNER_NAMES


class LocalRunner(PipelineRunner):
    """The DirectRunner's batch engine (FnApiRunner), without its Prism attempt.

    Builds the FnApiRunner exactly as Beam's DirectRunner does for a batch pipeline,
    with the pipeline options provisioned to its workers, so outputs and
    `--direct_*` options behave as before; nothing here can download a runner.
    Winnow's pipelines are batch only, which the FnApiRunner runs in full.
    """

    def run_pipeline(self, pipeline: Pipeline, options: PipelineOptions) -> PipelineResult:
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        from winnow.gc_policy import before_pipeline

        before_pipeline()  # the modules and the graph outlive the run: full collections in it skip them
        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
        return fn_runner.FnApiRunner(provision_info=provision).run_pipeline(pipeline, options)


def pin_local_runner(beam_args: list[str]) -> list[str]:
    """Beam args with the DirectRunner (named, or chosen by default) replaced by LocalRunner.

    Any other runner the user names (FnApiRunner, Dataflow, Dask, even PrismRunner) is kept.
    """
    args = list(beam_args)
    if not names_direct_runner(PipelineOptions(args).view_as(StandardOptions).runner):
        return args
    out, skip = [f"--runner={LOCAL_RUNNER}"], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
        elif arg.startswith("--runner="):
            continue
        elif arg == "--runner" and i + 1 < len(args):
            skip = True
        else:
            out.append(arg)
    return out
