"""The one token-manifest reader (shard_format.read_manifest) and the modules that use it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from winnow.training.shard_format import MANIFEST_FILE, MANIFEST_KEYS, ManifestError, read_manifest


def _manifest(**changes) -> dict:
    manifest = {
        "format": "winnow-token-shards", "version": 1, "dtype": "uint16",
        "tokenizer": {"file": "tokenizer.json", "sha256": "0" * 64, "vocab_size": 512, "eot_id": 0},
        "split": {"rule": "xxh3_64(id) % 1000000 < val_fraction * 1000000", "val_fraction": 0.1},
        "splits": {"train": {"tokens": 10, "documents": 1, "utf8_bytes": 40, "shards": [{"file": "train-a-00000.bin", "tokens": 10}]},
                   "val": {"tokens": 0, "documents": 0, "utf8_bytes": 0, "shards": []}},
        "sources": [],
    }
    manifest.update(changes)
    return manifest


def _write(directory: Path, content: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = content if isinstance(content, str) else json.dumps(content)
    (directory / MANIFEST_FILE).write_text(text, encoding="utf-8")
    return directory


def test_a_valid_manifest_is_returned_as_written(tmp_path: Path):
    manifest = _manifest()
    assert read_manifest(_write(tmp_path, manifest)) == manifest
    val_only = _manifest(splits={"val": manifest["splits"]["val"]})
    assert read_manifest(_write(tmp_path / "v", val_only)) == val_only  # an evaluation directory


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "cannot read manifest"),
    ("[]", "not a Winnow token manifest"),
    (_manifest(format="other"), "not a Winnow token manifest"),
    (_manifest(version=2), "manifest version 2 is not supported"),
    ({k: v for k, v in _manifest().items() if k not in ("dtype", "sources")}, "no 'dtype', 'sources' key"),
    (_manifest(tokenizer={"file": "t.json"}), "'tokenizer' must have keys file, sha256, vocab_size"),
    (_manifest(splits=[]), "'splits' must be an object"),
    (_manifest(splits={}), "'splits' is empty"),
    (_manifest(sources={}), "'sources' must be a list"),
    (_manifest(splits={"train": {"shards": "x"}}), "split 'train' is missing or has no 'shards' list"),
    (_manifest(splits={"train": {"shards": [], "tokens": -1}}), r"splits\.train\.tokens must be a non-negative integer"),
    (_manifest(splits={"train": {"shards": [{"tokens": 3}]}}), r"splits\.train\.shards\[0\] must be an object with a 'file'"),
])
def test_problems_are_named_with_the_file(tmp_path: Path, content, message):
    _write(tmp_path, content)
    with pytest.raises(ManifestError, match=message) as info:
        read_manifest(tmp_path)
    assert str(tmp_path / MANIFEST_FILE) in str(info.value)


def test_missing_manifest_and_required_splits(tmp_path: Path):
    with pytest.raises(ManifestError, match=r"manifest\.json: missing: no manifest\.json.*interrupted run"):
        read_manifest(tmp_path)
    _write(tmp_path, _manifest(splits={"val": _manifest()["splits"]["val"]}))
    with pytest.raises(ManifestError, match="split 'train' is missing"):
        read_manifest(tmp_path, require_splits=("train", "val"))
    assert set(MANIFEST_KEYS) == {"tokenizer", "dtype", "split", "splits", "sources"}


def test_training_modules_use_the_same_checks(tmp_path: Path):
    """training.data and training.tokens raise their own error types with the reader's message."""
    from winnow.training.data import TokenDataError
    from winnow.training.data import read_manifest as data_read_manifest
    from winnow.training.tokens import TokenDirError, load_manifest

    _write(tmp_path, _manifest(version=7))
    with pytest.raises(ManifestError) as shared:
        read_manifest(tmp_path)
    with pytest.raises(TokenDataError) as data_error:
        data_read_manifest(tmp_path)
    with pytest.raises(TokenDirError) as tokens_error:
        load_manifest(tmp_path)
    assert str(data_error.value) == str(tokens_error.value) == str(shared.value)
    # Merging and tokenizing need both splits; reading training data needs only the one asked for.
    val_only = _manifest(splits={"val": _manifest()["splits"]["val"]})
    _write(tmp_path, val_only)
    assert data_read_manifest(tmp_path) == val_only
    with pytest.raises(TokenDirError, match="split 'train' is missing"):
        load_manifest(tmp_path)


def test_the_report_reads_the_manifest_with_the_same_reader(tmp_path: Path):
    from winnow.report import STATUS_ERROR, STATUS_OK, build_sections

    _write(tmp_path / "tokens", _manifest())
    tokens = {s.key: s for s in build_sections(tmp_path)}["tokens"]
    assert tokens.status == STATUS_OK and tokens.data["splits"]["train"]["shards"] == 1
    _write(tmp_path / "tokens", _manifest(tokenizer={}))
    tokens = {s.key: s for s in build_sections(tmp_path)}["tokens"]
    assert tokens.status == STATUS_ERROR and "manifest.json: 'tokenizer' must have keys" in tokens.error
