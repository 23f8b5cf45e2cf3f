"""`DedupOptions`: the dedup flags (declared once, in flags.py) as Beam pipeline options."""
from __future__ import annotations

import argparse
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from winnow.pipelines.dedup.flags import add_minhash_arguments, minhash_config_from_namespace


class _SkipDeclared:
    """Adds arguments to `parser` except those another component already declared."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        if any(a in self.parser._option_string_actions for a in args if a.startswith("--")):
            return
        self.parser.add_argument(*args, **kwargs)


def add_dedup_arguments(parser: argparse.ArgumentParser) -> None:
    """`--input`, `--output` and the MinHash flags; flags another component already declared
    (the curate options also define --input/--output) are left to it."""
    target = _SkipDeclared(parser)
    target.add_argument("--input", help="curated output directory, directory of Parquet files, glob or file")
    target.add_argument("--output", help="directory for documents/, duplicates/ and stats.json")
    add_minhash_arguments(target)


class DedupOptions(PipelineOptions):
    """`--input DIR --output DIR` plus MinHash settings as Beam pipeline options."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        # Beam builds one parser from every imported PipelineOptions subclass, in import order.
        # The curate options declare --input/--output too: let whichever comes later replace
        # the earlier declaration instead of crashing the other pipeline's option parsing.
        parser.conflict_handler = "resolve"
        add_dedup_arguments(parser)

    def minhash_config(self) -> Any:
        return minhash_config_from_namespace(self)
