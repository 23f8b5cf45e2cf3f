"""The transformers backend on a tiny randomly initialised BERT built in tmp_path."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="the classify extra (transformers) is not installed")
torch = pytest.importorskip("torch", reason="torch is not installed")

sys.path.insert(0, str(Path(__file__).parent))
from classifier_models import BAD_WORDS, GOOD_WORDS, sentences, write_tiny_transformer  # noqa: E402

from winnow.curation.classifier.fasttext_backend import ClassifierError  # noqa: E402
from winnow.curation.classifier.step import CLASSIFIER_BELOW_THRESHOLD, ClassifierConfig, classifier_spec  # noqa: E402
from winnow.curation.types import Document  # noqa: E402

TEXTS = sentences(GOOD_WORDS, 5, 0) + sentences(BAD_WORDS, 4, 1) + ["", "unknownword " * 100]


def _bare_scores(folder: Path, label_index: int | None) -> list[float]:
    """The same model, one text at a time, without the step: the reference."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True).eval()
    out = []
    with torch.no_grad():
        for text in TEXTS:
            logits = model(**tokenizer(text, return_tensors="pt", truncation=True, max_length=64)).logits[0]
            out.append(float(logits[0]) if label_index is None else float(torch.softmax(logits, -1)[label_index]))
    return out


def test_regression_head_scores_are_the_logit_and_match_a_bare_loop(tmp_path):
    folder = write_tiny_transformer(tmp_path / "edu", labels=None)
    spec = classifier_spec("classifier_edu")
    config = ClassifierConfig(model=str(folder), threshold=0.0, batch_size=4, max_length=64, device="cpu", threads=1)
    resolved = spec.prepare(config, None)
    assert resolved.backend == "transformers"
    results = spec.build(config, resolved)([Document(text=t) for t in TEXTS])
    scores = [r.signals["classifier_edu_score"] for r in results]
    # Batching pads; a padded row must score like the text alone.
    assert scores == pytest.approx(_bare_scores(folder, None), abs=1e-5)
    for score, result in zip(scores, results):
        assert result.reason == (CLASSIFIER_BELOW_THRESHOLD if score < 0.0 else None)


def test_classification_head_scores_the_configured_label_probability(tmp_path):
    folder = write_tiny_transformer(tmp_path / "cls", labels=("low", "high", "mid"), seed=1)
    spec = classifier_spec("classifier")
    config = ClassifierConfig(model=str(folder), label="high", batch_size=3, max_length=64, device="cpu")
    results = spec.build(config)([Document(text=t) for t in TEXTS])
    scores = [r.signals["classifier_score"] for r in results]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == pytest.approx(_bare_scores(folder, 1), abs=1e-5)


def test_label_errors_name_the_model_and_its_labels(tmp_path):
    cls = write_tiny_transformer(tmp_path / "cls", labels=("low", "high"))
    spec = classifier_spec("classifier")
    with pytest.raises(ClassifierError, match="no label 'edu'.*'high', 'low'"):
        spec.prepare(ClassifierConfig(model=str(cls), label="edu"), None)
    with pytest.raises(ClassifierError, match="set label"):
        spec.prepare(ClassifierConfig(model=str(cls)), None)
    reg = write_tiny_transformer(tmp_path / "reg", labels=None)
    with pytest.raises(ClassifierError, match="regression head"):
        spec.prepare(ClassifierConfig(model=str(reg), label="high"), None)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(ClassifierError, match="cannot read .*config.json"):
        spec.prepare(ClassifierConfig(model=str(tmp_path / "broken"), backend="transformers"), None)
