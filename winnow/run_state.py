"""What a `winnow run` directory records, and how a stage is known to be up to date.

Each stage's manifest, `stages/<stage>.json`, holds its fingerprint: a hash of the
recipe part the stage depends on (`stage_settings`), its upstream fingerprint, its
input files and the Winnow version (`winnow.runner.fingerprint` assembles them).
A manifest is written whole or not at all, so a torn one reads as "not complete".
`run.json` lists the stages of the last run for the report.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow.core.atomic import atomic_write_json

COMPLETE = "complete"
RUNNING = "running"


@dataclass
class RunContext:
    recipe_spec: str
    run_dir: Path
    beam_args: list[str]
    sections: dict[str, Any]
    recipe_name: str
    recipe_fingerprint: str
    input_override: list[str] | None = None
    progress: bool = True
    fingerprints: dict[str, str] = field(default_factory=dict)

    def stage_dir(self, stage: str) -> Path:
        return self.run_dir / stage


def settings_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def file_fingerprint(path: str) -> dict[str, Any]:
    """Content hash for local files; for remote ones the path (their runner sees them)."""
    from winnow.training.shard_format import sha256_file

    if "://" in path or not os.path.isfile(path):
        return {"path": path}
    return {"path": os.path.abspath(path), "sha256": sha256_file(path)}


def manifest_path(ctx: RunContext, stage: str) -> Path:
    return ctx.run_dir / "stages" / f"{stage}.json"


def read_manifest(ctx: RunContext, stage: str) -> dict[str, Any] | None:
    path = manifest_path(ctx, stage)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None  # a torn manifest means the stage did not complete


def _write_json_atomic(path: Path, obj: Any) -> None:
    """A manifest is either the old one or the new one, never half of each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, obj, default=str)


def write_manifest(ctx: RunContext, stage: str, manifest: dict[str, Any]) -> None:
    _write_json_atomic(manifest_path(ctx, stage), manifest)


def stage_settings(ctx: RunContext, stage: str) -> Any:
    """The part of the recipe a stage's output depends on."""
    s = ctx.sections
    if stage == "input":
        return {"input": s.get("input"), "override": ctx.input_override}
    if stage == "curate":
        return ctx.recipe_fingerprint
    if stage == "train":
        return {"model": s.get("model", "tiny"), "train": s.get("train")}
    return s.get(stage)


def has_checkpoint(ctx: RunContext) -> bool:
    return (ctx.stage_dir("train") / "checkpoints" / "latest.json").is_file()


def load_run_info(ctx: RunContext) -> dict[str, Any]:
    path = ctx.run_dir / "run.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("stages", {})
    except (OSError, json.JSONDecodeError):
        return {}


def write_run_info(ctx: RunContext, info: dict[str, Any]) -> None:
    _write_json_atomic(ctx.run_dir / "run.json", info)
