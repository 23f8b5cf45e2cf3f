"""Small builders shared by the evaluation, generation and export tests:
a tiny byte-level BPE tokenizer, a tiny model, a run directory and a token
directory, all made in a few hundred milliseconds."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, pre_tokenizers, trainers

from winnow.training.checkpoint import save_checkpoint
from winnow.training.shard_format import sha256_file
from winnow.training.model import GPT, ModelConfig
from winnow.training.shard_format import write_shard
from winnow.training.config import EOT_TOKEN
from winnow.training.tokenizer import build_empty_tokenizer

CORPUS = [
    "The cat sat on the mat. The dog sat on the log.",
    "A quick brown fox jumps over the lazy dog, and the cat watches.",
    "Rivers run to the sea; the sea returns as rain over the hills.",
    "Curated text makes better models than raw web pages do.",
]
VOCAB = 320


def make_tokenizer(directory: Path) -> tuple[Tokenizer, Path]:
    """A byte-level BPE tokenizer like the project's, with EOT as id 0."""
    tokenizer = build_empty_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        min_frequency=1,
        special_tokens=[EOT_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS * 4, trainer)
    path = directory / "tokenizer.json"
    tokenizer.save(str(path))
    return Tokenizer.from_file(str(path)), path


def make_model(vocab_size: int, seed: int = 0, **overrides) -> GPT:
    """A 2-layer random model whose weights are large enough that its
    predictions differ visibly from uniform."""
    torch.manual_seed(seed)
    settings = dict(vocab_size=vocab_size, n_layer=2, n_head=2, d_model=32, max_seq_len=16)
    settings.update(overrides)
    model = GPT(ModelConfig(**settings))
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return model.eval()


def write_run(run_dir: Path, model: GPT, tokenizer_path: Path, step: int = 7) -> Path:
    """A run directory as `winnow train` leaves it (checkpoint + tokenizer)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tokenizer_path, run_dir / "tokenizer.json")
    save_checkpoint(
        run_dir,
        {
            "model": model.state_dict(),
            "optimizer": {},
            "step": step,
            "tokens_seen": 1234,
            "model_config": model.config.to_dict(),
            "train_config": {},
            "tokenizer_sha256": sha256_file(run_dir / "tokenizer.json"),
            "data_state": {},
            "rng": {},
        },
    )
    return run_dir


def write_token_dir(token_dir: Path, tokenizer: Tokenizer, tokenizer_path: Path, splits: dict[str, list[list[str]]]) -> dict:
    """A token directory per the manifest contract: each split is a list of
    shards, each shard a list of documents, every document followed by EOT."""
    token_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tokenizer_path, token_dir / "tokenizer.json")
    eot = tokenizer.token_to_id(EOT_TOKEN)
    manifest_splits = {}
    for split, shards in splits.items():
        entries = []
        for index, documents in enumerate(shards):
            ids = []
            for text in documents:
                ids.extend(tokenizer.encode(text, add_special_tokens=False).ids + [eot])
            name = f"{split}-test-{index:05d}.bin"
            write_shard(token_dir / name, np.asarray(ids, dtype=np.uint16), len(documents))
            entries.append(
                {
                    "file": name,
                    "tokens": len(ids),
                    "documents": len(documents),
                    "utf8_bytes": sum(len(t.encode("utf-8")) for t in documents),
                    "sha256": sha256_file(token_dir / name),
                }
            )
        manifest_splits[split] = {
            "tokens": sum(e["tokens"] for e in entries),
            "documents": sum(e["documents"] for e in entries),
            "utf8_bytes": sum(e["utf8_bytes"] for e in entries),
            "shards": entries,
        }
    manifest = {
        "format": "winnow-token-shards",
        "version": 1,
        "tokenizer": {
            "file": "tokenizer.json",
            "sha256": sha256_file(token_dir / "tokenizer.json"),
            "vocab_size": tokenizer.get_vocab_size(),
            "eot_token": EOT_TOKEN,
            "eot_id": eot,
        },
        "dtype": "uint16",
        "split": {"rule": "xxh3_64(id) % 1000000 < val_fraction * 1000000", "val_fraction": 0.5},
        "splits": manifest_splits,
        "sources": [],
        "created_by": "tests",
    }
    (token_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


def use_offline_harness(monkeypatch, tmp_path: Path) -> None:
    """Skip without lm-evaluation-harness (the eval extra) or accelerate (its `hf` model);
    otherwise point its datasets and hub at nothing but local files."""
    import pytest

    pytest.importorskip("lm_eval", reason="lm-evaluation-harness is not installed (the eval extra)")
    pytest.importorskip("accelerate", reason="lm-eval's hf model needs accelerate")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
