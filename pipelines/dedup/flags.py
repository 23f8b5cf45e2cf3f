"""The dedup flags, declared once for `winnow dedup`, `python -m winnow.pipelines.dedup`
and the Beam `DedupOptions`. Beam-free, so `winnow --help` never loads Beam.

Every MinHash flag defaults to None ("not given"): the value then comes from the
recipe's `dedup:` mapping, else from `MinHashConfig`'s defaults. The flags are
derived from `MinHashConfig`'s fields, so a key and its flag cannot disagree.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from winnow.core.config_loader import add_field_flags

# Command-line dest -> MinHashConfig field (flags left unset keep the recipe's or default value).
MINHASH_FLAGS: dict[str, str] = {
    "ngram": "ngram",
    "num_perm": "num_perm",
    "bands": "bands",
    "rows": "rows",
    "threshold": "threshold",
    "verify_threshold": "verify_threshold",
    "max_rounds": "max_rounds",
    "minhash_seed": "seed",
}

# How the dedup runs: the whole Beam graph (Dataflow, Dask, any runner), a local mode whose
# memory does not grow with the corpus, or `auto` (the local mode on the DirectRunner).
MODE_AUTO = "auto"
MODE_GRAPH = "graph"
MODE_SPILL = "spill"
DEDUP_MODES = (MODE_AUTO, MODE_GRAPH, MODE_SPILL)


def add_minhash_arguments(parser: argparse.ArgumentParser | Any) -> None:
    """The MinHash flags and --dedup-mode (a parser or an argument group).

    Name, type, default and help of each flag come from `MinHashConfig`'s fields
    (winnow/config_loader.add_field_flags); three keep the names users know:
    `seed` is --minhash-seed, `urls` is --dedup-urls, and `exact` (default true)
    is turned off with --no-exact.
    """
    from winnow.core.config_loader import field_help
    from winnow.curation.minhash import MinHashConfig

    add_field_flags(parser, MinHashConfig, [k for k in MINHASH_FLAGS if k == MINHASH_FLAGS[k]])
    fields = {f.name: f for f in dataclasses.fields(MinHashConfig)}
    parser.add_argument("--minhash-seed", dest="minhash_seed", type=int, default=None,
                        help=f"{field_help(fields['seed'])} (default: {fields['seed'].default})")
    parser.add_argument("--dedup-urls", dest="dedup_urls", action="store_true", default=None, help=field_help(fields["urls"]))
    parser.add_argument("--no-exact", dest="exact", action="store_false", default=None,
                        help=f"do not {field_help(fields['exact'])}")
    parser.add_argument("--dedup-mode", dest="dedup_mode", choices=DEDUP_MODES, default=None,
                        help="graph: one Beam graph (any runner); spill: local passes with signatures spilled "
                             "to disk, memory flat in corpus size; auto (default): spill on the DirectRunner")


def config_mapping_from_args(args: Any, base: dict | None = None) -> dict:
    """`base` (a recipe's `dedup:` mapping) with every MinHash flag that was given applied on top."""
    mapping = dict(base or {})
    for flag, field in MINHASH_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            mapping[field] = value
    if getattr(args, "dedup_urls", None):
        mapping["urls"] = True
    if getattr(args, "exact", None) is False:
        mapping["exact"] = False
    return mapping


def minhash_config_from_namespace(ns: Any, base: dict | None = None, where: str = "command line") -> Any:
    """MinHashConfig from parsed flags (an argparse namespace or DedupOptions) over `base`."""
    from winnow.curation.minhash import minhash_config_from_mapping

    return minhash_config_from_mapping(config_mapping_from_args(ns, base), where)
