"""Exact evaluation: loss, perplexity and bits per byte against a hand
computation, token directories, raw text and the `winnow evaluate` command."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.cpu_load import HANG_GUARD_S
from tests.training.evaluate_helpers import CORPUS, make_model, make_tokenizer, write_run, write_token_dir
from winnow.cli import main
from winnow.training.data import TokenDataError
from winnow.training.evaluate import (
    encode_documents,
    evaluate_split,
    evaluate_text,
    evaluate_tokens,
    iter_text_source,
)

SEQ_LEN = 8


def hand_loss_sum(model, tokens: np.ndarray, seq_len: int) -> float:
    """Each target predicted by its own forward pass over the window context
    it has under the stride-seq_len rule, log-softmax written out by hand."""
    total = 0.0
    with torch.no_grad():
        for i in range(1, len(tokens)):
            window_start = ((i - 1) // seq_len) * seq_len
            context = torch.tensor(tokens[window_start:i], dtype=torch.long)[None]
            logits = model(context)[0][0, -1].double()
            log_probs = logits - torch.log(torch.exp(logits - logits.max()).sum()) - logits.max()
            total -= float(log_probs[int(tokens[i])])
    return total


@pytest.fixture(scope="module")
def tokenizer_and_path(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def model(tokenizer_and_path):
    return make_model(tokenizer_and_path[0].get_vocab_size())


def test_evaluate_tokens_matches_hand_computation(model):
    tokens = np.random.default_rng(0).integers(0, model.config.vocab_size, size=37).astype(np.uint16)
    result = evaluate_tokens(model, tokens, SEQ_LEN, batch_size=3, device="cpu")
    expected = hand_loss_sum(model, tokens, SEQ_LEN)
    assert result.tokens == len(tokens) - 1
    assert result.loss_sum_nats == pytest.approx(expected, rel=1e-5)
    assert result.loss == pytest.approx(expected / (len(tokens) - 1), rel=1e-5)
    assert result.perplexity == pytest.approx(math.exp(expected / (len(tokens) - 1)), rel=1e-5)


def test_evaluate_tokens_is_independent_of_batching_and_sharding(model):
    tokens = np.random.default_rng(1).integers(0, model.config.vocab_size, size=50).astype(np.uint16)
    whole = evaluate_tokens(model, tokens, SEQ_LEN, batch_size=16, device="cpu")
    one_by_one = evaluate_tokens(model, tokens, SEQ_LEN, batch_size=1, device="cpu")
    pieces = evaluate_tokens(model, [tokens[:5], tokens[5:5], tokens[5:29], tokens[29:]], SEQ_LEN, 4, "cpu")
    assert one_by_one.loss_sum_nats == pytest.approx(whole.loss_sum_nats, rel=1e-5)
    assert pieces.loss_sum_nats == pytest.approx(whole.loss_sum_nats, rel=1e-5)
    assert whole.tokens == one_by_one.tokens == pieces.tokens == 49


def test_max_tokens_caps_predicted_tokens(model):
    tokens = np.random.default_rng(2).integers(0, model.config.vocab_size, size=40).astype(np.uint16)
    capped = evaluate_tokens(model, tokens, SEQ_LEN, 2, "cpu", max_tokens=10)
    assert capped.tokens == 10
    assert capped.loss_sum_nats == pytest.approx(hand_loss_sum(model, tokens[:11], SEQ_LEN), rel=1e-5)


def test_evaluation_restores_training_mode(model):
    model.train()
    try:
        evaluate_tokens(model, np.arange(20, dtype=np.uint16), SEQ_LEN, 2, "cpu")
        assert model.training
    finally:
        model.eval()


def test_evaluate_split_is_exact_and_agrees_with_text(tmp_path, tokenizer_and_path, model):
    tokenizer, tokenizer_path = tokenizer_and_path
    val_docs = [CORPUS[0], CORPUS[2], CORPUS[3]]
    manifest = write_token_dir(
        tmp_path / "tokens", tokenizer, tokenizer_path, {"train": [[CORPUS[1]]], "val": [val_docs[:2], val_docs[2:]]}
    )
    result = evaluate_split(model, tmp_path / "tokens", "val", SEQ_LEN, batch_size=4, device="cpu")
    val = manifest["splits"]["val"]
    assert result["exact"] is True
    assert result["tokens"] == val["tokens"]  # the leading EOT makes every split token a prediction
    assert result["bytes"] == val["utf8_bytes"]
    assert result["bits_per_byte"] == pytest.approx(result["loss_sum_nats"] / (math.log(2) * val["utf8_bytes"]))

    stream = encode_documents(tokenizer, val_docs).tokens
    assert result["loss_sum_nats"] == pytest.approx(hand_loss_sum(model, stream, SEQ_LEN), rel=1e-5)
    text = evaluate_text(model, tokenizer, val_docs, SEQ_LEN, batch_size=4, device="cpu")
    for key in ("loss", "perplexity", "bits_per_byte", "tokens", "bytes"):
        assert text[key] == pytest.approx(result[key], rel=1e-6)
    assert text["documents"] == 3

    partial = evaluate_split(model, tmp_path / "tokens", "val", SEQ_LEN, 4, "cpu", max_tokens=10)
    assert partial["exact"] is False and partial["tokens"] == 10
    assert partial["bytes"] == pytest.approx(val["utf8_bytes"] * 10 / val["tokens"])


def test_evaluate_split_errors_name_the_directory(tmp_path, tokenizer_and_path, model):
    with pytest.raises(TokenDataError, match="manifest"):
        evaluate_split(model, tmp_path, "val")
    tokenizer, tokenizer_path = tokenizer_and_path
    write_token_dir(tmp_path / "tokens", tokenizer, tokenizer_path, {"train": [[CORPUS[1]]], "val": []})
    with pytest.raises(TokenDataError, match="empty"):
        evaluate_split(model, tmp_path / "tokens", "val")


def test_text_max_tokens_counts_whole_and_cut_documents(tokenizer_and_path, model):
    tokenizer, _ = tokenizer_and_path
    first = len(tokenizer.encode(CORPUS[0]).ids) + 1  # with its EOT
    second = len(tokenizer.encode(CORPUS[1]).ids) + 1
    whole = evaluate_text(model, tokenizer, CORPUS, SEQ_LEN, 4, "cpu", max_tokens=first)
    assert (whole["documents"], whole["tokens"], whole["exact"]) == (1, first, True)
    assert whole["bytes"] == len(CORPUS[0].encode("utf-8"))

    cut = evaluate_text(model, tokenizer, CORPUS, SEQ_LEN, 4, "cpu", max_tokens=first + 3)
    assert (cut["documents"], cut["tokens"], cut["exact"]) == (2, first + 3, False)
    assert cut["bytes"] == pytest.approx(len(CORPUS[0].encode("utf-8")) + len(CORPUS[1].encode("utf-8")) * 3 / second)
    stream = encode_documents(tokenizer, CORPUS).tokens
    assert cut["loss_sum_nats"] == pytest.approx(hand_loss_sum(model, stream[: first + 4], SEQ_LEN), rel=1e-5)


def test_literal_end_of_text_in_a_document_is_plain_text(tokenizer_and_path):
    tokenizer, _ = tokenizer_and_path
    tokens = encode_documents(tokenizer, ["a <|endoftext|> b"]).tokens
    eot = tokenizer.token_to_id("<|endoftext|>")
    assert list(tokens).count(eot) == 2  # the leading one and the one after the document
    assert tokenizer.encode_special_tokens is False  # the caller's tokenizer is left as it was


def test_txt_source_is_one_document(tmp_path):
    path = tmp_path / "held-out.txt"
    path.write_text("First paragraph.\n\nSecond paragraph.\n", encoding="utf-8")
    assert list(iter_text_source(str(path))) == ["First paragraph.\n\nSecond paragraph.\n"]
    with pytest.raises(ValueError, match="no such text file"):
        list(iter_text_source(str(tmp_path / "missing.txt")))


def test_evaluate_command_writes_table_and_json(tmp_path, tokenizer_and_path, model, capsys):
    tokenizer, tokenizer_path = tokenizer_and_path
    run = write_run(tmp_path / "run", model, tokenizer_path)
    write_token_dir(tmp_path / "tokens", tokenizer, tokenizer_path, {"train": [[CORPUS[1]]], "val": [[CORPUS[0]]]})
    text = tmp_path / "held-out.txt"
    text.write_text(CORPUS[2], encoding="utf-8")
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"ctx": "The cat sat on the", "endings": ["mat.", "sea."], "label": 0}) + "\n")
    out = tmp_path / "results.json"
    status = main(["evaluate", "--run", str(run), "--data", str(tmp_path / "tokens"), "--tasks", str(tasks),
                   "builtin:copy", "--json", str(out), "--device", "cpu"])
    assert status == 0
    results = json.loads(out.read_text())
    direct = evaluate_split(model, tmp_path / "tokens", "val", device="cpu")
    assert results["data"]["loss"] == pytest.approx(direct["loss"], rel=1e-6)
    assert set(results["tasks"]) == {"tasks", "builtin:copy"}
    assert results["tasks"]["builtin:copy"]["examples"] == 200
    printed = capsys.readouterr().out
    assert "bits/byte" in printed and "acc_norm" in printed

    assert main(["evaluate", "--run", str(run), "--text", str(text), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["text"]["bytes"] == len(CORPUS[2].encode("utf-8"))


def test_evaluate_command_user_errors(tmp_path, tokenizer_and_path, model, capsys):
    tokenizer, tokenizer_path = tokenizer_and_path
    run = write_run(tmp_path / "run", model, tokenizer_path)
    assert main(["evaluate", "--run", str(run)]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(tmp_path / "nope"), "--tasks", "builtin:copy"]) == 2
    assert "no such run directory" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(run), "--tasks", "builtin:nope"]) == 2
    assert "unknown built-in task" in capsys.readouterr().err

    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other_tok = other_dir / "tokenizer.json"
    other_tok.write_text(tokenizer_path.read_text() + "\n", encoding="utf-8")  # same vocabulary, another file
    write_token_dir(tmp_path / "tokens", tokenizer, other_tok, {"val": [[CORPUS[0]]]})
    assert main(["evaluate", "--run", str(run), "--data", str(tmp_path / "tokens")]) == 2
    assert "another tokenizer" in capsys.readouterr().err


def test_evaluate_exit_status_says_wrong_argument_or_unusable_input(tmp_path, tokenizer_and_path, model, capsys):
    # Exit 2: what was asked for names nothing; exit 3: it exists but cannot be used (core/errors.py).
    _, tokenizer_path = tokenizer_and_path
    run = write_run(tmp_path / "run", model, tokenizer_path)
    assert main(["evaluate", "--run", str(run), "--tasks", str(tmp_path / "absent.jsonl")]) == 2
    assert "absent.jsonl: cannot read task file" in capsys.readouterr().err
    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text('{"ctx": "a"\n', encoding="utf-8")
    assert main(["evaluate", "--run", str(run), "--tasks", str(malformed)]) == 3
    assert "malformed.jsonl:1: not valid JSON" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(run), "--text", str(tmp_path / "absent.txt")]) == 2
    assert "absent.txt: no such text file" in capsys.readouterr().err
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    assert main(["evaluate", "--run", str(run), "--text", str(latin1)]) == 3
    assert "latin1.txt: not UTF-8 text" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(run), "--tasks", "builtin:copy", "--checkpoint", "best"]) == 2
    assert "the run has no best checkpoint" in capsys.readouterr().err
    for checkpoint in (run / "checkpoints").glob("step-*.pt"):
        checkpoint.write_bytes(b"not a checkpoint")
    assert main(["evaluate", "--run", str(run), "--tasks", "builtin:copy"]) == 3
    assert "cannot read checkpoint (truncated or corrupt?)" in capsys.readouterr().err


def test_importing_the_command_module_imports_neither_torch_nor_beam():
    # A fresh interpreter: this test process has long imported torch.
    check = (
        "import sys, winnow.cli.evaluate, winnow.training.mc_tasks\n"
        "print(sorted(m for m in ('torch', 'apache_beam') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_parquet_source_skips_blank_documents(tmp_path, tokenizer_and_path, model, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "curated" / "documents").mkdir(parents=True)
    texts = [CORPUS[0], "   ", None, CORPUS[1]]
    pq.write_table(pa.table({"id": ["a", "b", "c", "d"], "text": texts}), tmp_path / "curated" / "documents" / "part-0.parquet")
    assert list(iter_text_source(str(tmp_path / "curated"))) == [CORPUS[0], CORPUS[1]]

    _, tokenizer_path = tokenizer_and_path
    run = write_run(tmp_path / "run", model, tokenizer_path)
    out = tmp_path / "r.json"
    assert main(["evaluate", "--run", str(run), "--text", str(tmp_path / "curated"), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["text"]["documents"] == 2
    assert main(["evaluate", "--run", str(run), "--text", str(tmp_path / "nothing-here")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_empty_val_split_does_not_hide_task_results(tmp_path, tokenizer_and_path, model, capsys):
    tokenizer, tokenizer_path = tokenizer_and_path
    run = write_run(tmp_path / "run", model, tokenizer_path)
    write_token_dir(tmp_path / "tokens", tokenizer, tokenizer_path, {"train": [[CORPUS[1]]], "val": []})
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"ctx": "The cat sat on the", "endings": ["mat.", "sea."], "label": 0}) + "\n")
    out = tmp_path / "results.json"
    assert main(["evaluate", "--run", str(run), "--data", str(tmp_path / "tokens"), "--tasks", str(tasks),
                 "--json", str(out), "--device", "cpu"]) == 0
    results = json.loads(out.read_text())
    assert "data" not in results and results["tasks"]["tasks"]["examples"] == 1
    assert "empty" in capsys.readouterr().err
    # Alone, an empty split is still an error.
    assert main(["evaluate", "--run", str(run), "--data", str(tmp_path / "tokens"), "--device", "cpu"]) == 3  # an empty split is unusable input


@pytest.mark.slow
def test_evaluate_command_runs_lm_eval_tasks_from_an_include_path(tmp_path, tokenizer_and_path, model, capsys, monkeypatch):
    pytest.importorskip("lm_eval", reason="lm-evaluation-harness is not installed (the eval extra)")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    tokenizer, tokenizer_path = tokenizer_and_path
    run = write_run(tmp_path / "run", model, tokenizer_path)
    rows = [{"ctx": "The cat sat on the", "endings": ["mat.", "sea."], "label": 0},
            {"ctx": "The dog sat on the", "endings": ["log.", "hills", "rain"], "label": 0}]
    data = tmp_path / "mc.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    (tasks_dir / "mc.yaml").write_text(
        f"task: local_mc\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
        "output_type: multiple_choice\ndoc_to_text: '{{ctx}}'\ndoc_to_choice: '{{endings}}'\ndoc_to_target: '{{label}}'\n"
        "metric_list:\n  - metric: acc\n  - metric: acc_norm\n  - metric: acc_bytes\n",
        encoding="utf-8",
    )
    out = tmp_path / "results.json"
    assert main(["evaluate", "--run", str(run), "--tasks", str(data), "--lm-eval-tasks", "local_mc",
                 "--include-path", str(tasks_dir), "--json", str(out), "--device", "cpu"]) == 0
    results = json.loads(out.read_text())
    harness, ours = results["lm_eval"]["local_mc"], results["tasks"]["mc"]
    assert harness["examples"] == 2
    for metric in ("acc", "acc_norm", "acc_bytes"):
        assert harness[metric] == pytest.approx(ours[metric], abs=1e-12)
        assert harness[f"{metric}_stderr"] == pytest.approx(ours[f"{metric}_stderr"], abs=1e-9)
    assert "lm-evaluation-harness" in capsys.readouterr().out

    assert main(["evaluate", "--run", str(run), "--lm-eval-tasks", "no_such_task", "--include-path", str(tasks_dir)]) == 2
    assert "no_such_task" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(run), "--lm-eval-tasks", "local_mc", "--include-path", str(tmp_path / "nope")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(run), "--tasks", str(data), "--include-path", str(tasks_dir)]) == 2
    assert "--include-path is for --lm-eval-tasks" in capsys.readouterr().err
