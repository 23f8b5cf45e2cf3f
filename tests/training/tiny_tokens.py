"""Build tiny token directories for the trainer tests, by the manifest contract,
without the tokenizer engineer's code: a small ByteLevel BPE trained on a few
sentences, shards written with `write_shard`, and a hand-written manifest."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from winnow.training.shard_format import write_shard

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "a curated corpus trains a better model than a raw crawl",
    "tokens are memory mapped from flat binary shards",
    "every document ends with an end of text token",
    "resume must continue the very same data stream",
] * 4


def build_tokenizer(path: Path, vocab_size: int = 300, salt: str = "") -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([s + salt for s in SENTENCES], trainer=trainer)
    tok.save(str(path))


def make_token_dir(
    directory: Path,
    train_tokens: int = 20000,
    val_tokens: int = 2000,
    vocab_size: int = 300,
    train_shards: int = 2,
    seed: int = 0,
    salt: str = "",
) -> Path:
    """A token directory whose shards hold random ids below the tokenizer's vocab size."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer_path = directory / "tokenizer.json"
    build_tokenizer(tokenizer_path, vocab_size, salt)
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tokenizer_path)).get_vocab_size()
    rng = np.random.default_rng(seed)
    # A learnable stream: a repeating pattern with noise, so loss can fall.
    pattern = rng.integers(1, vocab, size=97)

    def tokens(n: int) -> np.ndarray:
        out = np.resize(pattern, n).astype(np.uint16)
        noise = rng.random(n) < 0.1
        out[noise] = rng.integers(1, vocab, size=int(noise.sum()))
        return out

    splits = {}
    for split, total, count in (("train", train_tokens, train_shards), ("val", val_tokens, 1)):
        shards = []
        for i, size in enumerate(np.array_split(np.arange(total), count) if total else []):
            name = f"{split}-test-{i:05d}.bin"
            arr = tokens(len(size))
            write_shard(directory / name, arr, document_count=1)
            sha = hashlib.sha256((directory / name).read_bytes()).hexdigest()
            shards.append({"file": name, "tokens": len(size), "documents": 1, "utf8_bytes": 4 * len(size), "sha256": sha})
        splits[split] = {
            "tokens": total,
            "documents": len(shards),
            "utf8_bytes": 4 * total,
            "shards": shards,
        }
    manifest = {
        "format": "winnow-token-shards",
        "version": 1,
        "tokenizer": {
            "file": "tokenizer.json",
            "sha256": hashlib.sha256(tokenizer_path.read_bytes()).hexdigest(),
            "vocab_size": vocab,
            "eot_token": "<|endoftext|>",
            "eot_id": 0,
        },
        "dtype": "uint16",
        "split": {"rule": "xxh3_64(id) % 1000000 < val_fraction * 1000000", "val_fraction": 0.1},
        "splits": splits,
        "sources": [],
        "created_by": "winnow tests",
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return directory
