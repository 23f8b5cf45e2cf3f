"""`winnow classifier train` end to end, and review labels as a training source."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from classifier_models import BAD_WORDS, GOOD_WORDS, sentences, write_corpus  # noqa: E402

from winnow import schemas  # noqa: E402
from winnow.cli import main  # noqa: E402
from winnow.curation.classifier.fasttext_backend import ClassifierError  # noqa: E402
from winnow.review.classifier_labels import load_review_labels  # noqa: E402


def test_train_command_writes_model_and_card_and_prints_metrics(tmp_path, capsys):
    good, bad = write_corpus(tmp_path / "data", n=60)
    out = tmp_path / "model"
    status = main([
        "classifier", "train", "--positive", str(good), "--negative", str(bad), "--output", str(out),
        "--threads", "1", "--seed", "5", "--dim", "16", "--epoch", "10", "--lr", "0.5", "--holdout-fraction", "0.2",
    ])
    assert status == 0
    printed = capsys.readouterr().out
    assert "ROC AUC" in printed and "calibration" in printed
    card = json.loads((out / "model.json").read_text())
    assert (out / "model.bin").is_file() and card["settings"]["seed"] == 5 and card["counts"]["holdout"] == 24


def test_train_command_errors_are_one_line(tmp_path, capsys):
    good, _ = write_corpus(tmp_path / "data", n=5)
    assert main(["classifier", "train", "--positive", str(good), "--output", str(tmp_path / "m")]) == 2
    assert "at least one positive and one negative" in capsys.readouterr().err
    status = main(["classifier", "train", "--positive", str(good), "--negative", str(tmp_path / "no.txt"),
                   "--output", str(tmp_path / "m")])
    assert status == 2
    assert "negative source not found" in capsys.readouterr().err
    status = main(["classifier", "train", "--positive", str(good), "--negative", str(good),
                   "--output", str(tmp_path / "m"), "--holdout-fraction", "1.5"])
    assert status == 2 and "holdout_fraction" in capsys.readouterr().err
    # A source that exists but holds nothing to learn from is unusable input (exit 3), not a wrong path.
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    status = main(["classifier", "train", "--positive", str(good), "--negative", str(empty), "--output", str(tmp_path / "m")])
    assert status == 3
    assert "negative source" in capsys.readouterr().err


def _write_output_with_labels(folder: Path, labels: list[tuple[str, str, str]]) -> None:
    """A curate output (documents/ and rejected/) plus one review session's labels."""
    from winnow.review.labels import LABELS_PREFIX, SessionFile, label_row, review_dir

    good, bad = sentences(GOOD_WORDS, 6, 0), sentences(BAD_WORDS, 6, 1)
    docs = {"id": [f"k{i}" for i in range(6)], "text": good}
    rejected = {"id": [f"r{i}" for i in range(6)], "text": bad, "stage": ["c4"] * 6, "reason": ["c4_x"] * 6}
    for sub, columns, schema in (
        ("documents", docs, schemas.document_schema()),
        ("rejected", rejected, schemas.rejected_schema()),
    ):
        (folder / sub).mkdir(parents=True)
        rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / sub / "part-00000.parquet")
    session = SessionFile(review_dir(folder), LABELS_PREFIX, "ann", schemas.review_labels_schema())
    session.put_many(label_row(doc_id, label, "ann", None, None) for doc_id, label, _ in labels if _ == "ann")
    other = SessionFile(review_dir(folder), LABELS_PREFIX, "bob", schemas.review_labels_schema())
    other.put_many(label_row(doc_id, label, "bob", None, None) for doc_id, label, who in labels if who == "bob")


def test_review_labels_good_is_positive_bad_is_negative(tmp_path):
    labels = [(f"k{i}", "good", "ann") for i in range(5)] + [(f"r{i}", "bad", "ann") for i in range(5)]
    labels += [("k5", "skip", "ann"), ("r5", "good", "ann"), ("r5", "bad", "bob")]
    _write_output_with_labels(tmp_path / "run", labels)
    positives, negatives, counts = load_review_labels(str(tmp_path / "run"))
    assert len(positives.texts) == 5 and len(negatives.texts) == 5
    assert set(positives.texts) <= set(sentences(GOOD_WORDS, 6, 0))
    assert counts == {"labelled": 12, "skip": 1, "conflicting": 1, "text_missing": 0}
    assert positives.files and all(f["path"].endswith(".parquet") for f in positives.files)


def test_labels_source_without_labels_is_an_error(tmp_path):
    _write_output_with_labels(tmp_path / "run", [("k0", "skip", "ann")])
    with pytest.raises(ClassifierError, match="no document labelled good or bad"):
        load_review_labels(str(tmp_path / "run"))
    with pytest.raises(ClassifierError, match="labels source not found"):
        load_review_labels(str(tmp_path / "missing"))
