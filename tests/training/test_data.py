from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.training.tiny_tokens import make_token_dir
from winnow.training.data import TokenDataError, TokenWindowLoader, load_split
from winnow.training.shard_format import write_shard


@pytest.fixture(scope="module")
def token_dir(tmp_path_factory):
    return make_token_dir(tmp_path_factory.mktemp("tok"), train_tokens=4001, val_tokens=500, train_shards=2)


def _window_ids(loader: TokenWindowLoader, step: int, micro: int) -> list[int]:
    """Which window each row of a batch is, identified by its position in the permutation."""
    return [int(loader._permutation(n // loader.n_windows)[n % loader.n_windows]) for n in loader.sample_indices(step, micro)]


def test_load_split_reads_the_manifest(token_dir):
    split = load_split(token_dir, "train")
    assert [p.name for p in split.paths] == ["train-test-00000.bin", "train-test-00001.bin"]
    assert split.tokens == 4001 and split.utf8_bytes == 4 * 4001
    assert split.vocab_size > 256 and len(split.tokenizer_sha256) == 64


def test_batches_are_deterministic_windows_of_the_shards(token_dir):
    paths = load_split(token_dir, "train").paths
    a = TokenWindowLoader(paths, seq_len=16, batch_size=4, seed=7)
    b = TokenWindowLoader(paths, seq_len=16, batch_size=4, seed=7)
    x, y = a.batch(3)
    assert x.shape == y.shape == (4, 16)
    assert x.dtype == y.dtype == torch.int64
    assert np.array_equal(x[:, 1:].numpy(), y[:, :-1].numpy())  # targets are inputs shifted by one
    assert all(np.array_equal(u.numpy(), v.numpy()) for u, v in zip(a.batch(3), b.batch(3)))
    other = TokenWindowLoader(paths, seq_len=16, batch_size=4, seed=8)
    assert not np.array_equal(other.batch(3)[0].numpy(), x.numpy())
    # Each row is a contiguous slice of one shard.
    shard0 = np.fromfile(paths[0], dtype="<u2", offset=64)
    shard1 = np.fromfile(paths[1], dtype="<u2", offset=64)
    for row in np.concatenate([x.numpy(), y.numpy()[:, -1:]], axis=1):
        found = any(
            np.array_equal(shard[s : s + 17], row)
            for shard in (shard0, shard1)
            for s in range(0, len(shard) - 16, 16)
        )
        assert found


def test_an_epoch_visits_every_window_once(token_dir):
    paths = load_split(token_dir, "train").paths
    loader = TokenWindowLoader(paths, seq_len=16, batch_size=5, seed=1)
    # 2000- and 2001-token shards hold (n - 1) // 16 = 124 + 125 windows.
    assert loader.n_windows == 249
    seen = [w for step in range(249 // 5) for w in _window_ids(loader, step, 0)]
    assert len(seen) == len(set(seen)) == 245
    next_epoch = TokenWindowLoader(paths, seq_len=16, batch_size=249, seed=1)
    assert next_epoch.sample_indices(1, 0)[0] == 249
    assert sorted(_window_ids(next_epoch, 1, 0)) == list(range(249))
    assert _window_ids(next_epoch, 1, 0) != _window_ids(next_epoch, 0, 0)  # reshuffled per epoch


def test_ranks_take_disjoint_slices_of_the_same_global_batch(token_dir):
    paths = load_split(token_dir, "train").paths
    single = TokenWindowLoader(paths, seq_len=16, batch_size=2, seed=3, accum_steps=4, world_size=1)
    ranks = [TokenWindowLoader(paths, seq_len=16, batch_size=2, seed=3, accum_steps=2, rank=r, world_size=2) for r in (0, 1)]
    for step in range(3):
        global_rows = [w for m in range(4) for w in _window_ids(single, step, m)]
        per_rank = [[w for m in range(2) for w in _window_ids(loader, step, m)] for loader in ranks]
        assert not set(per_rank[0]) & set(per_rank[1])
        assert sorted(per_rank[0] + per_rank[1]) == sorted(global_rows)
        # Rank r's micro-step m is the single process's micro-step 2m + r.
        assert np.array_equal(ranks[1].batch(step, 1)[0].numpy(), single.batch(step, 3)[0].numpy())


def test_resume_state_detects_a_different_stream(token_dir):
    paths = load_split(token_dir, "train").paths
    loader = TokenWindowLoader(paths, seq_len=16, batch_size=2, seed=3)
    state = loader.state_dict(10)
    loader.check_resumable(state, "ckpt")
    changed = TokenWindowLoader(paths, seq_len=16, batch_size=4, seed=3)
    with pytest.raises(TokenDataError, match="samples_per_step"):
        changed.check_resumable(state, "ckpt")
    with pytest.raises(TokenDataError, match="no window"):
        TokenWindowLoader(paths[:1], seq_len=5000, batch_size=1, seed=0)


def test_bad_token_directories_are_named(tmp_path, token_dir):
    with pytest.raises(TokenDataError, match="does not exist"):
        load_split(tmp_path / "missing", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenDataError, match="no manifest.json"):
        load_split(tmp_path / "empty", "train")

    bad = make_token_dir(tmp_path / "bad", train_tokens=300, val_tokens=0)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["tokenizer"]["sha256"] = "0" * 64
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TokenDataError, match="another tokenizer"):
        load_split(bad, "train")

    trunc = make_token_dir(tmp_path / "trunc", train_tokens=300, val_tokens=0)
    shard = trunc / "train-test-00000.bin"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(TokenDataError, match="train-test-00000.bin.*truncated"):
        load_split(trunc, "train")

    wrong = make_token_dir(tmp_path / "wrong", train_tokens=300, val_tokens=0, train_shards=1)
    write_shard(wrong / "train-test-00000.bin", np.zeros(100, dtype=np.uint16), 1)
    with pytest.raises(TokenDataError, match="holds 100 tokens"):
        load_split(wrong, "train")

    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "manifest.json").write_text('{"format": "other"}')
    with pytest.raises(TokenDataError, match="not a Winnow token manifest"):
        load_split(tmp_path / "foreign", "train")
