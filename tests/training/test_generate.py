"""Generation: seeded determinism, greedy decoding, top-k, end-of-text, context cropping."""
from __future__ import annotations

import pytest

from winnow.core.errors import ConfigurationError
import torch
import torch.nn as nn

from tests.training.evaluate_helpers import make_model, make_tokenizer, write_run
from winnow.cli import main
from winnow.training.generate import generate, sample_tokens
from winnow.training.model import ModelConfig


class AlwaysNext(nn.Module):
    """A stand-in that predicts token `target` with certainty after any input."""

    def __init__(self, vocab_size: int, target: int):
        super().__init__()
        self.config = ModelConfig(vocab_size=vocab_size, n_layer=1, n_head=1, d_model=2, max_seq_len=8)
        self.bias = nn.Parameter(torch.full((vocab_size,), -30.0))
        with torch.no_grad():
            self.bias[target] = 30.0

    def forward(self, idx, targets=None, reduction="mean"):
        assert idx.shape[1] <= self.config.max_seq_len, "context was not cropped"
        return self.bias.expand(idx.shape[0], idx.shape[1], -1), None


@pytest.fixture(scope="module")
def tokenizer_and_path(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def model(tokenizer_and_path):
    return make_model(tokenizer_and_path[0].get_vocab_size(), seed=3)


def test_same_seed_same_text(model):
    a, _ = sample_tokens(model, [0, 5, 6], 20, temperature=1.0, seed=11)
    b, _ = sample_tokens(model, [0, 5, 6], 20, temperature=1.0, seed=11)
    c, _ = sample_tokens(model, [0, 5, 6], 20, temperature=1.0, seed=12)
    assert a == b and len(a) == 20
    assert a != c


def test_greedy_is_argmax_and_ignores_the_seed(model):
    prompt = [0, 5, 6]
    ids = list(prompt)
    for _ in range(25):  # past max_seq_len (16): the context must be cropped
        with torch.no_grad():
            logits = model(torch.tensor([ids[-model.config.max_seq_len:]]))[0]
        ids.append(int(logits[0, -1].argmax()))
    greedy = ids[len(prompt):]
    for seed in (1, 2):
        new, _ = sample_tokens(model, prompt, 25, temperature=0, seed=seed)
        assert new == greedy
    top1, _ = sample_tokens(model, prompt, 25, temperature=1.5, top_k=1, seed=3)
    assert top1 == greedy


def test_top_k_restricts_the_candidates(model):
    prompt = [0, 9]
    with torch.no_grad():
        allowed = set(model(torch.tensor([prompt]))[0][0, -1].topk(3).indices.tolist())
    firsts = {sample_tokens(model, prompt, 1, temperature=5.0, top_k=3, seed=s)[0][0] for s in range(30)}
    assert firsts <= allowed and len(firsts) > 1


def test_stops_at_end_of_text(tokenizer_and_path):
    tokenizer, _ = tokenizer_and_path
    eot_model = AlwaysNext(tokenizer.get_vocab_size(), target=0)
    result = generate(eot_model, tokenizer, "The cat", max_new_tokens=10, temperature=1.0, seed=0)
    assert result.stopped_at_eot and result.text == "" and result.token_ids == ()
    cat = tokenizer.encode(" cat").ids[0]
    repeat = AlwaysNext(tokenizer.get_vocab_size(), target=cat)
    result = generate(repeat, tokenizer, "The" * 20, max_new_tokens=12, temperature=0.7, seed=0)
    assert not result.stopped_at_eot and result.token_ids == (cat,) * 12
    assert result.text == tokenizer.decode([cat] * 12)


def test_bad_arguments(model):
    with pytest.raises(ConfigurationError, match="temperature"):
        sample_tokens(model, [0], 1, temperature=-1)
    with pytest.raises(ConfigurationError, match="top-k"):
        sample_tokens(model, [0], 1, top_k=0)
    with pytest.raises(ConfigurationError, match="no tokens"):
        sample_tokens(model, [], 1)


def test_generate_command(tmp_path, tokenizer_and_path, model, capsys):
    tokenizer, tokenizer_path = tokenizer_and_path
    run = write_run(tmp_path / "run", model, tokenizer_path)
    args = ["generate", "--run", str(run), "--prompt", "The cat", "--max-new-tokens", "8", "--seed", "4", "--device", "cpu"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first
    expected = generate(model, tokenizer, "The cat", 8, temperature=0.8, seed=4)
    assert first == "The cat" + expected.text + "\n"
