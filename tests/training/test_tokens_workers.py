"""Thread workers (up to THREAD_WORKERS_MAX) and process workers (more) write
exactly what one in-process worker writes, and a bad file fails either way with
its name."""
from __future__ import annotations

import pytest

from tests.training.test_tokenizer import make_docs, write_docs
from tests.training.test_tokens import tokenizer_path  # noqa: F401 (module fixture)
from winnow.training import tokens
from winnow.training.tokens import THREAD_WORKERS_MAX, tokenize_corpus


def _corpus(tmp_path, files: int):
    for i in range(files):
        write_docs(tmp_path / "in" / f"part-{i:05d}.parquet", make_docs(30, seed=20 + i))
    return str(tmp_path / "in")


def test_thread_workers_match_one_worker(tmp_path, tokenizer_path, monkeypatch):  # noqa: F811
    corpus = _corpus(tmp_path, 3)
    serial = tokenize_corpus(corpus, tokenizer_path, tmp_path / "serial", workers=1, shard_tokens=300)
    used = []
    original = tokens._run_in_threads
    monkeypatch.setattr(tokens, "_run_in_threads", lambda t, w: used.append(w) or original(t, w))
    threaded = tokenize_corpus(corpus, tokenizer_path, tmp_path / "threads", workers=2, shard_tokens=300)
    assert used == [2]
    assert threaded == serial
    for shard in serial["splits"]["train"]["shards"]:
        assert (tmp_path / "threads" / shard["file"]).read_bytes() == (tmp_path / "serial" / shard["file"]).read_bytes()


@pytest.mark.slow
def test_process_workers_above_the_thread_limit_match_one_worker(tmp_path, tokenizer_path, monkeypatch):  # noqa: F811
    workers = THREAD_WORKERS_MAX + 1
    corpus = _corpus(tmp_path, workers)
    serial = tokenize_corpus(corpus, tokenizer_path, tmp_path / "serial", workers=1, shard_tokens=300)
    monkeypatch.setattr(tokens, "_run_in_threads", lambda *a: pytest.fail("threads used above THREAD_WORKERS_MAX"))
    pooled = tokenize_corpus(corpus, tokenizer_path, tmp_path / "pooled", workers=workers, shard_tokens=300)
    assert pooled == serial


def test_a_failing_file_in_a_thread_worker_names_it(tmp_path, tokenizer_path):  # noqa: F811
    import pyarrow as pa
    import pyarrow.parquet as pq

    from winnow.training.parquet_text import ParquetInputError

    corpus = _corpus(tmp_path, 2)
    bad = tmp_path / "in" / "part-bad.parquet"
    pq.write_table(pa.table({"id": pa.array([None], pa.string()), "text": ["words"]}), bad)
    with pytest.raises(ParquetInputError, match="part-bad.parquet"):
        tokenize_corpus(corpus, tokenizer_path, tmp_path / "out", workers=2)
