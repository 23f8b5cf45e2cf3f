"""Multiple-choice tasks: loading (HellaSwag, aliases, ARC, PIQA), errors that
name the file and line, the synthetic generators, and scoring."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tests.training.evaluate_helpers import make_model, make_tokenizer
from winnow.training.evaluate import continuation_logprobs, continuation_scores, encode_request, evaluate_multiple_choice
from winnow.schemas.mc_tasks import MCExample
from winnow.training.mc_tasks import (
    copy_tasks,
    load_mc_tasks,
    sentence_completion_tasks,
    write_mc_tasks,
)
from winnow.training.model import IGNORE_INDEX, ModelConfig


class BigramLM(nn.Module):
    """A stand-in model: the next-token logits are a learned function of the
    current token only, so its likelihoods can be set by hand."""

    def __init__(self, vocab_size: int, max_seq_len: int = 64):
        super().__init__()
        self.config = ModelConfig(vocab_size=vocab_size, n_layer=1, n_head=1, d_model=2, max_seq_len=max_seq_len)
        self.table = nn.Parameter(torch.zeros(vocab_size, vocab_size))

    def forward(self, idx, targets=None, reduction="mean"):
        logits = self.table[idx]  # (B, T, V)
        if targets is None:
            return logits, None
        B, T = idx.shape
        loss = F.cross_entropy(logits.view(B * T, -1), targets.reshape(B * T), ignore_index=IGNORE_INDEX, reduction=reduction)
        return logits, loss.view(B, T) if reduction == "none" else loss


def write_lines(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))[0]


def test_loader_accepts_hellaswag_aliases_arc_and_piqa(tmp_path):
    path = write_lines(
        tmp_path / "t.jsonl",
        [
            {"ctx": "A man", "endings": ["runs.", "sits.", "flies."], "label": 2, "activity_label": "x"},
            {"context": "B", "choices": ["one", "two"], "gold": "1"},
            "",
            {"question": {"stem": "Sky?", "choices": [{"text": "blue", "label": "A"}, {"text": "green", "label": "B"}]}, "answerKey": "B"},
            {"goal": "Open a jar", "sol1": "twist the lid", "sol2": "eat the lid", "label": 0},
            {"question": "Sun?", "choices": {"text": ["hot", "cold"], "label": ["1", "2"]}, "answerKey": "1"},
        ],
    )
    # ARC and PIQA contexts are what lm-eval's arc_easy.yaml / piqa.yaml build.
    assert load_mc_tasks(path) == [
        MCExample("A man", ("runs.", "sits.", "flies."), 2),
        MCExample("B", ("one", "two"), 1),
        MCExample("Question: Sky?\nAnswer:", ("blue", "green"), 1),
        MCExample("Question: Open a jar\nAnswer:", ("twist the lid", "eat the lid"), 0),
        MCExample("Question: Sun?\nAnswer:", ("hot", "cold"), 0),
    ]


def test_hellaswag_rows_use_the_harness_preprocessing(tmp_path):
    pytest.importorskip("lm_eval", reason="lm-evaluation-harness is not installed (the eval extra)")
    row = {"activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he",
           "endings": ["is using wrap to wrap a pair of skis.", "starts pulling up roofing [title] on a roof."], "label": "1"}
    [example] = load_mc_tasks(write_lines(tmp_path / "hs.jsonl", [row]))
    # lm-eval's hellaswag process_docs, spelled out: label prefix, capitalised ctx_b, [title] -> ". ", brackets dropped.
    assert example == MCExample(
        "Roof shingle removal: A man is sitting on a roof. He",
        ("is using wrap to wrap a pair of skis.", "starts pulling up roofing. on a roof."),
        1,
    )


@pytest.mark.parametrize(
    "row, message",
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "must be a JSON object"),
        ({"endings": ["a", "b"], "label": 0}, "missing key 'ctx' or 'context'"),
        ({"ctx": "c", "endings": "ab", "label": 0}, "endings must be a list"),
        ({"ctx": "c", "endings": ["only one"], "label": 0}, "at least 2"),
        ({"ctx": "c", "endings": ["a", ""], "label": 0}, "non-empty"),
        ({"ctx": "c", "endings": ["a", "b"], "label": 2}, "label must be an integer index"),
        ({"ctx": "c", "endings": ["a", "b"], "label": True}, "label must be an integer index"),
        ({"question": {"stem": "q", "choices": [{"text": "a", "label": "A"}]}, "answerKey": "C"}, "answerKey 'C'"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, row, message):
    path = write_lines(tmp_path / "bad.jsonl", [{"ctx": "ok", "endings": ["a", "b"], "label": 0}, row])
    with pytest.raises(ValueError, match=message) as info:
        load_mc_tasks(path)
    assert f"{path}:2:" in str(info.value)


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="no tasks"):
        load_mc_tasks(write_lines(tmp_path / "empty.jsonl", [""]))
    with pytest.raises(ValueError, match="cannot read task file"):
        load_mc_tasks(tmp_path / "absent.jsonl")


def test_generators_are_deterministic_and_round_trip(tmp_path):
    text = " ".join(f"Sentence number {i} talks about topic {i % 7} at some length here." for i in range(40))
    first = sentence_completion_tasks([text], n_examples=10, n_choices=4, seed=3)
    assert first == sentence_completion_tasks([text], n_examples=10, n_choices=4, seed=3)
    assert first != sentence_completion_tasks([text], n_examples=10, n_choices=4, seed=4)
    for ex in first:
        assert len(ex.endings) == 4 and len(set(ex.endings)) == 4
        assert (ex.context.split(". ")[-1] + " " + ex.endings[ex.label]) in text  # the true continuation
    copies = copy_tasks(n_examples=20, seed=1)
    assert copies == copy_tasks(n_examples=20, seed=1)
    for ex in copies:
        listed = ex.context.split(": ")[1].split(". Again")[0].split()
        shown = ex.context.split("Again: ")[1].split()
        assert ex.endings[ex.label] == " ".join(listed[len(shown):]) + "."
        assert len(set(ex.endings)) == len(ex.endings)
    path = tmp_path / "copy.jsonl"
    assert write_mc_tasks(copies, path) == 20
    assert load_mc_tasks(path) == copies


def test_generator_input_errors():
    with pytest.raises(ValueError, match="usable sentences"):
        sentence_completion_tasks(["Too short."], n_choices=4)
    with pytest.raises(ValueError, match="too few orders"):
        copy_tasks(n_choices=4, list_words=4)


def test_make_tasks_command_exit_status(tmp_path, capsys):
    # A text that names nothing exits 2; one too short to cut tasks from is unusable input (3).
    from winnow.cli import main

    short = tmp_path / "short.txt"
    short.write_text("Too short.", encoding="utf-8")
    out = str(tmp_path / "tasks.jsonl")
    assert main(["make-tasks", "--text", str(tmp_path / "absent.txt"), "--output", out]) == 2
    assert "absent.txt: no such text file" in capsys.readouterr().err
    assert main(["make-tasks", "--text", str(short), "--output", out]) == 3
    assert "usable sentences; need at least 4" in capsys.readouterr().err
    assert main(["make-tasks", "--kind", "copy", "--examples", "3", "--output", out]) == 0


def test_continuation_logprobs_match_hand_log_softmax(tokenizer):
    model = make_model(tokenizer.get_vocab_size(), seed=5)
    requests = [([0, 5, 9], [17, 3]), ([0, 40], [8, 8, 100]), ([0] + list(range(1, 30)), [7])]  # the last is cropped
    scores = continuation_logprobs(model, requests, batch_size=2, device="cpu")
    max_len = model.config.max_seq_len
    for (context, continuation), score in zip(requests, scores):
        seq = (context + continuation)[-(max_len + 1):]
        with torch.no_grad():
            logits = model(torch.tensor([seq[:-1]]))[0][0].double()
        log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
        expected = sum(float(log_probs[len(seq) - 1 - len(continuation) + k, tok]) for k, tok in enumerate(continuation))
        assert score == pytest.approx(expected, rel=1e-5)


def test_forced_answer_is_chosen(tokenizer):
    """The stand-in makes each transition of the right sentence near-certain."""
    context, right, wrong = "The cat sat on the", "mat.", "sea, over the hills."
    model = BigramLM(tokenizer.get_vocab_size())
    ids = tokenizer.encode(context + " " + right).ids
    with torch.no_grad():
        for a, b in zip(ids, ids[1:]):
            model.table[a, b] = 20.0
    examples = [MCExample(context, (wrong, right), 1), MCExample(context, (right, wrong, "dog."), 0)]
    result = evaluate_multiple_choice(model, tokenizer, examples, batch_size=3, device="cpu")
    assert result == {
        "examples": 2, "acc": 1.0, "acc_norm": 1.0, "acc_bytes": 1.0, "acc_token_norm": 1.0,
        "acc_stderr": 0.0, "acc_norm_stderr": 0.0, "acc_bytes_stderr": 0.0, "acc_token_norm_stderr": 0.0,
        "chance": (1 / 2 + 1 / 3) / 2,
    }


def test_acc_norm_divides_by_characters_and_acc_bytes_by_utf8_bytes(tokenizer):
    """Uniform predictions: every token costs ln V, so ll = -tokens * ln V.
    Three choices chosen so that the three normalisations disagree: the sum
    favours the fewest tokens, per character the most characters per token,
    per UTF-8 byte the most bytes per token (multi-byte characters)."""
    model = BigramLM(tokenizer.get_vocab_size())
    context = "Look:"
    choices = ("zq", "the cat sat on the mat", "\u00e9\u00e9\u00e9\u00e9")
    eot = tokenizer.token_to_id("<|endoftext|>")
    n_tokens = [len(encode_request(tokenizer, eot, context, " " + c)[1]) for c in choices]
    lls = [-n * math.log(tokenizer.get_vocab_size()) for n in n_tokens]
    expect = {
        "acc": max(range(3), key=lambda i: lls[i]),
        "acc_norm": max(range(3), key=lambda i: lls[i] / len(choices[i])),
        "acc_bytes": max(range(3), key=lambda i: lls[i] / len(choices[i].encode("utf-8"))),
    }
    for label in range(3):
        result = evaluate_multiple_choice(model, tokenizer, [MCExample(context, choices, label)], device="cpu")
        for name, predicted in expect.items():
            assert result[name] == float(predicted == label), (name, label, n_tokens)
        assert math.isnan(result["acc_stderr"])  # one example: no standard error, as lm-eval prints N/A
    assert len(set(expect.values())) >= 2  # the premise: the definitions disagree on this example
    scores = continuation_logprobs(model, [encode_request(tokenizer, eot, context, " " + c) for c in choices])
    assert scores == pytest.approx(lls, rel=1e-6)


def test_encode_request_splits_like_the_harness(tokenizer):
    eot = tokenizer.token_to_id("<|endoftext|>")
    ids = lambda text: tokenizer.encode(text).ids  # noqa: E731
    # Trailing whitespace of the context moves to the continuation.
    assert encode_request(tokenizer, eot, "A man ", " runs") == (ids("A man"), ids("A man  runs")[len(ids("A man")):])
    context, continuation = encode_request(tokenizer, eot, "The cat", " sat")
    assert context + continuation == ids("The cat sat") and context == ids("The cat")
    # An empty context is the end-of-text token.
    assert encode_request(tokenizer, eot, "", " runs") == ([eot], ids(" runs"))


def test_long_choice_is_scored_on_the_window_without_crashing(tokenizer):
    model = make_model(tokenizer.get_vocab_size(), seed=3)
    max_len = model.config.max_seq_len
    long_choice = " ".join(["cat"] * (2 * max_len))
    example = MCExample("The", (long_choice, "dog"), 1)
    result = evaluate_multiple_choice(model, tokenizer, [example], device="cpu")
    assert result["examples"] == 1 and result["acc"] in (0.0, 1.0)
    context, continuation = encode_request(tokenizer, tokenizer.token_to_id("<|endoftext|>"), "The", " " + long_choice)
    assert len(continuation) > max_len
    [(score, greedy)] = continuation_scores(model, [(context, continuation)])
    # Only the last max_seq_len tokens fit the window; they are what is scored.
    window = (context + continuation)[-(max_len + 1):]
    with torch.no_grad():
        logits = model(torch.tensor([window[:-1]]))[0][0].double()
    log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    assert score == pytest.approx(sum(float(log_probs[k, window[k + 1]]) for k in range(max_len)), rel=1e-5)
    assert isinstance(greedy, bool)
