"""Parity with lm-evaluation-harness on a fixed tiny model and task file.

1. Independent: the expected acc / acc_norm / acc_bytes are computed inside
   the test from transformers' LlamaForCausalLM on the exported folder, with
   the harness's definitions written out by hand (full-sequence log-softmax,
   argmax of ll, ll / characters, ll / UTF-8 bytes of the choice).
2. The harness itself: `lm_eval.simple_evaluate` with its `hf` model on the
   export, and with Winnow's in-process wrapper, on a `dataset_path: json`
   task YAML, offline; all three agree with Winnow's own scorer.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tests.training.evaluate_helpers import make_model, make_tokenizer, use_offline_harness
from winnow.training.evaluate import evaluate_multiple_choice
from winnow.training.export import export_model
from winnow.training.mc_tasks import load_mc_tasks

ROWS = [
    {"ctx": "The cat sat on the", "endings": ["mat.", "sea, over the hills.", "log", "rain"], "label": 0},
    {"ctx": "A quick brown fox", "endings": ["jumps over the lazy dog", "runs", "sat on the mat.", "is"], "label": 0},
    {"ctx": "Rivers run to the sea;", "endings": ["the sea returns as rain", "cat", "dog", "caf\u00e9 r\u00eave"], "label": 0},
    {"ctx": "Curated text makes", "endings": ["better models", "raw web pages do.", "the", "over"], "label": 1},
    {"ctx": "The dog sat on the ", "endings": ["log.", "mat", "hills and rivers", "fox"], "label": 2},
    {"ctx": "Quick", "endings": ["brown", "a very long answer that runs on past the window " * 3, "x", "y"], "label": 3},
]
TOLERANCE = 1e-4  # the tiny model's ll gaps are far larger; only float noise differs


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    tokenizer, tokenizer_path = make_tokenizer(root)
    model = make_model(tokenizer.get_vocab_size(), seed=11, max_seq_len=16)
    task_file = root / "tiny_mc.jsonl"
    task_file.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return root, tokenizer, tokenizer_path, model, task_file


def _independent_metrics(export_dir, rows) -> dict[str, float]:
    """The harness's definitions, written out, on transformers' forward pass."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    hf = LlamaForCausalLM.from_pretrained(str(export_dir), dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(str(export_dir))
    max_len = tok.model_max_length
    hits = {"acc": [], "acc_norm": [], "acc_bytes": []}
    for row in rows:
        lls = []
        for choice in row["endings"]:
            context, continuation = row["ctx"], " " + choice
            stripped = context.rstrip()
            context, continuation = stripped, context[len(stripped):] + continuation
            whole = tok.encode(context + continuation, add_special_tokens=False)
            n_context = len(tok.encode(context, add_special_tokens=False))
            n_cont = len(whole) - n_context
            seq = whole[-(max_len + 1):]  # left truncation
            scored = min(n_cont, len(seq) - 1)
            with torch.no_grad():
                logits = hf(input_ids=torch.tensor([seq[:-1]])).logits[0].double()
            log_probs = torch.log_softmax(logits, dim=-1)
            positions = range(len(seq) - 1 - scored, len(seq) - 1)
            lls.append(sum(float(log_probs[p, seq[p + 1]]) for p in positions))
        lls = np.array(lls)
        label = row["label"]
        hits["acc"].append(int(np.argmax(lls)) == label)
        hits["acc_norm"].append(int(np.argmax(lls / [len(c) for c in row["endings"]])) == label)
        hits["acc_bytes"].append(int(np.argmax(lls / [len(c.encode("utf-8")) for c in row["endings"]])) == label)
    return {k: sum(v) / len(v) for k, v in hits.items()}


def test_scores_equal_an_independent_computation(tmp_path, setup):
    pytest.importorskip("transformers", reason="transformers is not installed (the dev extra installs it)")
    _, tokenizer, tokenizer_path, model, task_file = setup
    export_dir = export_model(model, tokenizer_path, tmp_path / "hf")
    ours = evaluate_multiple_choice(model, tokenizer, load_mc_tasks(task_file), device="cpu")
    expected = _independent_metrics(export_dir, ROWS)
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name
    n = len(ROWS)
    for name in expected:
        p = ours[name]
        assert ours[f"{name}_stderr"] == pytest.approx(math.sqrt(p * (1 - p) * n / (n - 1) / n))


def _write_task_yaml(directory, task_file) -> None:
    # A generic multiple-choice task over a local JSONL file, no network.
    (directory / "tiny_mc.yaml").write_text(
        "task: tiny_mc\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {task_file}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        "doc_to_text: '{{ctx}}'\n"
        "doc_to_choice: '{{endings}}'\n"
        "doc_to_target: '{{label}}'\n"
        "metric_list:\n"
        "  - metric: acc\n  - metric: acc_norm\n  - metric: acc_bytes\n",
        encoding="utf-8",
    )


