"""Every step a recipe can name, behind one protocol (`curation.types.StepSpec`).

Extraction and language identification are steps like the filters: they take
a `Document` and answer a `StepResult`. Extraction turns HTML into text (and
passes text that is not HTML through untouched); language identification
sets `StepResult.language`. `build_steps` builds a recipe's steps once per
worker; `BoundStep.run` then runs one step over a batch of documents, whether
the step scores one document at a time or many at once.
"""
from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from winnow.curation.extract import EXTRACT_REASONS, ExtractConfig, Extractor
from winnow.curation.extract_pool import warm_up
from winnow.curation.filters import FILTER_STEPS
from winnow.curation.langid import LANGUAGE_REASONS, LanguageConfig, LanguageIdentifier, decide_language
from winnow.curation.stages import STAGE_EXTRACT, STAGE_LANGUAGE
from winnow.curation.triage import Rejection
from winnow.curation.types import Document, StepResult, StepSpec


class ExtractStep:
    """The configured extraction engine on HTML documents; text that is not HTML passes through.

    With `chained` (set by `build_steps`), its child also runs the recipe
    steps after it, and the record path hands it the whole document through
    `run_chain` instead of calling those steps itself.
    """

    def __init__(self, config: ExtractConfig, extractor: Extractor | None = None, chained: Sequence[Any] = ()):
        self._extractor = extractor or Extractor(config)
        self.chained = tuple(chained)  # the recipe steps its child runs, this one first (empty: none)

    def run_chain(self, state: Any, mode: str, length: int) -> Any:
        """The document in flight through the first `length` chained steps (see document_chain.py)."""
        return self._extractor.run_chain(state, mode, length)

    def __call__(self, doc: Document) -> StepResult:
        if not doc.is_html:
            return StepResult({})
        extracted = self._extractor.extract(doc.text, url=doc.url)
        if isinstance(extracted, Rejection):
            return StepResult({}, reason=extracted.reason, detail=extracted.detail)
        return StepResult({}, text=extracted)

    def close(self) -> None:
        self._extractor.close()


class _LanguageStep:
    """fastText language ID; the verdict is `decide_language` on the prediction."""

    def __init__(self, config: LanguageConfig):
        self._config = config
        self._identifier = LanguageIdentifier(config)

    def __call__(self, doc: Document) -> StepResult:
        language, score = self._identifier.predict(doc.text)
        verdict = decide_language(self._config, {"language": language, "language_score": score})
        reason, detail = verdict if verdict else (None, "")
        return StepResult({}, reason=reason, detail=detail, language=language, language_score=score)


EXTRACT_STEP = StepSpec(
    name=STAGE_EXTRACT,
    config_type=ExtractConfig,
    build=ExtractStep,
    signals=(),
    reasons=EXTRACT_REASONS,
    edits_text=True,
    description="Main-text extraction from HTML (engine: trafilatura, trafilatura_fast or resiliparse), bounded per document.",
)

LANGUAGE_STEP = StepSpec(
    name=STAGE_LANGUAGE,
    config_type=LanguageConfig,
    build=_LanguageStep,
    signals=(),
    reasons=LANGUAGE_REASONS,
    decide=decide_language,
    recompute_fields=("model_path", "max_chars"),
    description="fastText language identification (lid.176 by default); keeps the languages listed.",
)

_CORE_STEPS: dict[str, StepSpec] = {STAGE_EXTRACT: EXTRACT_STEP, STAGE_LANGUAGE: LANGUAGE_STEP}


def step_spec(name: str) -> StepSpec:
    """The StepSpec of a step name (extract, language, or any registered filter)."""
    spec = _CORE_STEPS.get(name) or FILTER_STEPS.get(name)
    if spec is None:
        from winnow.curation.classifier.step import classifier_spec, is_classifier_step_name

        if is_classifier_step_name(name):
            return classifier_spec(name)  # `classifier_<name>`: one spec (and score column) per classifier
        raise KeyError(f"unknown step {name!r}; known steps are {sorted(all_step_names())}")
    return spec


def all_step_names() -> list[str]:
    return [*_CORE_STEPS, *FILTER_STEPS]


