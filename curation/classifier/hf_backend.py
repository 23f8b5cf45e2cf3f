"""Transformers scoring: a local Hugging Face sequence-classification folder.

The FineWeb-Edu classifier's layout is the reference: `config.json`, the
weights and the tokenizer files in one folder, loaded with
`AutoModelForSequenceClassification` and `AutoTokenizer` from local files only
(nothing is downloaded at run time). A regression head (`num_labels == 1`,
FineWeb-Edu's 0-5 educational score) scores a text by its logit; a
classification head by the softmax probability of the configured label.
torch and transformers are imported only when a model is loaded.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from winnow.curation.classifier.fasttext_backend import ClassifierConfigError, ClassifierInputError

DEVICE_AUTO = "auto"


def read_hf_config(folder: str) -> dict[str, Any]:
    """config.json of a model folder; errors name the folder."""
    if not os.path.exists(folder):
        raise ClassifierConfigError(f"classifier model not found: {folder}")
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        raise ClassifierInputError(f"classifier model folder {folder} has no config.json: not a Hugging Face model")
    return read_json_object(path)


def read_json_object(path: str) -> dict[str, Any]:
    """A JSON file that must hold an object (a model's config.json, a model card)."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ClassifierInputError(f"cannot read {path}: {exc}") from exc
    if not isinstance(value, dict):
        raise ClassifierInputError(f"{path} is not a JSON object")
    return value


def hf_labels(config: dict[str, Any]) -> tuple[int, dict[str, int]]:
    """(num_labels, label name -> index) from a model's config.json."""
    id2label = config.get("id2label") or {}
    num_labels = int(config.get("num_labels") or len(id2label) or 2)
    return num_labels, {str(name): int(index) for index, name in id2label.items()}


def resolve_label(folder: str, label: str | None) -> int | None:
    """The logit index to score: None for a regression head, else the label's index."""
    num_labels, by_name = hf_labels(read_hf_config(folder))
    if num_labels == 1:
        if label is not None and label not in by_name:
            raise ClassifierConfigError(
                f"classifier model {folder} has a regression head (one output); "
                f"it has no label {label!r} (leave label unset)"
            )
        return None
    if label is None:
        raise ClassifierConfigError(f"classifier model {folder} has {num_labels} labels {sorted(by_name)}; set label to one of them")
    if label not in by_name:
        raise ClassifierConfigError(f"classifier model {folder} has no label {label!r}; its labels are {sorted(by_name)}")
    return by_name[label]


def pick_device(device: str) -> str:
    import torch

    if device == DEVICE_AUTO:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class HFScorer:
    """Loaded once per worker; `score(texts)` runs the model in batches without gradients."""

    def __init__(
        self,
        folder: str,
        label: str | None,
        batch_size: int = 32,
        max_length: int = 512,
        device: str = DEVICE_AUTO,
        threads: int | None = None,
    ):
        self.folder = folder
        self.index = resolve_label(folder, label)
        self.batch_size = batch_size
        self.max_length = max_length
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # one bar per worker load is noise in pipeline logs
        if threads is not None:
            torch.set_num_threads(threads)
        self._torch = torch
        self.device = pick_device(device)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ClassifierInputError(f"cannot load transformers model {folder}: {exc}") from exc
        self._model = model.to(self.device).eval()

    def score(self, texts: Sequence[str]) -> list[float]:
        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            scores.extend(self._score_batch(list(texts[start : start + self.batch_size])))
        return scores

    def _score_batch(self, texts: list[str]) -> list[float]:
        torch = self._torch
        encoded = self._tokenizer(
            texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length
        ).to(self.device)
        with torch.inference_mode():
            logits = self._model(**encoded).logits.float()
        if self.index is None:
            return logits[:, 0].cpu().tolist()
        return torch.softmax(logits, dim=-1)[:, self.index].cpu().tolist()

    def close(self) -> None:
        self._model = None
        self._tokenizer = None
