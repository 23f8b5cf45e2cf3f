"""Review labels as classifier training sources (`winnow classifier train --labels`).

good is positive, bad is negative, skip is ignored. It lives in review, over
the classifier's `LoadedSource`, because curation never imports review.
"""
from __future__ import annotations

from pathlib import Path

from winnow.curation.classifier.fasttext_backend import ClassifierConfigError, ClassifierInputError
from winnow.curation.classifier.train import NEGATIVE, POSITIVE, LoadedSource, file_digest
from winnow.review.labels import read_labels, review_dir
from winnow.review.source import load_index, load_texts


def load_review_labels(output_dir: str) -> tuple[LoadedSource, LoadedSource, dict[str, int]]:
    """(positives, negatives, counts) from `winnow review` labels of a Winnow output.

    good is positive, bad is negative, skip is ignored; a document that
    reviewers labelled both good and bad is left out (counted as conflicting).
    """
    folder = Path(output_dir)
    if not folder.is_dir():
        raise ClassifierConfigError(f"labels source not found: {output_dir}")
    try:
        table = read_labels(folder)
    except Exception as exc:  # LabelsError and corrupt files: the message names the file
        raise ClassifierInputError(f"labels source {output_dir}: {exc}") from None
    verdicts: dict[str, set[str]] = {}
    for row in table.select(["id", "label"]).to_pylist():
        verdicts.setdefault(str(row["id"]), set()).add(row["label"])
    counts = {"labelled": len(verdicts), "skip": 0, "conflicting": 0, "text_missing": 0}
    wanted: dict[str, str] = {}
    for doc_id, labels in verdicts.items():
        useful = labels - {"skip"}
        if not useful:
            counts["skip"] += 1
        elif len(useful) > 1:
            counts["conflicting"] += 1
        else:
            wanted[doc_id] = POSITIVE if useful == {"good"} else NEGATIVE
    if not wanted:
        raise ClassifierInputError(f"labels source {output_dir}: no document labelled good or bad in {review_dir(folder)}")
    try:
        records = [r for r in load_index(folder).records if r.id in wanted]
        texts = load_texts(records)
    except Exception as exc:  # ReviewInputError, schema mismatches: the message names the file
        raise ClassifierInputError(f"labels source {output_dir}: {exc}") from None
    positives = LoadedSource(output_dir, POSITIVE, "review labels (good)")
    negatives = LoadedSource(output_dir, NEGATIVE, "review labels (bad)")
    for doc_id, role in sorted(wanted.items()):
        text = texts.get(doc_id)
        if not text:
            counts["text_missing"] += 1
            continue
        (positives if role == POSITIVE else negatives).texts.append(text)
    files = [file_digest(p) for p in sorted(review_dir(folder).glob("*.parquet"))]
    positives.files = negatives.files = files
    return positives, negatives, counts
