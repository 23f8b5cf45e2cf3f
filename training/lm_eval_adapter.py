"""Run lm-evaluation-harness in-process on a Winnow model held in memory.

`WinnowLM` is the thin model wrapper the harness's Python API needs: it
encodes strings with the run's tokenizer and scores token requests with
`evaluate.continuation_scores`; everything else (task YAMLs, datasets,
few-shot contexts, HellaSwag's preprocessing, LAMBADA's last word, metric
definitions, aggregation, standard errors) is the harness's own code, run by
`lm_eval.simple_evaluate`.

Requests are the same ones lm-eval's `hf` model scores on an export of the
run (`add_bos_token` false, end-of-text as the prefix token, contexts
truncated from the left to the model's max_seq_len), so the numbers agree
with `lm_eval --model hf --model_args pretrained=EXPORT_DIR` (see
docs/evaluation.md). Needs the `eval` extra (lm-eval); it runs offline:
HF_DATASETS_OFFLINE and HF_HUB_OFFLINE are set before the harness loads.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

from winnow.training.evaluate import continuation_scores, eot_id_of, literal_special_tokens
from winnow.core.errors import ConfigurationError

OFFLINE_ENV = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
# Keys of a harness result row that are bookkeeping, not metrics.
_NON_METRIC_KEYS = ("alias", "name", "sample_len", "sample_count")


class LmEvalError(ConfigurationError):
    """lm-evaluation-harness is missing, or a task cannot be found or loaded; the message says which."""


def _require_lm_eval() -> Any:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import lm_eval
        from lm_eval.api.model import TemplateLM
    except ImportError:
        raise LmEvalError("lm-evaluation-harness is not installed; install it with: pip install 'winnow[eval]'") from None
    return lm_eval, TemplateLM


def make_lm(model: nn.Module, tokenizer: Any, batch_size: int = 16, device: torch.device | str | None = None) -> Any:
    """An lm-eval `LM` scoring with `model` and `tokenizer` (a tokenizers.Tokenizer)."""
    _, TemplateLM = _require_lm_eval()
    from lm_eval import utils as lm_utils

    class WinnowLM(TemplateLM):
        def __init__(self) -> None:
            super().__init__()
            self.model, self.tokenizer = model, tokenizer
            self._score_batch, self._score_device = batch_size, device
            self._eot = eot_id_of(tokenizer)
            self.max_length = model.config.max_seq_len

        @property
        def eot_token_id(self) -> int:
            return self._eot

        @property
        def prefix_token_id(self) -> int:
            return self._eot

        def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
            # Winnow's tokenizer has no BOS post-processor: nothing is ever added.
            with literal_special_tokens(self.tokenizer):
                return list(self.tokenizer.encode(string, add_special_tokens=False).ids)

        def _loglikelihood_tokens(self, requests: Sequence[Any], disable_tqdm: bool = False, **kwargs: Any) -> list[tuple[float, bool]]:
            pairs = [(context_enc, continuation_enc) for _, context_enc, continuation_enc in requests]
            results = continuation_scores(self.model, pairs, self._score_batch, self._score_device)
            for (key, _, _), result in zip(requests, results):
                self.cache_hook.add_partial("loglikelihood", key, result)
            return results

        def loglikelihood_rolling(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[float]:
            # The harness's own windowing: every token predicted once, the
            # first after the prefix token, each window as long as the model allows.
            out = []
            for (string,) in (req.args for req in requests):
                windows = [
                    (None, *lm_utils.make_disjoint_window(w))
                    for w in lm_utils.get_rolling_token_windows(
                        token_list=self.tok_encode(string), prefix_token=self._eot, max_seq_len=self.max_length, context_len=1
                    )
                ]
                total = sum(score for score, _ in self._loglikelihood_tokens(windows))
                self.cache_hook.add_partial("loglikelihood_rolling", (string,), total)
                out.append(total)
            return out

        def generate_until(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[str]:
            from winnow.training.generate import sample_tokens

            out = []
            for context, gen_kwargs in (req.args for req in requests):
                kwargs = dict(gen_kwargs or {})
                until = kwargs.get("until") or []
                until = [until] if isinstance(until, str) else list(until)
                prompt = self.tok_encode(context) or [self._eot]
                ids, _ = sample_tokens(
                    self.model, prompt, int(kwargs.get("max_gen_toks", 256)),
                    temperature=float(kwargs.get("temperature", 0.0)) if kwargs.get("do_sample") else 0.0,
                    eot_id=self._eot,
                )
                text = self.tokenizer.decode(ids)
                for stop in until:
                    if stop and stop in text:
                        text = text[: text.index(stop)]
                self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
                out.append(text)
            return out

    return WinnowLM()


def run_lm_eval(
    lm: Any,
    tasks: Sequence[str],
    include_path: str | Path | None = None,
    limit: int | None = None,
    num_fewshot: int | None = None,
    seed: int = 1234,
) -> dict[str, dict[str, Any]]:
    """Evaluate `lm` on harness tasks by name (task YAMLs under `include_path`
    are added to the harness's own); returns {task: {metric: value, ...}} with
    the harness's `<metric>_stderr` beside each metric."""
    lm_eval, _ = _require_lm_eval()
    from lm_eval.tasks import TaskManager

    if include_path is not None and not Path(include_path).is_dir():
        raise LmEvalError(f"--include-path {include_path}: no such directory")
    manager = TaskManager(include_path=str(include_path) if include_path else None)
    names = list(tasks)
    unknown = [name for name in names if not manager.match_tasks([name])]
    if unknown:
        where = f" in {include_path} or" if include_path else ""
        raise LmEvalError(f"lm-eval task(s) {unknown} not found{where} among the harness's built-in tasks")
    try:
        output = lm_eval.simple_evaluate(
            model=lm, tasks=names, task_manager=manager, limit=limit, num_fewshot=num_fewshot,
            log_samples=False, random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed,
        )
    except (FileNotFoundError, ConnectionError, OSError, ValueError) as exc:
        # Typically a dataset that is neither a local file nor in the local HF cache (offline).
        raise LmEvalError(f"lm-eval could not load task(s) {names}: {type(exc).__name__}: {exc}") from None
    return harness_results(output)


def harness_results(output: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The harness's `results` as {task: {metric: value}} with the filter
    suffix (",none") dropped, and the few-shot count and sample count kept."""
    results: dict[str, dict[str, Any]] = {}
    for task, row in output.get("results", {}).items():
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if key in _NON_METRIC_KEYS:
                continue
            metric, _, filt = key.partition(",")
            name = metric if filt in ("", "none") else f"{metric}[{filt}]"
            clean[name] = _number(value)
        count = output.get("n-samples", {}).get(task, {})
        clean["examples"] = count.get("effective", count.get("original"))
        clean["num_fewshot"] = output.get("n-shot", {}).get(task)
        results[task] = clean
    return results


def _number(value: Any) -> Any:
    """The harness writes "N/A" for an undefined standard error; keep NaN."""
    if isinstance(value, str) and value.strip().upper() == "N/A":
        return math.nan
    return value
