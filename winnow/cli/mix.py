"""`winnow mix`: combine curated sources into one corpus by target proportions (no Beam, no torch)."""
from __future__ import annotations

import argparse
import sys

# MixConfig fields that are `winnow mix` flags as they are; `weights` is --weights NAME=W.
MIX_FLAGS = ("by", "seed", "max_repeats", "total", "rehydrate", "strict")


def _source(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {value!r}")
    return name.strip(), path.strip()


def parse_weights(values: list[str]) -> dict[str, float]:
    """`web=0.7,books=0.2` (repeatable) -> {"web": 0.7, "books": 0.2}; errors name the bad item."""
    from winnow.core.errors import UserError

    weights: dict[str, float] = {}
    for value in values:
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, number = item.partition("=")
            try:
                weight = float(number)
            except ValueError:
                weight = None
            if not sep or not name or weight is None:
                raise UserError(f"--weights: expected NAME=W, got {item!r}")
            if name in weights:
                raise UserError(f"--weights: source {name!r} is given twice")
            weights[name] = weight
    return weights


def register(subparsers: argparse._SubParsersAction) -> None:
    from winnow.core.config_loader import add_field_flags, field_meanings
    from winnow.curation.mix import MixConfig

    parser = subparsers.add_parser(
        "mix",
        help="mix curated sources into one corpus by target proportions",
        description=(
            "Sample curated (deduplicated) sources into one training corpus whose proportions, in estimated "
            "tokens (UTF-8 bytes / 4) or documents, match --weights. Small sources are repeated up to "
            "--max-repeats times. Writes OUT/documents/*.parquet and OUT/mix_manifest.json."
        ),
    )
    parser.add_argument("--source", action="append", type=_source, required=True, metavar="NAME=DIR",
                        help="a source: a Winnow output directory, a directory or glob of Parquet, or a file; repeat per source")
    parser.add_argument("--weights", action="append", required=True, metavar="NAME=W[,NAME=W ...]",
                        help=field_meanings(MixConfig)["weights"])
    parser.add_argument("--output", required=True, metavar="OUT", help="output directory (local)")
    parser.add_argument("--overwrite", action="store_true", help="replace a mix already in --output")
    # The recipe's `mix:` keys as flags: name, type, default and help from MixConfig
    # (--weights above is the mapping `weights` written NAME=W).
    add_field_flags(parser, MixConfig, MIX_FLAGS)
    parser.set_defaults(handler=_mix)


def _mix(args: argparse.Namespace) -> int:
    from winnow.core.config_loader import config_from_mapping, given_flags
    from winnow.curation.mix import MixConfig
    from winnow.core.errors import UserError, WinnowError
    from winnow.mix import run_mix
    from winnow.progress import Progress

    sources = dict(args.source)
    if len(sources) != len(args.source):
        raise UserError("--source: each NAME may be given once")
    try:
        # The one strict loader, as for the recipe's `mix:` section.
        config = config_from_mapping(MixConfig, {"weights": parse_weights(args.weights), **given_flags(args, MIX_FLAGS)}, "command line")
        with Progress("mix"):
            manifest = run_mix(sources, config, args.output, overwrite=args.overwrite)
    except WinnowError:
        raise  # MixError (exit 2), an unreadable source file (3): each with its own exit status
    except ValueError as exc:  # a builtin about a flag's value
        raise UserError(str(exc)) from exc
    print(format_manifest(manifest), file=sys.stdout)
    for line in manifest["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    return 0


def format_manifest(manifest: dict) -> str:
    """A plain table of targets, realized proportions and repetitions."""
    unit = manifest["by"]
    lines = [f"mix of {manifest['documents']} documents, {manifest['total_units']} {unit}"
             + (f" ({manifest['token_estimate']})" if manifest.get("token_estimate") else "")
             + f", seed {manifest['seed']}"]
    lines.append(f"{'source':<16}{'target':>8}{'realized':>10}{'repeats':>9}{'docs used':>11}")
    for name, s in manifest["sources"].items():
        lines.append(f"{name:<16}{s['target']:>8.3f}{s['realized']:>10.3f}{s['repetitions']:>9.2f}"
                     f"{s['documents_used']:>6}/{s['available_documents']}")
    return "\n".join(lines)