def signal_columns(step_names: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The `(column, kind)` signal columns a list of steps writes, in step order."""
    return tuple(column for name in step_names for column in step_spec(name).signals)


@dataclass
class BoundStep:
    """One recipe step, built and ready to run on this worker."""

    name: str
    spec: StepSpec
    config: Any
    fn: Any

    def run(self, docs: Sequence[Document]) -> list[StepResult | BaseException]:
        """One result per document; an exception costs only the document that raised it.

        A batch step that raises is retried one document at a time, so the
        document that caused it is the only one that fails.
        """
        if self.spec.batch:
            try:
                results = list(self.fn(list(docs)))
            except Exception:  # noqa: BLE001 - isolate the culprit below
                return [self._one_of_batch(doc) for doc in docs]
            if len(results) != len(docs):
                error = RuntimeError(f"step {self.name} returned {len(results)} results for {len(docs)} documents")
                return [error] * len(docs)
            return results
        return [self.run_one(doc) for doc in docs]

    def run_one(self, doc: Document) -> StepResult | BaseException:
        """The result of a per-document step on one document (an exception is the result)."""
        try:
            return self.fn(doc)
        except Exception as exc:  # noqa: BLE001 - becomes this document's error row
            return exc

    def _one_of_batch(self, doc: Document) -> StepResult | BaseException:
        try:
            (result,) = self.fn([doc])
            return result
        except Exception as exc:  # noqa: BLE001
            return exc

    def close(self) -> None:
        close = getattr(self.fn, "close", None)
        if callable(close):
            close()


def build_steps(steps: Sequence[Any], resources: Mapping[str, Any] | None = None, chain: bool = True) -> list[BoundStep]:
    """Build each `RecipeStep` once (per worker); `resources` holds `prepare` results by step name.

    With `chain`, an extract step that runs in a child process gets the
    per-document steps after it run in that child too (document_chain.py).
    They are still built here as well: a bad setting or a missing model fails
    here, with its own message, before any child starts.
    """
    bound = []
    for index, step in enumerate(steps):
        spec = step_spec(step.name)
        chained = _chained_from(steps, index) if chain else ()
        if spec.prepare is not None:
            if resources is None or step.name not in resources:
                raise ValueError(f"step {step.name} needs its prepared resource; call prepare_resources first")
            fn = spec.build(step.config, resources[step.name])
        elif chained:
            fn = ExtractStep(step.config, Extractor(step.config, chain=chain_payload(chained)), chained)
        else:
            fn = spec.build(step.config)
        bound.append(BoundStep(step.name, spec, step.config, fn))
    return bound


def _chained_from(steps: Sequence[Any], index: int) -> Sequence[Any]:
    """The recipe steps a chain child runs for the step at `index`; empty when it runs none."""
    step = steps[index]
    if step.name != STAGE_EXTRACT or step.config.timeout_s is None:
        return ()
    length = chain_length(steps, index)
    return steps[index:index + length] if length > 1 else ()


def chain_payloads(steps: Sequence[Any]) -> list[bytes]:
    """The payload of every chain `build_steps(steps)` starts (what the fork server may build ahead)."""
    chains = (_chained_from(steps, index) for index in range(len(steps)))
    return [chain_payload(chained) for chained in chains if chained]


def warm_up_extraction(steps: Sequence[Any]) -> None:
    """Start the extraction fork server for these recipe steps: it preloads what their chain
    children need and builds their chains once (extract_pool.warm_up)."""
    warm_up([step.name for step in steps], chain_payloads(steps))


def chain_length(steps: Sequence[Any], start: int) -> int:
    """How many steps from `steps[start]` (an extract step) its child can run: the extraction and
    the per-document steps after it, up to the first batch step or step with a prepared resource
    (those run in the parent, where the batch and the resource are)."""
    length = 1
    for step in steps[start + 1:]:
        spec = step_spec(step.name)
        if spec.batch or spec.prepare is not None or step.name == STAGE_EXTRACT:
            break
        length += 1
    return length


def chain_payload(steps: Sequence[Any]) -> bytes:
    """What a chain child builds its steps from: the recipe steps, extract first, pickled
    (their configs are frozen dataclasses)."""
    return pickle.dumps(tuple(steps), protocol=pickle.HIGHEST_PROTOCOL)


def prepare_resources(steps: Sequence[Any], open_binary: Any) -> dict[str, Any]:
    """Run every step's `prepare` once; the result is what `build_steps` needs on each worker."""
    return {
        step.name: step_spec(step.name).prepare(step.config, open_binary)
        for step in steps
        if step_spec(step.name).prepare is not None
    }
