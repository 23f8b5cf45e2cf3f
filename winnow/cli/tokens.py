"""`winnow tokenizer train`, `winnow tokenize` and `winnow tokenize merge`.

Handlers import tokenizers, numpy and pyarrow only when they run, so that
`winnow --help` stays fast; nothing here ever imports Beam.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from winnow.core.errors import UserError

MB = 1e6
# TokenizerConfig fields set by `winnow tokenizer train` flags (show_progress follows the terminal;
# batch_rows is an internal read size).
TOKENIZER_FLAGS = ("vocab_size", "sample_bytes", "special_tokens", "min_frequency", "heldout_fraction", "seed")


def register(subparsers: argparse._SubParsersAction) -> None:
    tokenizer = subparsers.add_parser("tokenizer", help="train a byte-level BPE tokenizer on curated Parquet")
    actions = tokenizer.add_subparsers(dest="tokenizer_command", metavar="ACTION", required=True)
    train = actions.add_parser("train", help="train tokenizer.json from documents/*.parquet")
    train.add_argument("--input", nargs="+", action="extend", required=True, metavar="DIR_OR_GLOB", help="curation output dir, glob or Parquet file(s); repeatable")
    train.add_argument("--output", required=True, help="path of the tokenizer.json to write")
    # The recipe's `tokenizer:` keys as flags: name, type, default and help from TokenizerConfig.
    from winnow.core.config_loader import add_field_flags
    from winnow.training.config import TokenizerConfig

    add_field_flags(train, TokenizerConfig, TOKENIZER_FLAGS, required=("vocab_size",))
    train.set_defaults(handler=_train_tokenizer)

    tokenize = subparsers.add_parser(
        "tokenize",
        help="encode curated Parquet into token shards (or `tokenize merge` token directories)",
        description="Encode documents into token shards. `winnow tokenize merge --input DIR... --output DIR` merges "
        "directories encoded from disjoint inputs.",
    )
    # Not argparse-required: `tokenize merge ...` hands its own arguments to the merge parser.
    tokenize.add_argument("--input", nargs="+", action="extend", metavar="DIR_OR_GLOB", help="curation output dir, glob or Parquet file(s); repeatable")
    tokenize.add_argument("--tokenizer", help="tokenizer.json to encode with")
    tokenize.add_argument("--output", help="token directory to create")
    # The recipe's `tokenize:` keys as flags: name, type, default and help from TokenizeConfig.
    from winnow.core.config_loader import add_field_flags
    from winnow.training.config import TokenizeConfig

    add_field_flags(tokenize, TokenizeConfig, [f.name for f in dataclasses.fields(TokenizeConfig)])
    tokenize.add_argument("--overwrite", action="store_true", help="replace an existing token directory")
    tokenize.set_defaults(handler=_tokenize)
    tokenize_actions = tokenize.add_subparsers(dest="tokenize_action", metavar="[merge]")
    merge = tokenize_actions.add_parser("merge", help="merge token directories encoded from disjoint inputs")
    merge.add_argument("--input", nargs="+", action="extend", required=True, dest="merge_inputs", metavar="DIR", help="token directories; repeatable")
    merge.add_argument("--output", required=True, dest="merge_output", metavar="DIR", help="merged token directory to create")
    merge.add_argument("--overwrite", action="store_true", dest="merge_overwrite", help="replace an existing directory")
    merge.set_defaults(handler=_merge)


def _print_manifest_summary(manifest: dict, output: str, seconds: float) -> None:
    from winnow.training.tokens import summarize

    totals = summarize(manifest)
    bpt = f"{totals['bytes_per_token']:.3f}" if totals["bytes_per_token"] else "n/a"
    val = manifest["splits"]["val"]
    print(
        f"{output}: {totals['tokens']:,} tokens in {totals['shards']} shard(s) from {totals['documents']:,} documents "
        f"({totals['utf8_bytes'] / MB:.1f} MB, {bpt} bytes/token; val {val['documents']:,} docs / {val['tokens']:,} tokens; "
        f"{totals['documents_skipped_empty']:,} empty skipped) in {seconds:.1f} s"
    )


def _check_document_inputs(paths: list[str]) -> None:
    """An archive, a token directory or a run given as --input is named, with what to run first."""
    from winnow.summaries import documents_input_problem

    for path in paths or []:
        problem = documents_input_problem(path)
        if problem:
            raise UserError(f"--input {problem}")


def _train_tokenizer(args: argparse.Namespace) -> int:
    from winnow.core.config_loader import config_from_mapping, given_flags
    from winnow.training.tokenizer import TokenizerConfig, train_tokenizer

    _check_document_inputs(args.input)
    # The one strict loader, as for the recipe's `tokenizer:` section (ConfigurationError, exit 2).
    config = config_from_mapping(
        TokenizerConfig, {**given_flags(args, TOKENIZER_FLAGS), "show_progress": sys.stderr.isatty()}, "command line"
    )
    from winnow.progress import Progress

    # ParquetInputError's subclasses reach the CLI as they are: no such input exits 2, a corrupt file 3.
    # On a terminal the tokenizers library draws its own bar; elsewhere, heartbeat lines.
    with Progress("tokenizer train", interval_s=0 if sys.stderr.isatty() else None):
        report = train_tokenizer(args.input, config, args.output)
    bpt = f"{report.bytes_per_token:.3f} bytes/token on {report.heldout_documents:,} held-out docs" if report.bytes_per_token else "no held-out docs"
    print(
        f"{report.output_path}: vocab {report.vocab_size:,} trained on {report.documents_trained:,} documents "
        f"({report.bytes_trained / MB:.1f} MB; {report.documents_skipped_empty:,} empty skipped, "
        f"{report.documents_not_sampled:,} outside the sample); {bpt}; {report.seconds:.1f} s"
    )
    return 0


def _tokenize(args: argparse.Namespace) -> int:
    from winnow.training.tokens import tokenize_corpus

    missing = [flag for flag, value in (("--input", args.input), ("--tokenizer", args.tokenizer), ("--output", args.output)) if not value]
    if missing:
        raise UserError(f"missing {', '.join(missing)} (usage: winnow tokenize --input DIR --tokenizer tokenizer.json --output DIR)")
    _check_document_inputs(args.input)
    from winnow.core.config_loader import config_from_mapping
    from winnow.training.config import TokenizeConfig

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TokenizeConfig) if getattr(args, f.name) is not None}
    config = config_from_mapping(TokenizeConfig, given, "command line")
    from winnow.progress import Progress

    started = time.perf_counter()
    # ParquetInputError, TokenDirError and ShardFormatError reach the CLI as they are: a missing input
    # or an existing output exits 2, a corrupt Parquet file, tokenizer or shard exits 3.
    with Progress("tokenize"):
        manifest = tokenize_corpus(
            args.input,
            args.tokenizer,
            args.output,
            val_fraction=config.val_fraction,
            workers=config.workers,
            shard_tokens=config.shard_tokens,
            overwrite=args.overwrite,
        )
    _print_manifest_summary(manifest, args.output, time.perf_counter() - started)
    return 0


def _merge(args: argparse.Namespace) -> int:
    from winnow.training.tokens import merge_manifests

    started = time.perf_counter()
    # Overlapping inputs or an existing output exit 2; a corrupt manifest or shard exits 3.
    manifest = merge_manifests(args.merge_inputs, args.merge_output, overwrite=args.merge_overwrite)
    _print_manifest_summary(manifest, args.merge_output, time.perf_counter() - started)
    return 0
