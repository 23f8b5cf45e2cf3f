"""Byte-level BPE training on Parquet, and the Parquet reader it shares with `winnow tokenize`."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from winnow.cli import main
from winnow.curation.ids import document_id
from winnow.schemas import document_schema
from winnow.training.parquet_text import (
    ParquetInputError,
    in_validation,
    iter_text_batches,
    split_bucket,
)
from winnow.schemas.inputs import resolve_parquet_inputs
from winnow.training.config import EOT_TOKEN
from winnow.training.tokenizer import TokenizerConfig, sample_threshold, train_tokenizer

WORDS = "the of and river stone winnow corpus token shard merge valley north light data archive".split()
UNICODE = ["naïve café", "中文文本", "😀 emoji", "Ωμέγα", "tab\there", "line\nbreak"]


def make_docs(count: int, seed: int = 0, prefix: str = "doc") -> list[tuple[str, str]]:
    """(id, text) pairs of random words with some non-ASCII, deterministic per seed."""
    rng = random.Random(seed)
    docs = []
    for i in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 60))]
        if i % 5 == 0:
            words.insert(rng.randrange(len(words)), rng.choice(UNICODE))
        docs.append((document_id(f"{prefix}-{seed}-{i}"), " ".join(words)))
    return docs


def write_docs(path: Path, docs: list[tuple[str, str | None]]) -> Path:
    """Write (id, text) rows as a curated documents Parquet file."""
    schema = document_schema()
    columns = {field.name: [None] * len(docs) for field in schema}
    columns["id"] = [d[0] for d in docs]
    columns["text"] = [d[1] for d in docs]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pydict(columns, schema=schema), path, compression="zstd")
    return path


def train_small(tmp_path: Path, docs, vocab_size: int = 400, **config) -> tuple[Path, object]:
    write_docs(tmp_path / "corpus" / "documents" / "part-00000.parquet", docs)
    out = tmp_path / "tokenizer.json"
    report = train_tokenizer(str(tmp_path / "corpus"), TokenizerConfig(vocab_size=vocab_size, **config), out)
    return out, report


def test_trained_tokenizer_is_byte_level_and_reports_bytes_per_token(tmp_path):
    docs = make_docs(300)
    path, report = train_small(tmp_path, docs, heldout_fraction=0.2)
    tokenizer = Tokenizer.from_file(str(path))

    assert tokenizer.token_to_id(EOT_TOKEN) == 0
    assert 256 < report.vocab_size == tokenizer.get_vocab_size() <= 400  # a tiny corpus can run out of merges
    # Byte-level: text the trainer never saw still round-trips, with no unknown token.
    unseen = "Ünïcödé ✓ \x00\x7f 𝔘 ‰ — fin"
    assert tokenizer.decode(tokenizer.encode(unseen).ids) == unseen
    # add_prefix_space=False: a document's first word is not encoded as if a space preceded it.
    assert tokenizer.encode(" river").tokens[0] == "Ġriver"
    assert not tokenizer.encode("river").tokens[0].startswith("Ġ")

    expected_heldout = sum(in_validation(doc_id, 0.2) for doc_id, _ in docs)
    assert report.heldout_documents == expected_heldout > 0
    assert report.documents_trained == len(docs) - expected_heldout
    heldout_texts = [t for doc_id, t in docs if in_validation(doc_id, 0.2)]
    assert report.heldout_bytes == sum(len(t.encode()) for t in heldout_texts)
    assert report.heldout_tokens == sum(len(tokenizer.encode(t).ids) for t in heldout_texts)
    assert 1.5 < report.bytes_per_token < 10


def test_loads_in_transformers(tmp_path):
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    path, _ = train_small(tmp_path, make_docs(100))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path), eos_token=EOT_TOKEN)
    assert fast.decode(fast("river stone")["input_ids"]) == "river stone"


def test_blank_documents_are_skipped_and_counted(tmp_path):
    docs = make_docs(50) + [(document_id("e1"), ""), (document_id("e2"), " \n\t "), (document_id("e3"), None)]
    _, report = train_small(tmp_path, docs, heldout_fraction=0.0)
    assert report.documents_skipped_empty == 3
    assert report.documents_trained == 50


def test_byte_sample_respects_budget_and_ignores_file_order(tmp_path):
    docs = make_docs(200)
    budget = 4000
    write_docs(tmp_path / "a" / "x.parquet", docs[:120])
    write_docs(tmp_path / "a" / "y.parquet", docs[120:])
    shuffled = docs[:]
    random.Random(1).shuffle(shuffled)
    write_docs(tmp_path / "b" / "p.parquet", shuffled[:50])
    write_docs(tmp_path / "b" / "q.parquet", shuffled[50:])
    config = TokenizerConfig(vocab_size=300, sample_bytes=budget, heldout_fraction=0.0)
    report_a = train_tokenizer(str(tmp_path / "a"), config, tmp_path / "a.json")
    report_b = train_tokenizer(str(tmp_path / "b"), config, tmp_path / "b.json")

    assert 0 < report_a.bytes_trained <= budget
    assert report_a.documents_not_sampled == len(docs) - report_a.documents_trained > 0
    assert (report_a.documents_trained, report_a.bytes_trained) == (report_b.documents_trained, report_b.bytes_trained)
    vocab_a = json.loads((tmp_path / "a.json").read_text())["model"]["vocab"]
    vocab_b = json.loads((tmp_path / "b.json").read_text())["model"]["vocab"]
    assert set(vocab_a) == set(vocab_b)


def test_sample_threshold_is_order_free_and_keeps_equal_keys_together():
    keys = np.array([50, 10, 40, 20, 30], dtype=np.uint64)
    sizes = np.array([5, 1, 4, 2, 3], dtype=np.int64)
    assert sample_threshold(keys, sizes, 6) == 30  # 10, 20, 30: 1 + 2 + 3 bytes
    perm = np.array([4, 2, 0, 3, 1])
    assert sample_threshold(keys[perm], sizes[perm], 6) == 30
    assert sample_threshold(keys, sizes, 0) is None
    assert sample_threshold(keys, sizes, 10**9) == 50
    # Two documents share key 20: taking one of them would make the sample depend on order.
    tied = np.array([10, 20, 20, 30], dtype=np.uint64)
    assert sample_threshold(tied, np.array([1, 2, 2, 1]), 4) == 10
    assert sample_threshold(tied, np.array([1, 2, 2, 1]), 5) == 20


def test_config_rejects_impossible_values():
    with pytest.raises(ValueError, match="vocab_size 200"):
        TokenizerConfig(vocab_size=200)
    with pytest.raises(ValueError, match="special_tokens"):
        TokenizerConfig(special_tokens=())
    with pytest.raises(ValueError, match="heldout_fraction"):
        TokenizerConfig(heldout_fraction=1.0)


def test_nothing_to_train_on_is_a_clear_error(tmp_path):
    write_docs(tmp_path / "d.parquet", [(document_id("x"), "   ")])
    with pytest.raises(ParquetInputError, match="no document to train on"):
        train_tokenizer(str(tmp_path / "d.parquet"), TokenizerConfig(vocab_size=300), tmp_path / "t.json")


# --- Parquet input ----------------------------------------------------------------


def test_resolve_inputs_dir_glob_file(tmp_path):
    a = write_docs(tmp_path / "run" / "documents" / "part-00001.parquet", make_docs(3))
    b = write_docs(tmp_path / "run" / "documents" / "part-00000.parquet", make_docs(3, seed=1))
    write_docs(tmp_path / "run" / "rejected" / "part-00000.parquet", make_docs(3, seed=2))
    assert resolve_parquet_inputs(str(tmp_path / "run")) == [str(b), str(a)]
    assert resolve_parquet_inputs(str(tmp_path / "run" / "*" / "*.parquet"))[0].endswith("documents/part-00000.parquet")
    assert resolve_parquet_inputs([str(a), str(a), str(b)]) == [str(b), str(a)]
    with pytest.raises(ParquetInputError, match="matches no files"):
        resolve_parquet_inputs(str(tmp_path / "*.nothing"))
    with pytest.raises(ParquetInputError, match="no such file"):
        resolve_parquet_inputs(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParquetInputError, match="empty: directory has no"):
        resolve_parquet_inputs(str(tmp_path / "empty"))


def test_iter_text_batches_streams_bounded_batches(tmp_path):
    a = write_docs(tmp_path / "a.parquet", make_docs(25))
    b = write_docs(tmp_path / "b.parquet", make_docs(10, seed=3))
    batches = list(iter_text_batches([str(a), str(b)], batch_rows=8))
    assert [x.num_rows for x in batches] == [8, 8, 8, 1, 8, 2]
    assert {x.path for x in batches[:4]} == {str(a)}
    assert batches[0].batch.schema.names == ["id", "text"]
    assert batches[0].column("id").to_pylist() == batches[0].pylist("id") == [i for i, _ in make_docs(25)[:8]]
    assert [t for x in batches for t in x.pylist("text")] == [t for _, t in make_docs(25) + make_docs(10, seed=3)]


def test_bad_parquet_inputs_name_the_file(tmp_path):
    no_text = tmp_path / "no_text.parquet"
    pq.write_table(pa.table({"id": ["a"], "body": ["x"]}), no_text)
    wrong_type = tmp_path / "wrong_type.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": [1]}), wrong_type)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet at all")
    rejected = tmp_path / "rejected.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": ["x"]}).replace_schema_metadata({b"winnow.schema": b"rejected"}), rejected)
    for path, message in [
        (no_text, r"missing required column\(s\) \['text'\]"),
        (wrong_type, "column 'text' has type int64, expected string"),
        (corrupt, "not a readable Parquet file"),
        (rejected, "is a Winnow 'rejected' table"),
    ]:
        with pytest.raises(ParquetInputError, match=message) as info:
            list(iter_text_batches([str(path)]))
        assert str(path) in str(info.value)


def test_split_bucket_matches_manifest_rule():
    import xxhash

    doc_id = document_id("some-record")
    assert split_bucket(doc_id) == xxhash.xxh3_64_intdigest(doc_id.encode()) % 1_000_000
    assert in_validation(doc_id, 1.0) and not in_validation(doc_id, 0.0)


# --- Command --------------------------------------------------------------------


def test_cli_trains_and_reports_user_errors(tmp_path, capsys):
    write_docs(tmp_path / "corpus" / "documents" / "part-00000.parquet", make_docs(120))
    out = tmp_path / "tok" / "tokenizer.json"
    argv = ["tokenizer", "train", "--input", str(tmp_path / "corpus"), "--vocab-size", "320", "--output", str(out)]
    assert main(argv + ["--sample-bytes", "100000", "--special-tokens", EOT_TOKEN, "<|pad|>"]) == 0
    assert "vocab 320" in capsys.readouterr().out
    tokenizer = Tokenizer.from_file(str(out))
    assert tokenizer.token_to_id("<|pad|>") == 1

    assert main(["tokenizer", "train", "--input", str(tmp_path / "nope"), "--vocab-size", "320", "--output", str(out)]) == 2
    assert "nope: no such file or directory" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 not parquet")  # exists, but is unusable input: exit 3, not 2
    assert main(["tokenizer", "train", "--input", str(corrupt), "--vocab-size", "320", "--output", str(out)]) == 3
    assert "corrupt.parquet: not a readable Parquet file" in capsys.readouterr().err
    assert main(argv[:-3] + ["100", "--output", str(out)]) == 2
    assert "vocab_size 100 is below 257" in capsys.readouterr().err