@pytest.mark.slow
def test_lm_eval_hf_and_in_process_agree_with_winnow(tmp_path, setup, monkeypatch):
    use_offline_harness(monkeypatch, tmp_path)
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from winnow.training.lm_eval_adapter import harness_results, make_lm, run_lm_eval

    _, tokenizer, tokenizer_path, model, task_file = setup
    export_dir = export_model(model, tokenizer_path, tmp_path / "hf")
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    _write_task_yaml(tasks_dir, task_file)
    ours = evaluate_multiple_choice(model, tokenizer, load_mc_tasks(task_file), device="cpu")

    # In process, every row, the choice longer than the window included.
    in_process = run_lm_eval(make_lm(model, tokenizer, device="cpu"), ["tiny_mc"], include_path=tasks_dir)["tiny_mc"]
    for name in ("acc", "acc_norm", "acc_bytes"):
        assert in_process[name] == pytest.approx(ours[name], abs=1e-12), name
        assert in_process[f"{name}_stderr"] == pytest.approx(ours[f"{name}_stderr"], abs=1e-9)
    assert in_process["examples"] == len(ROWS)

    # lm-eval's own hf model on the export. It asserts on a choice longer than
    # max_length tokens (upstream, huggingface.py), so that row is left out here.
    short_file = tmp_path / "short.jsonl"
    short_file.write_text("".join(json.dumps(r) + "\n" for r in ROWS[:-1]), encoding="utf-8")
    short_dir = tmp_path / "short_tasks"
    short_dir.mkdir()
    _write_task_yaml(short_dir, short_file)
    ours_short = evaluate_multiple_choice(model, tokenizer, load_mc_tasks(short_file), device="cpu")
    hf = HFLM(pretrained=str(export_dir), device="cpu", batch_size=4, dtype="float32")
    assert hf.max_length == model.config.max_seq_len  # from the export's config / model_max_length
    output = lm_eval.simple_evaluate(model=hf, tasks=["tiny_mc"], task_manager=TaskManager(include_path=str(short_dir)), log_samples=False)
    harness = harness_results(output)["tiny_mc"]
    for name in ("acc", "acc_norm", "acc_bytes"):
        assert harness[name] == pytest.approx(ours_short[name], abs=1e-12), name
        assert harness[f"{name}_stderr"] == pytest.approx(ours_short[f"{name}_stderr"], abs=1e-9)


@pytest.mark.slow
def test_rolling_bits_per_byte_agree_with_the_harness(tmp_path, setup, monkeypatch):
    pytest.importorskip("lm_eval", reason="lm-evaluation-harness is not installed (the eval extra)")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    from winnow.training.lm_eval_adapter import make_lm, run_lm_eval

    pytest.importorskip("accelerate", reason="lm-eval's hf model needs accelerate")
    _, tokenizer, tokenizer_path, model, _ = setup
    text = "The cat sat on the mat. The dog sat on the log. Rivers run to the sea; the sea returns as rain. " * 2
    data = tmp_path / "doc.jsonl"
    data.write_text(json.dumps({"text": text}) + "\n", encoding="utf-8")
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    (tasks_dir / "tiny_ppl.yaml").write_text(
        "task: tiny_ppl\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n"
        "test_split: test\noutput_type: loglikelihood_rolling\n"
        "doc_to_text: ''\ndoc_to_target: '{{text}}'\n"
        "metric_list:\n  - metric: bits_per_byte\n",
        encoding="utf-8",
    )
    in_process = run_lm_eval(make_lm(model, tokenizer, device="cpu"), ["tiny_ppl"], include_path=tasks_dir)["tiny_ppl"]
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from winnow.training.lm_eval_adapter import harness_results

    export_dir = export_model(model, tokenizer_path, tmp_path / "hf")
    hf = HFLM(pretrained=str(export_dir), device="cpu", batch_size=4, dtype="float32")
    output = lm_eval.simple_evaluate(model=hf, tasks=["tiny_ppl"], task_manager=TaskManager(include_path=str(tasks_dir)), log_samples=False)
    harness = harness_results(output)["tiny_ppl"]
    # The text is several windows long, so the harness's rolling windows are exercised.
    assert len(tokenizer.encode(text).ids) > 3 * model.config.max_seq_len
    assert in_process["bits_per_byte"] == pytest.approx(harness["bits_per_byte"], rel=1e-6)
