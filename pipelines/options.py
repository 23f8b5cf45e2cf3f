"""Pipeline options for `winnow curate`, declared once for Beam and the CLI."""
from __future__ import annotations

import argparse
import os

from winnow.pipelines.options_cli import add_curate_arguments
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions


class CurateOptions(PipelineOptions):
    """`--input`, `--output`, `--recipe` ... as Beam pipeline options."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        add_curate_arguments(parser)


def with_local_defaults(beam_args: list[str]) -> list[str]:
    """Use every core on the DirectRunner unless the user chose a runner or mode."""
    args = list(beam_args)
    runner = PipelineOptions(args).view_as(StandardOptions).runner
    if runner in (None, "DirectRunner", "direct", "FnApiRunner"):
        joined = " ".join(args)
        if "--direct_running_mode" not in joined:
            args.append("--direct_running_mode=multi_processing")
        if "--direct_num_workers" not in joined:
            args.append(f"--direct_num_workers={os.cpu_count() or 1}")
    return args


def is_local_runner(beam_args: list[str]) -> bool:
    runner = PipelineOptions(list(beam_args)).view_as(StandardOptions).runner
    return runner in (None, "DirectRunner", "direct", "FnApiRunner", "PrismRunner")
