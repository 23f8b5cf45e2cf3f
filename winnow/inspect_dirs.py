"""`winnow inspect` of directories that hold no tables: token directories,
training runs, tokenizers, and `winnow run` / `winnow ablate` directories.

Each describer returns a JSON-able dict (what `inspect --json` prints) with
"kind" set to the `winnow.summaries` kind; `render_directory` draws it. Files
are read with the project's own readers (the token manifest's one reader) so
inspect cannot accept what training would refuse.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from winnow.core.errors import InputError
from winnow.core.jsonl import json_lines
from winnow.summaries import (
    KIND_ABLATION,
    KIND_RUN,
    KIND_TOKENIZER,
    KIND_TOKENS,
    KIND_TRAIN,
    KIND_UNKNOWN,
    RUN_STAGE_FOLDERS,
    output_kind,
)

CHECKPOINT_DIR = "checkpoints"  # training/checkpoint.py's name; not imported, that module loads torch
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.yaml"


class DirectoryInspectError(InputError):
    """A file the description needs is unreadable; the message names it."""


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DirectoryInspectError(f"{path}: cannot read ({exc})") from exc


def describe_tokens(path: Path) -> dict[str, Any]:
    """Tokenizer, dtype and per split: tokens, documents, UTF-8 bytes, shards."""
    from winnow.training.shard_format import read_manifest

    manifest = read_manifest(path)  # ManifestError (an InputError) names the file
    splits = {
        str(name): {"tokens": int(split.get("tokens", 0)), "documents": int(split.get("documents", 0)),
                    "utf8_bytes": int(split.get("utf8_bytes", 0)), "shards": len(split["shards"])}
        for name, split in manifest["splits"].items()
    }
    tokenizer = manifest["tokenizer"]
    return {"path": str(path), "kind": KIND_TOKENS, "dtype": manifest["dtype"],
            "tokenizer": {"file": tokenizer["file"], "vocab_size": tokenizer["vocab_size"]},
            "sources": len(manifest.get("sources") or []), "splits": splits}


def _metric_rows(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DirectoryInspectError(f"{path}: cannot read ({exc})") from exc
    return [row for _, row in json_lines(lines, path, DirectoryInspectError) if isinstance(row, dict)]


def describe_train(path: Path) -> dict[str, Any]:
    """Steps logged, the last train and validation rows, and the checkpoints on disk."""
    metrics = path / METRICS_FILE
    rows = _metric_rows(metrics) if metrics.is_file() else []
    train = [r for r in rows if r.get("split") == "train"]
    val = [r for r in rows if r.get("split") == "val"]
    checkpoints = sorted(p.name for p in (path / CHECKPOINT_DIR).iterdir()) if (path / CHECKPOINT_DIR).is_dir() else []
    return {"path": str(path), "kind": KIND_TRAIN, "config": (path / CONFIG_FILE).is_file(),
            "train_rows": len(train), "val_rows": len(val),
            "last_train": train[-1] if train else None, "last_val": val[-1] if val else None,
            "checkpoints": checkpoints}


def describe_tokenizer(path: Path) -> dict[str, Any]:
    report = _json(path / "report.json")
    return {"path": str(path), "kind": KIND_TOKENIZER, "report": report if isinstance(report, dict) else {}}


def describe_run(path: Path, kind: str) -> dict[str, Any]:
    """The stage folders (each with its own kind) and, for `winnow run`, run.json's stage statuses."""
    stages = {}
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        found = output_kind(folder)
        if found != KIND_UNKNOWN or folder.name in RUN_STAGE_FOLDERS:
            stages[folder.name] = found
    run = _json(path / "run.json") if (path / "run.json").is_file() else {}
    statuses = {}
    for name, info in ((run.get("stages") or {}) if isinstance(run, dict) else {}).items():
        if isinstance(info, dict):
            statuses[str(name)] = {"status": info.get("status"), "wall_s": info.get("wall_s"), "error": info.get("error")}
    return {"path": str(path), "kind": kind, "recipe": run.get("recipe") if isinstance(run, dict) else None,
            "folders": stages, "stages": statuses}


def describe_directory(path: Path) -> dict[str, Any] | None:
    """The description of a token, training, tokenizer, run or ablation directory; None for other kinds."""
    kind = output_kind(path)
    if kind == KIND_TOKENS:
        return describe_tokens(path)
    if kind == KIND_TRAIN:
        return describe_train(path)
    if kind == KIND_TOKENIZER:
        return describe_tokenizer(path)
    if kind in (KIND_RUN, KIND_ABLATION):
        return describe_run(path, kind)
    return None


DIRECTORY_KINDS = (KIND_TOKENS, KIND_TRAIN, KIND_TOKENIZER, KIND_RUN, KIND_ABLATION)


def _fmt_row(row: dict[str, Any] | None, keys: tuple[str, ...]) -> str:
    if not row:
        return "-"
    parts = [f"{k} {row[k]:.4g}" if isinstance(row.get(k), float) else f"{k} {row[k]}" for k in keys if k in row]
    return ", ".join(parts)


def render_directory(report: dict[str, Any], console: Console) -> None:
    """Draw a description from `describe_directory`."""
    kind = report["kind"]
    console.rule(f"[bold]{report['path']}[/bold]")
    console.print(f"found: {kind}")
    if kind == KIND_TOKENS:
        console.print(f"tokenizer {report['tokenizer']['file']} (vocabulary {report['tokenizer']['vocab_size']:,}), "
                      f"dtype {report['dtype']}, {report['sources']} source file(s)")
        table = Table(title="splits")
        for column in ("split", "tokens", "documents", "UTF-8 bytes", "shards"):
            table.add_column(column, justify="left" if column == "split" else "right")
        for name, split in report["splits"].items():
            table.add_row(name, f"{split['tokens']:,}", f"{split['documents']:,}", f"{split['utf8_bytes']:,}", f"{split['shards']:,}")
        console.print(table)
        console.print(f"next: winnow train --input {report['path']} --output RUN_DIR")
    elif kind == KIND_TRAIN:
        console.print(f"{report['train_rows']} train and {report['val_rows']} validation rows in {METRICS_FILE}"
                      f"{'' if report['config'] else f'; no {CONFIG_FILE}'}")
        console.print(f"last train row: {_fmt_row(report['last_train'], ('step', 'loss', 'lr', 'tokens_seen'))}")
        console.print(f"last validation row: {_fmt_row(report['last_val'], ('step', 'val_loss', 'val_bpb', 'val_perplexity'))}")
        console.print(f"checkpoints: {', '.join(report['checkpoints']) if report['checkpoints'] else 'none'}")
    elif kind == KIND_TOKENIZER:
        shown = {k: v for k, v in report["report"].items() if isinstance(v, (int, float, str))}
        console.print(", ".join(f"{k} {v}" for k, v in shown.items()) or "report.json has no numbers")
    else:
        if report.get("recipe"):
            console.print(f"recipe {report['recipe']}")
        table = Table(title="stage folders")
        for column in ("folder", "kind", "status", "wall s"):
            table.add_column(column)
        for name, found in report["folders"].items():
            status = report["stages"].get(name, {})
            wall = status.get("wall_s")
            table.add_row(name, found, str(status.get("status") or ""), f"{wall:.1f}" if isinstance(wall, (int, float)) else "")
        console.print(table)
        console.print(f"inspect a stage with `winnow inspect {report['path']}/FOLDER`; "
                      f"`winnow report {report['path']}` draws every stage")
