"""Evaluate a finished training run as `winnow run` and `winnow ablate` need it.

One call gives the validation split's loss/perplexity/bits-per-byte, optional
bits-per-byte on a held-out text, multiple-choice accuracies and a few sample
generations, as one JSON-ready dict (written to evaluate/results.json).

Task specs in the `tasks` list:
    path/to/file.jsonl     a task file (generic JSONL, HellaSwag, ARC, PIQA rows)
    builtin:copy           the built-in copy task
    sentences:val          sentence completion generated from the run's own
                           validation documents (never trained on)

The built-in tasks (BUILTIN_TASKS) are always scored besides the user's, so
every run has comparable accuracies; `builtin_tasks: false` turns them off.
`sentences:val` is skipped, with a note in `results["notes"]`, when the
validation split holds no documents, unless the user listed it (then that is
an error). `lm_eval_tasks` (with `include_path`, `lm_eval_limit`) runs
lm-evaluation-harness in process on the same model (the `eval` extra).
Accuracies carry `<metric>_stderr` (lm-eval's standard error) and `chance`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from winnow.core.config_loader import config_from_mapping, config_to_mapping
from winnow.training.config import EvaluateConfig
from winnow.core.errors import ConfigurationError

# The keys, types and defaults are EvaluateConfig's (training/config.py), declared once.
EVALUATE_KEYS = tuple(f.name for f in dataclasses.fields(EvaluateConfig))
BUILTIN_TASKS = ("builtin:copy", "sentences:val")
DEFAULT_PROMPTS = ("The", "In the")


class EvaluateSectionError(ConfigurationError):
    """The recipe's evaluate section is invalid; the message names the key."""


def validation_texts(token_dir: str | Path, limit: int = 400) -> list[str]:
    """Texts of the documents the tokenize stage put in the validation split."""
    from winnow.schemas.inputs import resolve_parquet_inputs
    from winnow.training.parquet_text import in_validation, iter_text_batches
    from winnow.training.tokens import load_manifest

    manifest = load_manifest(token_dir)
    fraction = manifest["split"]["val_fraction"]
    paths = [s["path"] for s in manifest.get("sources", [])]
    texts: list[str] = []
    for batch in iter_text_batches(resolve_parquet_inputs(paths), columns=("id", "text")):
        for doc_id, text in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist()):
            if doc_id and text and text.strip() and in_validation(doc_id, fraction):
                texts.append(text)
                if len(texts) >= limit:
                    return texts
    return texts


def _task_sets(specs: list[str], token_dir: Path, examples: int, source: str) -> list[tuple[str, list]]:
    from winnow.training.mc_tasks import load_mc_tasks, sentence_completion_tasks, synthetic_task

    sets = []
    for spec in specs:
        if spec.startswith("builtin:"):
            sets.append((spec.split(":", 1)[1], synthetic_task(spec.split(":", 1)[1], examples)))
        elif spec == "sentences:val":
            texts = validation_texts(token_dir)
            if not texts:
                raise EvaluateSectionError(f"{source}: task sentences:val needs validation documents, and the split is empty")
            sets.append(("sentences_val", sentence_completion_tasks(texts, n_examples=examples)))
        else:
            sets.append((Path(spec).stem, load_mc_tasks(spec)))
    return sets


def task_specs(section: dict[str, Any], token_dir: Path) -> tuple[list[str], list[str]]:
    """The user's tasks plus the built-in ones (unless builtin_tasks is false), and notes on skipped built-ins."""
    user = list(section.get("tasks") or [])
    if not isinstance(section.get("builtin_tasks", True), bool):
        raise EvaluateSectionError("evaluate: builtin_tasks must be true or false")
    if not section.get("builtin_tasks", True):
        return user, []
    notes, specs = [], list(user)
    for spec in BUILTIN_TASKS:
        if spec in specs:
            continue
        if spec == "sentences:val":
            from winnow.training.mc_tasks import sentence_completion_tasks

            try:
                sentence_completion_tasks(validation_texts(token_dir), n_examples=1)
            except ValueError as exc:
                notes.append(f"built-in task sentences:val skipped: the validation documents cannot make it ({exc})")
                continue
        specs.append(spec)
    return specs, notes


def _lm_eval(model: Any, tokenizer: Any, section: dict[str, Any], batch_size: int, source: str) -> dict[str, Any]:
    from winnow.training.lm_eval_adapter import LmEvalError, make_lm, run_lm_eval

    names = section["lm_eval_tasks"]
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise EvaluateSectionError(f"{source}: lm_eval_tasks must be a list of task names")
    try:
        lm = make_lm(model, tokenizer, batch_size, "cpu")
        return run_lm_eval(lm, names, section.get("include_path"), section.get("lm_eval_limit"))
    except LmEvalError as exc:
        raise EvaluateSectionError(f"{source}: {exc}") from None


def evaluate_run(run_dir: str | Path, token_dir: str | Path, section: dict[str, Any], source: str = "evaluate") -> dict[str, Any]:
    import torch

    from winnow.training.checkpoint import load_model_for_inference
    from winnow.training.evaluate import evaluate_multiple_choice, evaluate_split, evaluate_text, iter_text_source
    from winnow.training.generate import generate

    # Unknown keys, types and ranges checked, and every key present with EvaluateConfig's default.
    section = config_to_mapping(config_from_mapping(EvaluateConfig, section, source, EvaluateSectionError))
    token_dir = Path(token_dir)
    model, config, tokenizer = load_model_for_inference(run_dir, device="cpu")
    batch_size = int(section.get("batch_size", 8))
    results: dict[str, Any] = {"model": {"params": model.num_params(), "n_layer": config.n_layer, "d_model": config.d_model}}
    with torch.no_grad():
        results["val"] = evaluate_split(model, token_dir, "val", batch_size=batch_size, max_tokens=section.get("max_tokens"))
        if section.get("text"):
            text_result = evaluate_text(model, tokenizer, iter_text_source(section["text"]), batch_size=batch_size, max_tokens=section.get("max_tokens"))
            results["text"] = {**text_result, "source": section["text"]}
        tasks, notes = task_specs(section, token_dir)
        if notes:
            results["notes"] = notes
        if tasks:
            results["tasks"] = {}
            for name, examples in _task_sets(tasks, token_dir, int(section.get("task_examples", 200)), source):
                scored = evaluate_multiple_choice(model, tokenizer, examples, batch_size=batch_size)
                results["tasks"][name] = {k: v for k, v in scored.items() if isinstance(v, (int, float, str))}
        if section.get("lm_eval_tasks"):
            results["lm_eval"] = _lm_eval(model, tokenizer, section, batch_size, source)
        prompts = list(section.get("prompts") or DEFAULT_PROMPTS)
        results["generations"] = []
        for i, prompt in enumerate(prompts):
            out = generate(
                model, tokenizer, prompt,
                max_new_tokens=int(section.get("max_new_tokens", 40)),
                temperature=float(section.get("temperature", 0.8)),
                top_k=section.get("top_k", 40),
                seed=int(section.get("seed", 0)) + i,
            )
            results["generations"].append({"prompt": prompt, "completion": out.text})
    return results
