"""Classifier scoring through Beam's RunInference.

`ClassifierModelHandler` wraps the `classifier` step: `load_model` builds the
same batch step the record path uses (one model per worker, on its GPU when it
has one), and `run_inference` scores a batch of `Document`s with it, so
RunInference's batching, model sharing and metrics apply while the scores and
verdicts stay exactly those of `winnow.curation.classifier.step`.

    scored = docs | RunInference(ClassifierModelHandler("classifier_edu", config, resolved))
    # -> PredictionResult(example=Document, inference=StepResult | Exception)

A batch that raises is retried one document at a time, so the inference of
the document that caused it is its exception (route it to errors/) and the
rest of the batch is still scored. For (key, Document) pairs wrap the handler
in `KeyedModelHandler`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from winnow.curation.classifier.step import ClassifierConfig, ClassifierStep, ResolvedClassifier, resolve
from winnow.curation.types import Document


class ClassifierModelHandler(ModelHandler[Document, PredictionResult, ClassifierStep]):
    """RunInference handler for one classifier step; batches of `config.batch_size` documents."""

    def __init__(self, step_name: str, config: ClassifierConfig, resolved: ResolvedClassifier | None = None):
        # Resolve at construction: a bad model fails while the pipeline is built, not on a worker.
        self._step_name = step_name
        self._config = config
        self._resolved = resolved or resolve(config)
        super().__init__(min_batch_size=1, max_batch_size=config.batch_size)

    def load_model(self) -> ClassifierStep:
        return ClassifierStep(self._step_name, self._config, self._resolved)

    def run_inference(
        self, batch: Sequence[Document], model: ClassifierStep, inference_args: dict[str, Any] | None = None
    ) -> Iterable[PredictionResult]:
        docs = list(batch)
        try:
            results: list[Any] = model(docs)
        except Exception:  # noqa: BLE001 - isolate the document that raised
            results = [self._one(model, doc) for doc in docs]
        return [PredictionResult(doc, result, self._step_name) for doc, result in zip(docs, results)]

    @staticmethod
    def _one(model: ClassifierStep, doc: Document) -> Any:
        try:
            return model([doc])[0]
        except Exception as exc:  # noqa: BLE001 - becomes this document's error row
            return exc

    def get_num_bytes(self, batch: Sequence[Document]) -> int:
        return sum(len(doc.text.encode("utf-8", "surrogatepass")) for doc in batch)

    def get_metrics_namespace(self) -> str:
        return f"winnow_{self._step_name}"


class ScoreWithClassifier(beam.PTransform):
    """Documents -> (Document, StepResult | Exception) via RunInference."""

    def __init__(self, step_name: str, config: ClassifierConfig, resolved: ResolvedClassifier | None = None):
        super().__init__(label=f"Score[{step_name}]")
        self._handler = ClassifierModelHandler(step_name, config, resolved)

    def expand(self, docs):
        return (
            docs
            | "RunInference" >> RunInference(self._handler)
            | "Unpack" >> beam.Map(lambda prediction: (prediction.example, prediction.inference))
        )
