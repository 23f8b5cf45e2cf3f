"""What makes `winnow curate --resume` safe: a manifest of the run, and a count of the rows on disk.

A batched run (`--resume` or `--files-per-run`) writes `_progress/manifest.json`
before its first batch: the input files (path and size), the recipe's
fingerprint, the resolved settings and the batch layout. A resumed run
compares itself with it and refuses, naming every difference, unless it is
exactly the same run; outputs of two different runs are never mixed. Batches
are keyed by (recipe, files), so with an unchanged manifest a completed batch
is skipped and an incomplete one is deleted and redone.

After any run, `rows_on_disk` counts the rows of documents/, rejected/ and
errors/ from the Parquet footers, and `check_on_disk` compares them with
stats.json; `winnow inspect` does the same.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from apache_beam.io.filesystems import FileSystems

from winnow.core.config_loader import config_to_mapping
from winnow.core.errors import ConfigurationError
from winnow.pipelines.outputs import existing_outputs, read_json, write_json

PROGRESS_DIR = "_progress"
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
TABLES = ("documents", "rejected", "errors")
STATS_COUNT_OF_TABLE = {"documents": "kept", "rejected": "rejected_total", "errors": "errors"}
_SHOWN = 3  # file names listed per kind of change


class ResumeRefused(ConfigurationError):
    """A resumed run differs from the run it would continue; the message lists the differences."""


def run_manifest(
    files: Sequence[tuple[str, int | None]], settings: Any, recipe: str, fingerprint: str, files_per_run: int, output_shards: int
) -> dict[str, Any]:
    """Everything that decides what a batched run writes, as JSON."""
    return {
        "version": MANIFEST_VERSION,
        "files": [[path, size] for path, size in files],
        "recipe": recipe,
        "recipe_fingerprint": fingerprint,
        "files_per_run": files_per_run,
        "settings": {
            "steps": [{"name": step.name, "config": config_to_mapping(step.config)} for step in settings.steps],
            "mode": settings.mode,
            "max_payload_bytes": settings.max_payload_bytes,
            "keep_rejected_text": settings.keep_rejected_text,
            "input_format": settings.input_format,
            # Through JSON, so a tuple field (metadata_columns) compares equal to the recorded list.
            "reader_options": json.loads(json.dumps(dataclasses.asdict(settings.reader_options))),
            "output_shards": output_shards,
        },
    }


def file_sizes(paths: Sequence[str]) -> list[tuple[str, int | None]]:
    """(path, size in bytes) of each input file, sorted by path."""
    sizes: dict[str, int | None] = {path: None for path in paths}
    for result in FileSystems.match(list(paths)):
        for meta in result.metadata_list:
            if meta.path in sizes:
                sizes[meta.path] = meta.size_in_bytes
    return sorted(sizes.items())


def manifest_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between the recorded run and this one; empty when identical."""
    changes = []
    if old.get("version") != new["version"]:
        changes.append(f"manifest version {old.get('version')} -> {new['version']}")
    old_files = {path: size for path, size in old.get("files", [])}
    new_files = {path: size for path, size in new["files"]}
    for label, names in (
        ("input files added", sorted(set(new_files) - set(old_files))),
        ("input files removed", sorted(set(old_files) - set(new_files))),
        ("input files changed size", sorted(p for p in set(old_files) & set(new_files) if old_files[p] != new_files[p])),
    ):
        if names:
            shown = ", ".join(names[:_SHOWN]) + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")
            changes.append(f"{len(names)} {label} ({shown})")
    if old.get("recipe_fingerprint") != new["recipe_fingerprint"]:
        before, after = str(old.get("recipe_fingerprint"))[:12], new["recipe_fingerprint"][:12]
        changes.append(f"the recipe changed ({old.get('recipe')} {before} -> {new['recipe']} {after})")
    if old.get("files_per_run") != new["files_per_run"]:
        changes.append(f"--files-per-run {old.get('files_per_run')} -> {new['files_per_run']}")
    old_settings, new_settings = old.get("settings", {}), new["settings"]
    for key in sorted(set(old_settings) | set(new_settings)):
        if key != "steps" and old_settings.get(key) != new_settings.get(key):
            changes.append(f"{key} {_short(old_settings.get(key))} -> {_short(new_settings.get(key))}")
    if old_settings.get("steps") != new_settings.get("steps") and old.get("recipe_fingerprint") == new["recipe_fingerprint"]:
        changes.append("the resolved steps changed (--lid-model or a step default)")
    return changes


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def manifest_path(output: str) -> str:
    return FileSystems.join(output, PROGRESS_DIR, MANIFEST_NAME)


