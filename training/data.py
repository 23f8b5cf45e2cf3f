"""Training batches from a token directory's memory-mapped shards.

The train split is cut into windows of seq_len + 1 tokens starting every
seq_len tokens inside each shard (so each target token is predicted once per
epoch and no window straddles two shards). An epoch visits every window once,
in an order that is a permutation seeded by (seed, epoch).

The stream is a pure function of position: sample n (counting from the start
of training) is window perm(seed, n // windows)[n % windows]. Optimizer step
`step` consumes samples [step * S, (step + 1) * S) with S = batch_size *
accum_steps * world_size; within a step, rank r's micro-step m takes the rows
[(m * world_size + r) * batch_size, ... + batch_size). So the ranks take
disjoint slices of each global batch, one process with accumulation over the
same global batch sees the same sequences, and resuming at a step needs no
loader state beyond the step itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from winnow.training import shard_format
from winnow.training.shard_format import MANIFEST_FILE, ManifestError, ShardFormatError, open_shard, sha256_file
from winnow.core.errors import ConfigurationError, ErrorFamily, InputError

SPLITS = shard_format.MANIFEST_SPLITS


class TokenDataError(ErrorFamily):
    """A token directory is missing, malformed or does not match the run."""


class TokenDataMissing(TokenDataError, ConfigurationError):
    """The token directory named does not exist; exit 2."""


class TokenDataUnusable(TokenDataError, InputError):
    """The token directory is malformed, inconsistent or does not match the run; exit 3."""


@dataclass(frozen=True)
class TokenSplit:
    """One split of a validated token directory."""

    directory: Path
    split: str
    paths: tuple[Path, ...]
    tokens: int
    utf8_bytes: int
    tokenizer_path: Path
    tokenizer_sha256: str
    vocab_size: int
    eot_id: int


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest as checked by `shard_format.read_manifest` (the one reader), as TokenDataError."""
    try:
        return shard_format.read_manifest(directory)
    except ManifestError as exc:
        raise TokenDataUnusable(str(exc)) from exc


def load_split(directory: str | Path, split: str, verify_tokenizer: bool = True) -> TokenSplit:
    """The shard paths and counts of `split`, with headers validated against the manifest."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise TokenDataMissing(f"{directory}: token directory does not exist")
    manifest = read_manifest(directory)
    where = directory / MANIFEST_FILE
    tok = manifest["tokenizer"]
    tokenizer_path = directory / tok["file"]
    if verify_tokenizer:
        if not tokenizer_path.is_file():
            raise TokenDataUnusable(f"{tokenizer_path}: tokenizer file named by {where} is missing")
        actual = sha256_file(tokenizer_path)
        if actual != tok["sha256"]:
            raise TokenDataUnusable(
                f"{tokenizer_path}: sha256 {actual[:12]}... differs from the manifest's {str(tok['sha256'])[:12]}...;"
                " the shards were made with another tokenizer"
            )
    entry = manifest["splits"].get(split)
    if not isinstance(entry, dict) or not isinstance(entry.get("shards"), list):
        raise TokenDataUnusable(f"{where}: split {split!r} is missing or has no 'shards' list")
    paths = []
    for shard in entry["shards"]:
        path = directory / shard["file"]
        try:
            mm = open_shard(path)
        except ShardFormatError as exc:
            raise TokenDataUnusable(str(exc)) from exc
        if mm.size != shard.get("tokens", mm.size):
            raise TokenDataUnusable(f"{path}: holds {mm.size} tokens but {where} says {shard['tokens']}")
        if tok["vocab_size"] > np.iinfo(mm.dtype).max + 1:
            raise TokenDataUnusable(f"{path}: {mm.dtype} tokens cannot hold vocab_size {tok['vocab_size']}")
        paths.append(path)
    return TokenSplit(
        directory=directory,
        split=split,
        paths=tuple(paths),
        tokens=int(entry.get("tokens", 0)),
        utf8_bytes=int(entry.get("utf8_bytes", 0)),
        tokenizer_path=tokenizer_path,
        tokenizer_sha256=str(tok["sha256"]),
        vocab_size=int(tok["vocab_size"]),
        eot_id=int(tok.get("eot_id", 0)),
    )


class TokenWindowLoader:
    """Deterministic (x, y) batches of shape (batch_size, seq_len); see module doc."""

    def __init__(
        self,
        paths: list[Path] | tuple[Path, ...],
        seq_len: int,
        batch_size: int,
        seed: int,
        accum_steps: int = 1,
        rank: int = 0,
        world_size: int = 1,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.accum_steps, self.rank, self.world_size = accum_steps, rank, world_size
        self.shards = [open_shard(p) for p in paths]
        per_shard = np.array([max(0, (s.size - 1) // seq_len) for s in self.shards], dtype=np.int64)
        self.n_windows = int(per_shard.sum())
        if self.n_windows == 0:
            total = sum(s.size for s in self.shards)
            raise TokenDataUnusable(
                f"{len(self.shards)} train shard(s) with {total} tokens hold no window of {seq_len + 1} tokens"
            )
        self._starts = np.concatenate(([0], np.cumsum(per_shard)))  # window index where each shard begins
        self._perm_epoch = -1
        self._perm = np.empty(0, dtype=np.int64)

    @property
    def samples_per_step(self) -> int:
        return self.batch_size * self.accum_steps * self.world_size

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)
            self._perm_epoch = epoch
        return self._perm

    def sample_indices(self, step: int, micro_step: int) -> np.ndarray:
        """Absolute sample numbers of this rank's rows at (step, micro_step)."""
        if not 0 <= micro_step < self.accum_steps:
            raise ValueError(f"micro_step {micro_step} is outside accum_steps {self.accum_steps}")
        first = step * self.samples_per_step + (micro_step * self.world_size + self.rank) * self.batch_size
        return np.arange(first, first + self.batch_size, dtype=np.int64)

    def window(self, sample: int) -> np.ndarray:
        epoch, offset = divmod(int(sample), self.n_windows)
        w = int(self._permutation(epoch)[offset])
        shard = int(np.searchsorted(self._starts, w, side="right")) - 1
        start = (w - int(self._starts[shard])) * self.seq_len
        return self.shards[shard][start : start + self.seq_len + 1]

    def batch(self, step: int, micro_step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.stack([self.window(n) for n in self.sample_indices(step, micro_step)]).astype(np.int64)
        data = torch.from_numpy(rows)  # (B, T + 1)
        return data[:, :-1], data[:, 1:]  # (B, T) inputs, (B, T) next-token targets

    def epoch_at(self, step: int) -> float:
        return step * self.samples_per_step / self.n_windows

    def state_dict(self, step: int) -> dict[str, int]:
        """What a checkpoint needs to continue the stream at `step` (and check it is the same stream)."""
        return {
            "next_step": step,
            "seed": self.seed,
            "seq_len": self.seq_len,
            "n_windows": self.n_windows,
            "samples_per_step": self.samples_per_step,
        }

    def check_resumable(self, state: dict[str, Any], source: str) -> None:
        """Refuse to resume onto a different stream (other data, seed or batch geometry)."""
        mine = self.state_dict(int(state.get("next_step", 0)))
        diffs = [f"{k} {state.get(k)!r} -> {v!r}" for k, v in mine.items() if state.get(k) != v]
        if diffs:
            raise TokenDataUnusable(f"{source}: cannot resume the data stream exactly, it changed: {'; '.join(diffs)}")
