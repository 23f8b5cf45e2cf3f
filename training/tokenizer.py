"""Train a byte-level BPE tokenizer on curated Parquet with HF `tokenizers`.

Byte-level means every byte has a token, so any text encodes without an
unknown token. Training streams record batches, optionally restricted to a
deterministic sample, and keeps a held-out slice (the same documents that
`winnow tokenize` puts in its validation split, for the same fraction) on which
it reports bytes per token.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from winnow.core.atomic import atomic_path

# TokenizerConfig lives with the other configurations (no pyarrow there), so that
# `winnow tokenizer train` derives its flags from it without importing this module.
from winnow.training.config import TokenizerConfig
from winnow.training.parquet_text import (
    ParquetDataError,
    in_validation,
    is_blank,
    iter_text_batches,
    require_id,
    sample_key,
)
from winnow.schemas.inputs import resolve_parquet_inputs

# Held-out text beyond this is not encoded: the estimate is already tight and
# evaluation would otherwise grow with the corpus.
HELDOUT_MAX_BYTES = 16 * 2**20


@dataclass(frozen=True)
class TokenizerReport:
    output_path: str
    vocab_size: int
    inputs: int  # Parquet files read
    documents_trained: int
    bytes_trained: int
    documents_skipped_empty: int
    documents_not_sampled: int
    heldout_documents: int
    heldout_bytes: int
    heldout_tokens: int
    seconds: float

    @property
    def bytes_per_token(self) -> float | None:
        """UTF-8 bytes per token on the held-out slice; None when it is empty."""
        return self.heldout_bytes / self.heldout_tokens if self.heldout_tokens else None

    def to_dict(self) -> dict:
        return {**asdict(self), "bytes_per_token": self.bytes_per_token}


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def sample_threshold(keys: np.ndarray, sizes: np.ndarray, budget: int) -> int | None:
    """Largest key K such that the documents with key <= K total at most `budget` bytes.

    Choosing by key (a hash of the id) rather than by position makes the sample
    independent of file order. Documents sharing a key are taken all or none.
    Returns None when nothing fits.
    """
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    cumulative = np.cumsum(sizes[order], dtype=np.int64)
    taken = int(np.searchsorted(cumulative, budget, side="right"))
    if taken == len(sorted_keys):
        return int(sorted_keys[-1]) if taken else None
    # Back off so that a run of equal keys is not split across the budget line.
    while taken > 0 and sorted_keys[taken - 1] == sorted_keys[taken]:
        taken -= 1
    return int(sorted_keys[taken - 1]) if taken else None


def _scan_training_sizes(paths: Sequence[str], config: TokenizerConfig) -> tuple[np.ndarray, np.ndarray]:
    keys, sizes = [], []
    for batch in iter_text_batches(paths, batch_rows=config.batch_rows):
        for doc_id, text in zip(batch.pylist("id"), batch.pylist("text")):
            if is_blank(text) or in_validation(require_id(doc_id, batch.path), config.heldout_fraction):
                continue
            keys.append(sample_key(doc_id, config.seed))
            sizes.append(_utf8_len(text))
    return np.array(keys, dtype=np.uint64), np.array(sizes, dtype=np.int64)


class _Counts:
    """Mutable tallies filled in while the trainer consumes the stream."""

    def __init__(self) -> None:
        self.trained = self.trained_bytes = self.skipped = self.not_sampled = 0
        self.heldout_texts: list[str] = []
        self.heldout_bytes = 0
        self.heldout_total = 0


def _training_batches(
    paths: Sequence[str], config: TokenizerConfig, threshold: int | None, counts: _Counts
) -> Iterator[list[str]]:
    sampling = config.sample_bytes is not None
    for batch in iter_text_batches(paths, batch_rows=config.batch_rows):
        texts = []
        for doc_id, text in zip(batch.pylist("id"), batch.pylist("text")):
            if is_blank(text):
                counts.skipped += 1
                continue
            if in_validation(require_id(doc_id, batch.path), config.heldout_fraction):
                counts.heldout_total += 1
                size = _utf8_len(text)
                if counts.heldout_bytes + size <= HELDOUT_MAX_BYTES:
                    counts.heldout_texts.append(text)
                    counts.heldout_bytes += size
                continue
            if sampling and (threshold is None or sample_key(doc_id, config.seed) > threshold):
                counts.not_sampled += 1
                continue
            texts.append(text)
            counts.trained += 1
            counts.trained_bytes += _utf8_len(text)
        if texts:
            yield texts


def build_empty_tokenizer():
    """An untrained byte-level BPE pipeline: no prefix space, GPT-2 style regex split."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    # Keeps offsets pointing at the original text; changes no ids.
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer


def train_tokenizer(inputs: str | Sequence[str], config: TokenizerConfig, output_path: str | os.PathLike) -> TokenizerReport:
    """Train on the Parquet `inputs` (dir, glob, file or list) and write tokenizer.json atomically.

    Raises ParquetInputError for bad inputs, including when no document is
    left to train on.
    """
    from tokenizers import pre_tokenizers, trainers

    started = time.perf_counter()
    paths = resolve_parquet_inputs(inputs)
    threshold = None
    if config.sample_bytes is not None:
        keys, sizes = _scan_training_sizes(paths, config)
        threshold = sample_threshold(keys, sizes, config.sample_bytes) if keys.size else None

    tokenizer = build_empty_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=list(config.special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=config.show_progress,
    )
    counts = _Counts()
    tokenizer.train_from_iterator(_training_batches(paths, config, threshold, counts), trainer=trainer)
    if counts.trained == 0:
        raise ParquetDataError(
            f"no document to train on in {len(paths)} file(s): {counts.skipped} empty, "
            f"{counts.heldout_total} held out, {counts.not_sampled} outside the byte sample"
        )

    heldout_tokens = 0
    if counts.heldout_texts:
        tokenizer.encode_special_tokens = True  # as `winnow tokenize` encodes; not saved in tokenizer.json
        encodings = tokenizer.encode_batch_fast(counts.heldout_texts, add_special_tokens=False)
        heldout_tokens = sum(len(e.ids) for e in encodings)

    output = Path(output_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as tmp:
        tokenizer.save(str(tmp))
    return TokenizerReport(
        output_path=str(output),
        vocab_size=tokenizer.get_vocab_size(with_added_tokens=True),
        inputs=len(paths),
        documents_trained=counts.trained,
        bytes_trained=counts.trained_bytes,
        documents_skipped_empty=counts.skipped,
        documents_not_sampled=counts.not_sampled,
        heldout_documents=len(counts.heldout_texts),
        heldout_bytes=counts.heldout_bytes,
        heldout_tokens=heldout_tokens,
        seconds=time.perf_counter() - started,
    )
