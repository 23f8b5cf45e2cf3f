"""Output directories and small JSON files on any Beam filesystem (local, gs://, s3://)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from apache_beam.io.filesystems import FileSystems

from winnow.atomic import atomic_write_bytes
from winnow.errors import ConfigurationError


class OutputExists(ConfigurationError):
    """The output directory already holds results and neither overwrite nor resume was asked for."""


def existing_outputs(output: str, names: Sequence[str]) -> list[str]:
    """Paths under `output` (files or table directories named in `names`) that already exist."""
    found = []
    for name in names:
        path = FileSystems.join(output, name)
        pattern = FileSystems.join(path, "*") if not name.endswith(".json") else path
        try:
            if FileSystems.match([pattern])[0].metadata_list:
                found.append(path)
        except Exception:  # a missing local directory raises on some filesystems
            continue
    return found


def prepare_output(output: str, names: Sequence[str], overwrite: bool) -> None:
    """Refuse to mix a new run with old results; with `overwrite`, delete the old ones first."""
    present = existing_outputs(output, names)
    if present and not overwrite:
        raise OutputExists(
            f"output {output} already holds results ({', '.join(present)}); pass --overwrite to replace them"
        )
    for path in present:
        if path.endswith(".json"):
            FileSystems.delete([path])
        else:
            files = [m.path for m in FileSystems.match([FileSystems.join(path, "*")])[0].metadata_list]
            if files:
                FileSystems.delete(files)


def read_json(path: str) -> Any:
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))


def write_json(path: str, obj: Any, sort_keys: bool = False) -> None:
    """Write `obj` as indented JSON.

    Local paths go through `winnow.atomic` (temporary name, fsync, rename), so a
    reader never sees half a stats.json. Object stores (gs://, s3://) have no
    rename-over, but their uploads only become visible once complete, which is
    the same guarantee.
    """
    data = (json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n").encode("utf-8")
    if "://" in path:
        with FileSystems.create(path) as f:
            f.write(data)
        return
    atomic_write_bytes(path, data)
