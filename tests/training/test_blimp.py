"""BLiMP scoring: loading, the whole-sentence rule, summaries, and parity with
lm-evaluation-harness's blimp task definition on an exported tiny model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.training.evaluate_helpers import make_model, make_tokenizer, use_offline_harness
from winnow.training.blimp import BlimpError, BlimpPair, evaluate_blimp, load_blimp, pair_outcomes, summarize_outcomes
from winnow.training.export import export_model

PARADIGMS = {
    "tiny_agreement": ("morphology", [
        ("The cat sits on the mat.", "The cat sit on the mat."),
        ("The dogs run to the sea.", "The dogs runs to the sea."),
        ("A fox jumps over the dog.", "A fox jump over the dog."),
        ("The rivers return as rain.", "The rivers returns as rain."),
        ("The dog watches the cat.", "The dog watch the cat."),
    ]),
    "tiny_island": ("syntax", [
        ("Who did the cat see?", "Who did the cat see the dog?"),
        ("What runs to the sea?", "What runs to the sea the river?"),
        ("Which fox jumps over the dog?", "Which fox over the dog jumps?"),
        ("What makes better models?", "What better makes models?"),
    ]),
}
SHARED_BLIMP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "eval" / "blimp"


def _write_blimp(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for uid, (field, rows) in PARADIGMS.items():
        lines = [json.dumps({"sentence_good": g, "sentence_bad": b, "UID": uid, "field": field, "pairID": str(i)}) for i, (g, b) in enumerate(rows)]
        (directory / f"{uid}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("blimp")
    tokenizer, tokenizer_path = make_tokenizer(root)
    model = make_model(tokenizer.get_vocab_size(), seed=5, max_seq_len=64)
    return root, tokenizer, tokenizer_path, model, _write_blimp(root / "blimp")


def test_loads_pairs_in_file_order_and_subsets(setup):
    *_, blimp_dir = setup
    pairs = load_blimp(blimp_dir)
    assert [p.paradigm for p in pairs] == ["tiny_agreement"] * 5 + ["tiny_island"] * 4
    assert pairs[0] == BlimpPair("The cat sits on the mat.", "The cat sit on the mat.", "tiny_agreement", "morphology")
    assert len(load_blimp(blimp_dir, per_paradigm=2)) == 4


def test_bad_files_are_errors(tmp_path):
    with pytest.raises(BlimpError, match="no BLiMP"):
        load_blimp(tmp_path)
    (tmp_path / "x.jsonl").write_text(json.dumps({"sentence_good": "a", "UID": "x", "field": "f"}) + "\n")
    with pytest.raises(BlimpError, match=r"x.jsonl:1: missing or non-string sentence_bad"):
        load_blimp(tmp_path)


def _sentence_logprob(model, tokenizer, text: str) -> float:
    ids = [tokenizer.token_to_id("<|endoftext|>")] + tokenizer.encode(" " + text, add_special_tokens=False).ids
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids[:-1]]), torch.tensor([ids[1:]]))
    logp = torch.log_softmax(logits[0].double(), dim=-1)
    return float(sum(logp[i, ids[i + 1]] for i in range(len(ids) - 1)))


def test_a_pair_is_right_when_the_whole_good_sentence_is_more_likely(setup):
    _, tokenizer, _, model, blimp_dir = setup
    pairs = load_blimp(blimp_dir)
    expected = [_sentence_logprob(model, tokenizer, p.good) >= _sentence_logprob(model, tokenizer, p.bad) for p in pairs]
    assert pair_outcomes(model, tokenizer, pairs, batch_size=3) == expected
    assert 0 < sum(expected) < len(expected)  # the random model gets some right and some wrong


def test_summary_is_the_mean_over_paradigms_and_per_field():
    pairs = [BlimpPair("g", "b", "p1", "syntax")] * 4 + [BlimpPair("g", "b", "p2", "syntax")] * 2 + [BlimpPair("g", "b", "p3", "semantics")] * 2
    right = [True, True, True, False, False, False, True, True]
    s = summarize_outcomes(pairs, right)
    assert s["paradigms"] == {"p1": 0.75, "p2": 0.0, "p3": 1.0}
    assert s["acc"] == pytest.approx((0.75 + 0.0 + 1.0) / 3)
    assert s["pair_acc"] == pytest.approx(5 / 8)
    assert s["fields"] == {"semantics": 1.0, "syntax": pytest.approx(0.375)}


def test_shared_blimp_has_67_paradigms():
    if not SHARED_BLIMP.is_dir():
        pytest.skip(f"{SHARED_BLIMP} is absent (the shared BLiMP data)")
    pairs = load_blimp(SHARED_BLIMP, per_paradigm=2)
    assert len({p.paradigm for p in pairs}) == 67 and len(pairs) == 134
    assert {p.field for p in pairs} >= {"syntax", "morphology", "semantics"}


def _task_yaml(directory: Path, uid: str, data_file: Path) -> None:
    # The harness's blimp template (dataset_path nyu-mll/blimp) pointed at a local file.
    (directory / f"{uid}.yaml").write_text(
        f"task: blimp_{uid}\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    train: {data_file}\n"
        "validation_split: train\n"
        "output_type: multiple_choice\n"
        "doc_to_text: ''\n"
        "doc_to_target: 0\n"
        "doc_to_choice: '{{[sentence_good, sentence_bad]}}'\n"
        "num_fewshot: 0\n"
        "metric_list:\n  - metric: acc\n",
        encoding="utf-8",
    )


@pytest.mark.slow
def test_parity_with_lm_evaluation_harness(tmp_path, setup, monkeypatch):
    use_offline_harness(monkeypatch, tmp_path)
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from winnow.training.lm_eval_adapter import harness_results

    _, tokenizer, tokenizer_path, model, blimp_dir = setup
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    for uid in PARADIGMS:
        _task_yaml(tasks_dir, uid, blimp_dir / f"{uid}.jsonl")
    ours = evaluate_blimp(model, tokenizer, load_blimp(blimp_dir), device="cpu")
    hf = HFLM(pretrained=str(export_model(model, tokenizer_path, tmp_path / "hf")), device="cpu", batch_size=4, dtype="float32")
    names = [f"blimp_{uid}" for uid in PARADIGMS]
    output = lm_eval.simple_evaluate(model=hf, tasks=names, task_manager=TaskManager(include_path=str(tasks_dir)), log_samples=False)
    harness = harness_results(output)
    for uid in PARADIGMS:
        assert harness[f"blimp_{uid}"]["acc"] == pytest.approx(ours["paradigms"][uid], abs=1e-12), uid
    assert 0 < ours["pair_acc"] < 1
