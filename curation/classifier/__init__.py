"""Learned quality classifiers: train a fastText model, score documents, select the best.

- `normalize`: the one-line text a fastText classifier sees (training and scoring alike).
- `fasttext_backend` / `hf_backend`: load a model once and score batches of texts.
- `train`: `winnow classifier train` (sources, balancing, held-out metrics, model.json).
- `step`: the `classifier` recipe step (a batch StepSpec) and its threshold rules.

Nothing here imports torch, transformers or fasttext at import time: the
backends import them when a model is loaded.
"""