def start_or_continue(output: str, manifest: dict[str, Any], resume: bool, files_per_run_given: bool) -> dict[str, Any]:
    """Check a resumed run against its manifest (or record a new one); the manifest to run with.

    Without --files-per-run, a resumed run takes the recorded batch size.
    Raises ResumeRefused when the output holds another run's results.
    """
    path = manifest_path(output)
    start_over = f"re-run with the original settings to continue, or with --overwrite to start over (this deletes the results in {output})"
    if resume and FileSystems.exists(path):
        recorded = read_json(path)
        if not files_per_run_given:
            manifest = {**manifest, "files_per_run": recorded.get("files_per_run", manifest["files_per_run"])}
        changes = manifest_changes(recorded, manifest)
        if changes:
            raise ResumeRefused(f"cannot resume {output}: it holds another run's results ({'; '.join(changes)}); {start_over}")
        return manifest
    if resume:
        present = existing_outputs(output, TABLES + ("stats.json",))
        if present:
            raise ResumeRefused(
                f"cannot resume {output}: it holds results ({', '.join(present)}) but no resume manifest "
                f"({PROGRESS_DIR}/{MANIFEST_NAME}), so what produced them is unknown; {start_over}"
            )
    folder = FileSystems.join(output, PROGRESS_DIR)
    if "://" not in folder and not FileSystems.exists(folder):  # object stores have no folders
        FileSystems.mkdirs(folder)
    write_json(path, manifest)
    return manifest


def stray_outputs(output: str, prefixes: Sequence[str]) -> list[str]:
    """Files and folders in the tables that no batch of this run writes (a killed attempt's temporary folders)."""
    stray = []
    for table in TABLES:
        for meta in FileSystems.match([FileSystems.join(output, table, "*")])[0].metadata_list:
            name = meta.path.rstrip("/").rsplit("/", 1)[-1]
            ours = name.startswith(("part-", "beam-temp-"))  # anything else was put there by someone else
            if ours and not any(name.startswith(prefix + "-") for prefix in prefixes):
                stray.append(meta.path)
    return stray


def rows_on_disk(output: str) -> dict[str, int]:
    """Rows per table, from the Parquet footers of `<table>/*.parquet` (no data is read)."""
    import pyarrow.parquet as pq

    rows = {}
    for table in TABLES:
        total = 0
        for meta in FileSystems.match([FileSystems.join(output, table, "*.parquet")])[0].metadata_list:
            with FileSystems.open(meta.path) as f:
                total += pq.ParquetFile(f).metadata.num_rows
        rows[table] = total
    return rows


def check_on_disk(stats: Mapping[str, Any], rows: Mapping[str, int]) -> dict[str, Any]:
    """{"ok", "rows", "mismatches"}: stats.json's kept/rejected_total/errors against the rows on disk."""
    mismatches = [
        f"{table}/ holds {rows.get(table, 0)} rows but stats.json says {key} = {stats.get(key)}"
        for table, key in STATS_COUNT_OF_TABLE.items()
        if rows.get(table, 0) != stats.get(key)
    ]
    return {"ok": not mismatches, "rows": dict(rows), "mismatches": mismatches}
