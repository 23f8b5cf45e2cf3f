"""CPU kernels of the model: fp32 linears through oneDNN and the fused,
chunked cross-entropy of the LM head. `model.py` calls `linear` and
`linear_cross_entropy_sum`; everything here agrees with PyTorch's default path
up to float rounding (tests/training/test_cpu_matmul.py), so the model reads
the same with or without it.

PyTorch sends fp32 matmuls on CPU to MKL's sgemm, which on AMD processors
takes a generic code path: on the Zen 4 test machine it reaches 25-47 GFLOP/s
on this model's shapes where oneDNN's fp32 matmul (the same library PyTorch
uses for bf16 and for convolutions) reaches 60-100. Matmuls are ~77% of a
CPU training step of the `small` preset, so fp32 linears on CPU go through
oneDNN when this torch build has it. Results agree with MKL's up to float
rounding (both accumulate in fp32). `set_cpu_matmul("aten")` restores
PyTorch's default path (e.g. to compare the two).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

CPU_MATMULS = ("onednn", "aten")


def _find_onednn_linear() -> Any:
    """oneDNN's linear (x @ w.T for any strides), or None where this build lacks it."""
    if not torch.backends.mkldnn.is_available():
        return None
    return getattr(torch.ops.mkldnn, "_linear_pointwise", None)


_ONEDNN_LINEAR = _find_onednn_linear()
_cpu_matmul = "onednn" if _ONEDNN_LINEAR is not None else "aten"


# Wrapped as an opaque custom op so torch.compile keeps it as one call (its
# own lowering of the oneDNN op expects pre-packed inference weights) while
# still fusing the elementwise work around it.
@torch.library.custom_op("winnow::onednn_matmul_nt", mutates_args=())
def _onednn_matmul_nt(a: Tensor, b: Tensor) -> Tensor:
    return _ONEDNN_LINEAR(a, b, None, "none", [], "")


@_onednn_matmul_nt.register_fake
def _(a: Tensor, b: Tensor) -> Tensor:
    return a.new_empty((*a.shape[:-1], b.shape[0]))


def set_cpu_matmul(backend: str) -> str:
    """Choose the kernel for fp32 matmuls on CPU ("onednn" or "aten"); returns the previous choice."""
    global _cpu_matmul
    if backend not in CPU_MATMULS:
        raise ValueError(f"cpu matmul backend must be one of {CPU_MATMULS}, got {backend!r}")
    if backend == "onednn" and _ONEDNN_LINEAR is None:
        raise ValueError("this torch build has no oneDNN (torch.backends.mkldnn is unavailable); use 'aten'")
    previous, _cpu_matmul = _cpu_matmul, backend
    return previous


def cpu_matmul() -> str:
    return _cpu_matmul


def _uses_onednn(a: Tensor, b: Tensor) -> bool:
    return _cpu_matmul == "onednn" and a.device.type == "cpu" and a.dtype == b.dtype == torch.float32


def matmul_nt(a: Tensor, b: Tensor) -> Tensor:
    """a (..., k) @ b (n, k).T -> (..., n), with no autograd graph of its own."""
    if _uses_onednn(a, b):
        return _onednn_matmul_nt(a, b)
    return a @ b.t()


class _OneDNNLinear(torch.autograd.Function):
    """F.linear without bias whose three matmuls (forward, grad of x, grad of w) run in oneDNN."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return matmul_nt(x, weight)  # (..., out)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = matmul_nt(grad, weight.t())  # (..., out) @ (out, in) -> (..., in)
        if ctx.needs_input_grad[1]:
            g = grad.reshape(-1, grad.size(-1))  # (N, out)
            grad_w = matmul_nt(g.t(), x.reshape(-1, x.size(-1)).t())  # (out, N) @ (N, in) -> (out, in)
        return grad_x, grad_w


def linear(x: Tensor, weight: Tensor) -> Tensor:
    """x (..., in) @ weight (out, in).T: F.linear, through oneDNN for fp32 on CPU."""
    if _uses_onednn(x, weight):
        return _OneDNNLinear.apply(x, weight)
    return F.linear(x, weight)


class _LinearCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of `h @ weight.T` without materialising the logits.

    Rows are processed in chunks; each chunk's gradients (softmax - one_hot)
    are formed in place of its logits and multiplied out at once, so the
    (N, vocab) logits never exist at once, nothing of them is kept for
    backward, and log_softmax is never run backwards. On CPU, where the
    vocabulary projection dominates a small model, this is the largest single
    saving in a training step. Used only for scalar ("mean"/"sum") losses,
    whose backward is a scalar multiple of the gradients computed here.
    """

    @staticmethod
    def forward(ctx: Any, h: Tensor, weight: Tensor, targets: Tensor, chunk_rows: int, ignore_index: int) -> Tensor:
        grad_h = torch.empty_like(h)  # (N, d)
        grad_w = torch.zeros_like(weight)  # (V, d)
        total = h.new_zeros((), dtype=torch.float32)
        for start in range(0, h.size(0), chunk_rows):
            hc, tc = h[start : start + chunk_rows], targets[start : start + chunk_rows]  # (n, d), (n,)
            valid = (tc != ignore_index).unsqueeze(1)  # (n, 1)
            safe = tc.clamp(min=0).unsqueeze(1)  # (n, 1); ignored rows are masked below
            logits = matmul_nt(hc, weight).float()  # (n, V)
            target_logit = logits.gather(1, safe)  # (n, 1)
            peak = logits.amax(dim=-1, keepdim=True)  # (n, 1)
            # One exp pass serves both the log-sum-exp and the softmax.
            probs = logits.sub_(peak).exp_()  # (n, V), unnormalised, in place of the logits
            norm = probs.sum(dim=-1, keepdim=True)  # (n, 1)
            total += ((peak + norm.log() - target_logit) * valid).sum()
            probs.div_(norm).scatter_add_(1, safe, -valid.to(probs.dtype))  # softmax minus one-hot
            probs = probs.mul_(valid).to(weight.dtype)
            grad_h[start : start + chunk_rows] = matmul_nt(probs, weight.t())  # (n, V) @ (V, d)
            grad_w += matmul_nt(probs.t(), hc.t())  # (V, n) @ (n, d)
        ctx.save_for_backward(grad_h, grad_w)
        return total

    @staticmethod
    def backward(ctx: Any, grad_total: Tensor) -> tuple[Tensor, Tensor, None, None, None]:
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_total, grad_w * grad_total, None, None, None


def linear_cross_entropy_sum(h: Tensor, weight: Tensor, targets: Tensor, chunk_rows: int, ignore_index: int) -> Tensor:
    """Summed cross-entropy of `h (N, d) @ weight (V, d).T` against `targets (N,)`,
    rows equal to `ignore_index` left out, `chunk_rows` rows of logits at a time."""
    return _LinearCrossEntropy.apply(h, weight, targets, chunk_rows, ignore_index)


# Rows per chunk of the fused loss: about 8 MB of fp32 logits per chunk
# (256 rows of an 8k vocabulary), the fastest of 128-512 rows measured on CPU.
FUSED_LOSS_CHUNK_ELEMENTS = 1 << 21
