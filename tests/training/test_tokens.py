"""`winnow tokenize`: shards that decode back to the documents, a stable split, merge, and refusals."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from tests.training.test_tokenizer import make_docs, write_docs
from winnow.cli import main
from winnow.curation.ids import document_id
from winnow.training.parquet_text import ParquetInputError, in_validation
from winnow.training.shard_format import ShardFormatError, open_shard, read_header
from winnow.training.config import EOT_TOKEN
from winnow.training.tokenizer import TokenizerConfig, train_tokenizer
from winnow.training.data import load_split
from winnow.training.tokens import (
    MANIFEST_FILE,
    TokenDirError,
    load_manifest,
    merge_manifests,
    sha256_file,
    tokenize_corpus,
)


@pytest.fixture(scope="module")
def tokenizer_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tok")
    write_docs(root / "train.parquet", make_docs(200, seed=99))
    out = root / "tokenizer.json"
    train_tokenizer(str(root / "train.parquet"), TokenizerConfig(vocab_size=400, heldout_fraction=0.0), out)
    return out


def decode_split(token_dir: Path, split: str) -> dict[str, list[str]]:
    """Texts per source file, in order, recovered from the shards by cutting at each EOT."""
    manifest = load_manifest(token_dir)
    tokenizer = Tokenizer.from_file(str(token_dir / manifest["tokenizer"]["file"]))
    eot = manifest["tokenizer"]["eot_id"]
    streams: dict[str, list[np.ndarray]] = {}
    for shard in manifest["splits"][split]["shards"]:  # sorted by name: per source, in order
        streams.setdefault(shard["source"], []).append(np.asarray(open_shard(token_dir / shard["file"])))
    texts = {}
    for source, parts in streams.items():
        tokens = np.concatenate(parts)
        assert tokens[-1] == eot, "every document, including the last, ends with EOT"
        cuts = np.flatnonzero(tokens == eot)
        starts = np.concatenate([[0], cuts[:-1] + 1])
        texts[source] = [tokenizer.decode(tokens[a:b].tolist(), skip_special_tokens=False) for a, b in zip(starts, cuts)]
    return texts


def expected_split(docs, val_fraction: float, split: str) -> list[str]:
    want_val = split == "val"
    return [t for doc_id, t in docs if t and not t.isspace() and in_validation(doc_id, val_fraction) == want_val]


def test_shards_decode_back_to_the_documents(tmp_path, tokenizer_path):
    docs = make_docs(120) + [(document_id("lit"), f"a page quoting {EOT_TOKEN} literally")]
    source = write_docs(tmp_path / "in" / "documents" / "part-00000.parquet", docs)
    out = tmp_path / "tokens"
    # 97-token shards force documents to straddle shard boundaries.
    manifest = tokenize_corpus(str(tmp_path / "in"), tokenizer_path, out, val_fraction=0.25, workers=1, shard_tokens=97)

    for split in ("train", "val"):
        assert decode_split(out, split) == {str(source): expected_split(docs, 0.25, split)}
        entry = manifest["splits"][split]
        shards = entry["shards"]
        assert len(shards) > 1 and all(s["tokens"] == 97 for s in shards[:-1])
        headers = [read_header(out / s["file"]) for s in shards]
        assert [h.document_count for h in headers] == [s["documents"] for s in shards]
        assert entry["tokens"] == sum(h.token_count for h in headers)
        assert entry["documents"] == len(expected_split(docs, 0.25, split))
        assert entry["utf8_bytes"] == sum(len(t.encode()) for t in expected_split(docs, 0.25, split))
        assert all(sha256_file(out / s["file"]) == s["sha256"] for s in shards)
        assert list(load_split(out, split).paths) == [out / s["file"] for s in shards]
    assert manifest == json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["dtype"] == "uint16" and read_header(out / shards[0]["file"]).token_bytes == 2
    assert manifest["tokenizer"]["sha256"] == sha256_file(tokenizer_path) == sha256_file(out / "tokenizer.json")
    assert manifest["tokenizer"]["eot_id"] == 0 and manifest["sources"][0]["rows"] == len(docs)


def test_header_validation_rejects_truncated_and_foreign_files(tmp_path, tokenizer_path):
    write_docs(tmp_path / "in.parquet", make_docs(40))
    out = tmp_path / "tokens"
    tokenize_corpus(str(tmp_path / "in.parquet"), tokenizer_path, out, val_fraction=0.0, workers=1)
    shard = load_split(out, "train").paths[0]
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(shard.read_bytes()[:-3])
    with pytest.raises(ShardFormatError, match="truncated"):
        read_header(truncated)
    with pytest.raises(ShardFormatError, match="not a Winnow token shard"):
        read_header(tmp_path / "in.parquet")
    short = tmp_path / "short.bin"
    short.write_bytes(b"WINNOWTK")
    with pytest.raises(ShardFormatError, match="shorter than"):
        open_shard(short)


def test_split_is_stable_under_reordering_and_added_data(tmp_path, tokenizer_path):
    docs = make_docs(150)
    a = write_docs(tmp_path / "x" / "a.parquet", docs[:80])
    b = write_docs(tmp_path / "x" / "b.parquet", docs[80:])
    one = tokenize_corpus([str(a), str(b)], tokenizer_path, tmp_path / "one", val_fraction=0.2, workers=1)
    two = tokenize_corpus([str(b), str(a)], tokenizer_path, tmp_path / "two", val_fraction=0.2, workers=1)
    assert one == two

    # The same documents, shuffled into other files, plus new ones: old documents keep their split.
    shuffled = docs[:]
    random.Random(7).shuffle(shuffled)
    more = make_docs(60, seed=5)
    write_docs(tmp_path / "y" / "p.parquet", shuffled[:70] + more)
    write_docs(tmp_path / "y" / "q.parquet", shuffled[70:])
    three = tokenize_corpus(str(tmp_path / "y"), tokenizer_path, tmp_path / "three", val_fraction=0.2, workers=1)
    val_before = {t for texts in decode_split(tmp_path / "one", "val").values() for t in texts}
    val_after = {t for texts in decode_split(tmp_path / "three", "val").values() for t in texts}
    old_texts = {t for _, t in docs}
    assert val_before and val_after & old_texts == val_before
    assert val_after - old_texts == set(expected_split(more, 0.2, "val"))
    assert three["splits"]["val"]["documents"] == len(val_after)


def test_vocabulary_over_65535_uses_uint32(tmp_path):
    # Every pair of byte symbols merged: 256 + 65,536 + EOT ids, built directly instead of trained.
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    merges = []
    for a in alphabet:
        for b in alphabet:
            vocab[a + b] = len(vocab)
            merges.append((a, b))
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([EOT_TOKEN])
    big = tmp_path / "big.json"
    tokenizer.save(str(big))

    docs = make_docs(30)
    write_docs(tmp_path / "in.parquet", docs)
    out = tmp_path / "tokens"
    manifest = tokenize_corpus(str(tmp_path / "in.parquet"), big, out, val_fraction=0.0, workers=1, shard_tokens=500)
    assert manifest["tokenizer"]["vocab_size"] == 256 + 65_536 + 1
    assert manifest["tokenizer"]["eot_id"] == 65_792
    assert manifest["dtype"] == "uint32"
    shards = load_split(out, "train").paths
    assert read_header(shards[0]).token_bytes == 4
    assert max(int(open_shard(p).max()) for p in shards) > 65_535
    assert list(decode_split(out, "train").values()) == [[t for _, t in docs]]


def test_blank_documents_are_skipped_and_counted(tmp_path, tokenizer_path):
    docs = make_docs(20) + [(document_id("e1"), ""), (document_id("e2"), "  \n\t"), (document_id("e3"), None)]
    write_docs(tmp_path / "in.parquet", docs)
    manifest = tokenize_corpus(str(tmp_path / "in.parquet"), tokenizer_path, tmp_path / "t", val_fraction=0.0, workers=1)
    assert manifest["sources"][0]["documents_skipped_empty"] == 3
    assert manifest["sources"][0]["rows"] == 23
    assert manifest["splits"]["train"]["documents"] == 20
    assert list(decode_split(tmp_path / "t", "train").values()) == [[t for _, t in docs[:20]]]


def test_existing_output_is_refused_unless_overwrite(tmp_path, tokenizer_path):
    write_docs(tmp_path / "in.parquet", make_docs(20))
    out = tmp_path / "tokens"
    tokenize_corpus(str(tmp_path / "in.parquet"), tokenizer_path, out, workers=1)
    with pytest.raises(TokenDirError, match="is a token directory; pass --overwrite"):
        tokenize_corpus(str(tmp_path / "in.parquet"), tokenizer_path, out, workers=1)

    # An interrupted run: shards but no manifest. Refused too, and not loadable.
    (out / MANIFEST_FILE).unlink()
    with pytest.raises(TokenDirError, match="manifest.json: missing"):
        load_manifest(out)
    with pytest.raises(TokenDirError, match="an interrupted run"):
        tokenize_corpus(str(tmp_path / "in.parquet"), tokenizer_path, out, workers=1)

    (out / "train-stale-00000.bin").write_bytes(b"old")
    (out / "notes.txt").write_text("user file")
    manifest = tokenize_corpus(str(tmp_path / "in.parquet"), tokenizer_path, out, workers=1, overwrite=True)
    assert not (out / "train-stale-00000.bin").exists()
    assert (out / "notes.txt").read_text() == "user file"
    assert load_manifest(out) == manifest


def test_merge_combines_disjoint_directories(tmp_path, tokenizer_path):
    docs_a, docs_b = make_docs(50, seed=1), make_docs(50, seed=2)
    # Same file name in two curation outputs: shard names collide and must be renamed on merge.
    a = write_docs(tmp_path / "run1" / "documents" / "part-00000.parquet", docs_a)
    b = write_docs(tmp_path / "run2" / "documents" / "part-00000.parquet", docs_b)
    ma = tokenize_corpus(str(a), tokenizer_path, tmp_path / "A", val_fraction=0.2, workers=1, shard_tokens=300)
    mb = tokenize_corpus(str(b), tokenizer_path, tmp_path / "B", val_fraction=0.2, workers=1, shard_tokens=300)
    merged = merge_manifests([tmp_path / "A", tmp_path / "B"], tmp_path / "M")
    together = tokenize_corpus([str(a), str(b)], tokenizer_path, tmp_path / "T", val_fraction=0.2, workers=1, shard_tokens=300)

    for split in ("train", "val"):
        for key in ("tokens", "documents", "utf8_bytes"):
            assert merged["splits"][split][key] == ma["splits"][split][key] + mb["splits"][split][key] == together["splits"][split][key]
        files = [s["file"] for s in merged["splits"][split]["shards"]]
        assert len(files) == len(set(files)) == len(ma["splits"][split]["shards"]) + len(mb["splits"][split]["shards"])
        assert all(sha256_file(p) == s["sha256"] for p, s in zip(load_split(tmp_path / "M", split).paths, merged["splits"][split]["shards"]))
    assert decode_split(tmp_path / "M", "val") == {str(a): expected_split(docs_a, 0.2, "val"), str(b): expected_split(docs_b, 0.2, "val")}
    assert [s["path"] for s in merged["sources"]] == sorted([str(a), str(b)])

    with pytest.raises(TokenDirError, match="was already encoded"):
        merge_manifests([tmp_path / "A", tmp_path / "T"], tmp_path / "M2")
    other = tokenize_corpus(str(a), tokenizer_path, tmp_path / "C", val_fraction=0.5, workers=1)
    assert other["split"]["val_fraction"] == 0.5
    with pytest.raises(TokenDirError, match="split rule differs"):
        merge_manifests([tmp_path / "B", tmp_path / "C"], tmp_path / "M3")


def test_process_pool_gives_the_same_result_as_one_process(tmp_path, tokenizer_path):
    for i in range(3):
        write_docs(tmp_path / "in" / f"part-{i:05d}.parquet", make_docs(40, seed=10 + i))
    serial = tokenize_corpus(str(tmp_path / "in"), tokenizer_path, tmp_path / "serial", workers=1, shard_tokens=400)
    pooled = tokenize_corpus(str(tmp_path / "in"), tokenizer_path, tmp_path / "pooled", workers=2, shard_tokens=400)
    assert serial == pooled


def test_bad_input_parquet_is_a_clear_error(tmp_path, tokenizer_path):
    no_text = tmp_path / "no_text.parquet"
    pq.write_table(pa.table({"id": ["a"], "body": ["x"]}), no_text)
    with pytest.raises(ParquetInputError, match=r"no_text.parquet: missing required column\(s\) \['text'\]"):
        tokenize_corpus(str(no_text), tokenizer_path, tmp_path / "t1")
    null_id = tmp_path / "null_id.parquet"
    pq.write_table(pa.table({"id": pa.array([None], pa.string()), "text": ["words"]}), null_id)
    with pytest.raises(ParquetInputError, match="null_id.parquet: a document has a null id"):
        tokenize_corpus(str(null_id), tokenizer_path, tmp_path / "t2", workers=1)
    with pytest.raises(TokenDirError, match="not a loadable tokenizer.json"):
        tokenize_corpus(str(null_id), no_text, tmp_path / "t3")


def test_cli_tokenize_merge_and_user_errors(tmp_path, tokenizer_path, capsys):
    write_docs(tmp_path / "r1" / "documents" / "part-00000.parquet", make_docs(30, seed=1))
    write_docs(tmp_path / "r2" / "documents" / "part-00001.parquet", make_docs(30, seed=2))
    common = ["--tokenizer", str(tokenizer_path), "--workers", "1", "--val-fraction", "0.1"]
    assert main(["tokenize", "--input", str(tmp_path / "r1"), "--output", str(tmp_path / "A"), *common]) == 0
    assert "shard(s) from 30 documents" in capsys.readouterr().out
    assert main(["tokenize", "--input", str(tmp_path / "r2"), "--output", str(tmp_path / "B"), *common]) == 0
    assert main(["tokenize", "merge", "--input", str(tmp_path / "A"), str(tmp_path / "B"), "--output", str(tmp_path / "M")]) == 0
    assert "from 60 documents" in capsys.readouterr().out
    assert load_manifest(tmp_path / "M")["splits"]["train"]["documents"] == 60 - load_manifest(tmp_path / "M")["splits"]["val"]["documents"]

    assert main(["tokenize", "--input", str(tmp_path / "r1"), "--output", str(tmp_path / "A"), *common]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"garbage")
    assert main(["tokenize", "--input", str(bad), "--output", str(tmp_path / "Z"), *common]) == 3  # unusable input
    assert f"{bad}: not a readable Parquet file" in capsys.readouterr().err
    assert main(["tokenize", "--input", str(tmp_path / "absent"), "--output", str(tmp_path / "Z"), *common]) == 2
    assert "absent: no such file or directory" in capsys.readouterr().err  # a path that names nothing
    not_tokenizer = tmp_path / "tokenizer.json"
    not_tokenizer.write_text("{not json")
    common_bad = ["--tokenizer", str(not_tokenizer), "--workers", "1"]
    assert main(["tokenize", "--input", str(tmp_path / "r1"), "--output", str(tmp_path / "Z"), *common_bad]) == 3
    assert "not a loadable tokenizer.json" in capsys.readouterr().err
    common_absent = ["--tokenizer", str(tmp_path / "absent.json"), "--workers", "1"]
    assert main(["tokenize", "--input", str(tmp_path / "r1"), "--output", str(tmp_path / "Z"), *common_absent]) == 2
    assert "absent.json: not a loadable tokenizer.json" in capsys.readouterr().err
    # merge: an input merged twice is a wrong request (2), not bad data
    assert main(["tokenize", "merge", "--input", str(tmp_path / "A"), str(tmp_path / "A"), "--output", str(tmp_path / "M2")]) == 2
    assert "merging would count it twice" in capsys.readouterr().err
    assert main(["tokenize", "--input", str(bad)]) == 2
    assert "missing --tokenizer, --output" in capsys.readouterr().err
