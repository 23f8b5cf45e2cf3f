"""The oneDNN route for fp32 CPU matmuls agrees with PyTorch's default (MKL)
path up to float rounding, in outputs and in every gradient, in all the model's
loss paths, and the switch between the two is validated."""
from __future__ import annotations

import pytest
import torch

from winnow.training import cpu_kernels as K
from winnow.training import model as M

VOCAB = 300
needs_onednn = pytest.mark.skipif(K._ONEDNN_LINEAR is None, reason="this torch build has no oneDNN")


@pytest.fixture(autouse=True)
def _restore():
    threads, backend = torch.get_num_threads(), K.cpu_matmul()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    K.set_cpu_matmul(backend)


def _model(**overrides) -> M.GPT:
    torch.manual_seed(0)
    base = {"vocab_size": VOCAB, "n_layer": 2, "n_head": 4, "d_model": 64, "max_seq_len": 32, "n_kv_head": 2}
    base.update(overrides)
    return M.GPT(M.ModelConfig(**base))


def _loss_and_grads(model: M.GPT, backend: str, return_logits: bool, reduction: str = "mean"):
    K.set_cpu_matmul(backend)
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(0, VOCAB, (3, 20), generator=g)
    targets = torch.randint(0, VOCAB, (3, 20), generator=g)
    targets[0, :4] = M.IGNORE_INDEX
    model.zero_grad(set_to_none=True)
    logits, loss = model(idx, targets, reduction=reduction, return_logits=return_logits)
    loss.backward()
    return logits, loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@needs_onednn
@pytest.mark.parametrize("return_logits", [True, False])  # plain cross-entropy, and the fused chunked loss
@pytest.mark.parametrize("tie", [True, False])
def test_onednn_matches_aten_in_loss_and_every_gradient(return_logits, tie):
    model = _model(tie_embeddings=tie)
    _, ref_loss, ref_grads = _loss_and_grads(model, "aten", return_logits=True)
    logits, loss, grads = _loss_and_grads(model, "onednn", return_logits=return_logits)
    assert (logits is None) == (not return_logits)
    assert torch.allclose(loss, ref_loss, rtol=1e-5)
    assert set(grads) == set(ref_grads)
    for name, ref in ref_grads.items():
        assert torch.allclose(grads[name], ref, rtol=1e-4, atol=1e-6 * ref.abs().max().item()), name


@needs_onednn
def test_onednn_logits_match_aten_without_grad():
    model = _model().eval()
    idx = torch.randint(0, VOCAB, (2, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        K.set_cpu_matmul("aten")
        reference = model(idx)[0]
        K.set_cpu_matmul("onednn")
        logits = model(idx)[0]
    assert torch.allclose(logits, reference, atol=1e-5)


@needs_onednn
def test_onednn_linear_handles_batched_and_strided_operands():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 8, generator=g, requires_grad=True)
    w_t = torch.randn(8, 6, generator=g)  # used transposed: a non-contiguous weight
    w = w_t.t().requires_grad_(True)
    y = K.linear(x, w)
    assert y.shape == (2, 5, 6)
    y.square().sum().backward()
    x_ref, w_ref = x.detach().clone().requires_grad_(True), w.detach().clone().requires_grad_(True)
    torch.nn.functional.linear(x_ref, w_ref).square().sum().backward()
    assert torch.allclose(y, torch.nn.functional.linear(x_ref, w_ref), atol=1e-5)
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-4)
    assert torch.allclose(w.grad, w_ref.grad, atol=1e-4)


@needs_onednn
def test_onednn_is_allowed_under_deterministic_algorithms():
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        model = _model()
        first = _loss_and_grads(model, "onednn", return_logits=False)
        second = _loss_and_grads(model, "onednn", return_logits=False)
    finally:
        torch.use_deterministic_algorithms(previous)
    assert torch.equal(first[1], second[1])  # bit-identical: resume on CPU relies on it
    assert all(torch.equal(first[2][n], second[2][n]) for n in first[2])


def test_other_dtypes_use_the_default_path():
    # bf16 already goes to oneDNN inside PyTorch; only fp32 is rerouted.
    x, w = torch.randn(4, 8).bfloat16(), torch.randn(3, 8).bfloat16()
    assert not K._uses_onednn(x, w)
    assert torch.equal(K.linear(x, w), torch.nn.functional.linear(x, w))


def test_set_cpu_matmul_validates_and_returns_the_previous_choice():
    current = K.cpu_matmul()
    assert K.set_cpu_matmul("aten") == current
    assert K.cpu_matmul() == "aten"
    x, w = torch.randn(4, 8), torch.randn(3, 8)
    assert not K._uses_onednn(x, w)
    with pytest.raises(ValueError, match="must be one of"):
        K.set_cpu_matmul("mkl")
