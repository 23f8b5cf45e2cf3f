"""`winnow classifier train`: sources, balancing, determinism, metrics and model.json."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from classifier_models import BAD_WORDS, GOOD_WORDS, sentences, train_tiny_fasttext, write_corpus  # noqa: E402

from winnow.curation.classifier.fasttext_backend import ClassifierError  # noqa: E402
from winnow.curation.classifier.train import (  # noqa: E402
    NEGATIVE,
    POSITIVE,
    TrainSettings,
    build_examples,
    holdout_metrics,
    load_source,
    train_classifier,
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_single_thread_gives_identical_model(tmp_path):
    a = train_tiny_fasttext(tmp_path / "a", seed=3)
    b = train_tiny_fasttext(tmp_path / "b", seed=3)
    c = train_tiny_fasttext(tmp_path / "c", seed=4)
    assert _sha(a) == _sha(b)
    assert _sha(a) != _sha(c)
    card_a = json.loads((a.parent / "model.json").read_text())
    card_b = json.loads((b.parent / "model.json").read_text())
    assert card_a["metrics"] == card_b["metrics"] and card_a["model_sha256"] == _sha(a)


def test_model_json_records_sources_counts_settings_metrics_and_labels(tmp_path):
    model = train_tiny_fasttext(tmp_path, seed=0)
    card = json.loads((model.parent / "model.json").read_text())
    assert card["labels"] == {"positive": "__label__hq", "negative": "__label__cc"}
    assert card["normalization"] == {"lowercase": False, "max_chars": 100_000}
    assert card["settings"]["word_ngrams"] == 2 and card["settings"]["seed"] == 0 and card["settings"]["threads"] == 1
    roles = [s["role"] for s in card["sources"]]
    assert roles == [POSITIVE, NEGATIVE]
    good = tmp_path / "data" / "good.txt"
    assert card["sources"][0]["files"] == [{"path": str(good), "sha256": _sha(good), "bytes": good.stat().st_size}]
    assert card["sources"][0]["documents"] == 120
    counts = card["counts"]
    assert counts["per_class_after_balancing"] == 120
    assert counts["holdout"] == 24 and counts["train"] == 216  # 12 per class held out
    metrics = card["metrics"]
    assert metrics["roc_auc"] > 0.95 and metrics["f1"] > 0.9  # the vocabularies do not overlap
    assert sum(row["count"] for row in metrics["calibration"]) == 24
    assert card["software"]["fasttext"].startswith("fasttext-numpy2")


def test_classes_are_balanced_deduplicated_and_conflicts_dropped():
    settings = TrainSettings(seed=1, holdout_fraction=0.25)
    positives = sentences(GOOD_WORDS, 40, 0) + ["shared text", "shared text", "  "]
    negatives = sentences(BAD_WORDS, 10, 1) + ["shared\ntext"]
    examples = build_examples(positives, negatives, settings)
    counts = examples.counts
    assert counts["in_both_classes_dropped"] == 1  # "shared text" after normalization
    assert counts[POSITIVE]["duplicates"] == 1 and counts[POSITIVE]["empty"] == 1
    assert counts["per_class_after_balancing"] == 10
    labels = [label for label, _ in examples.train + examples.holdout]
    assert labels.count(1) == labels.count(0) == 10
    assert sorted(label for label, _ in examples.holdout) == [0, 0, 0, 1, 1, 1]  # stratified, round(0.25 * 10)
    assert "shared text" not in {line for _, line in examples.train + examples.holdout}
    assert build_examples(positives, negatives, settings).train == examples.train  # seeded


def test_too_few_examples_is_an_error_naming_the_counts():
    with pytest.raises(ClassifierError, match="1 positive and 5 negative"):
        build_examples(["only one"], sentences(BAD_WORDS, 5, 0), TrainSettings())


def test_every_source_kind_loads_and_names_its_files(tmp_path):
    good, bad = write_corpus(tmp_path, n=5)
    assert len(load_source(str(good), POSITIVE).texts) == 5
    assert len(load_source(str(good), POSITIVE, text_format="file").texts) == 1
    assert len(load_source(str(bad), NEGATIVE).texts) == 5
    table = pa.table({"id": ["a", "b"], "text": ["first document", "second document"]})
    pq.write_table(table, tmp_path / "one.parquet")
    assert load_source(str(tmp_path / "one.parquet"), POSITIVE).texts == ["first document", "second document"]
    output = tmp_path / "run"
    (output / "documents").mkdir(parents=True)
    pq.write_table(table, output / "documents" / "part-0.parquet")
    source = load_source(str(output), POSITIVE)
    assert source.kind.startswith("winnow output") and len(source.texts) == 2
    assert source.files[0]["path"].endswith("part-0.parquet")


def test_bad_sources_are_clear_errors(tmp_path):
    with pytest.raises(ClassifierError, match="positive source not found: .*missing.txt"):
        load_source(str(tmp_path / "missing.txt"), POSITIVE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClassifierError, match="no documents/\\*.parquet"):
        load_source(str(tmp_path / "empty"), POSITIVE)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ClassifierError, match="blank.txt has no text"):
        load_source(str(blank), NEGATIVE)
    junk = tmp_path / "junk.jsonl"
    junk.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(ClassifierError, match="junk.jsonl has no text.*first problem"):
        load_source(str(junk), NEGATIVE)
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "nocol.parquet")
    with pytest.raises(ClassifierError, match="nocol.parquet"):
        load_source(str(tmp_path / "nocol.parquet"), NEGATIVE)
    warc = tmp_path / "a.warc.gz"
    warc.write_bytes(b"")
    with pytest.raises(ClassifierError, match="web archive"):
        load_source(str(warc), NEGATIVE)


def test_existing_output_is_refused(tmp_path):
    good, bad = write_corpus(tmp_path / "data", n=10)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ClassifierError, match="already exists"):
        train_classifier([load_source(str(good), POSITIVE)], [load_source(str(bad), NEGATIVE)], str(out))


def test_holdout_metrics_on_known_scores():
    metrics = holdout_metrics([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1])
    assert metrics["precision"] == 0.5 and metrics["recall"] == 0.5 and metrics["f1"] == 0.5
    assert metrics["roc_auc"] == 0.75
    rows = {tuple(r["bin"]): r for r in metrics["calibration"]}
    assert rows[(0.9, 1.0)]["count"] == 1 and rows[(0.9, 1.0)]["positive_rate"] == 1.0
    assert rows[(0.5, 0.6)]["count"] == 0 and rows[(0.6, 0.7)]["positive_rate"] == 0.0


def test_settings_are_validated():
    with pytest.raises(ValueError, match="holdout_fraction"):
        TrainSettings(holdout_fraction=1.0)
    with pytest.raises(ValueError, match="positive_label"):
        TrainSettings(positive_label="hq")
    with pytest.raises(ValueError, match="differ"):
        TrainSettings(positive_label="__label__x", negative_label="__label__x")
