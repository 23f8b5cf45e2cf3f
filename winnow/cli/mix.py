"""`winnow mix`: combine curated sources into one corpus by target proportions (no Beam, no torch)."""
from __future__ import annotations

import argparse
import sys

from winnow.errors import positive_int


def _source(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {value!r}")
    return name.strip(), path.strip()


def parse_weights(values: list[str]) -> dict[str, float]:
    """`web=0.7,books=0.2` (repeatable) -> {"web": 0.7, "books": 0.2}; errors name the bad item."""
    from winnow.errors import UserError

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
                        help="target proportion per source (normalized to sum to 1)")
    parser.add_argument("--by", choices=("tokens", "documents"), default="tokens", help="unit of the proportions (default: tokens)")
    parser.add_argument("--output", required=True, metavar="OUT", help="output directory (local)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed: the same seed gives the same mix (default 0)")
    parser.add_argument("--max-repeats", type=positive_int, default=4,
                        help="most copies of any one document, so of any source (default 4)")
    parser.add_argument("--total", type=int, default=None, metavar="N",
                        help="mixture size in --by units (default: as large as the sources allow)")
    parser.add_argument("--rehydrate", action="store_true",
                        help="repeat documents by their duplicate-cluster size (minhash_cluster_size from winnow dedup)")
    parser.add_argument("--overwrite", action="store_true", help="replace a mix already in --output")
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 2, nothing written) when a realized share is more than 1 point off its target; "
                             "without it that is a warning")
    parser.set_defaults(handler=_mix)


def _mix(args: argparse.Namespace) -> int:
    from winnow.curation.mix import MixConfig
    from winnow.errors import UserError
    from winnow.mix import MixError, run_mix
    from winnow.progress import Progress

    sources = dict(args.source)
    if len(sources) != len(args.source):
        raise UserError("--source: each NAME may be given once")
    try:
        config = MixConfig(
            weights=parse_weights(args.weights), by=args.by, seed=args.seed, max_repeats=args.max_repeats,
            rehydrate=args.rehydrate, total=args.total, strict=args.strict,
        )
        with Progress("mix"):
            manifest = run_mix(sources, config, args.output, overwrite=args.overwrite)
    except (MixError, ValueError) as exc:
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
