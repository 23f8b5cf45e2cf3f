"""A small Llama-style decoder: the whole model in one file, read top to bottom.

Pre-norm blocks of RMSNorm -> causal self-attention with rotary position
embeddings -> RMSNorm -> SwiGLU MLP, then a final RMSNorm and the LM head.
No biases anywhere. Every parameter has the role (and the name, minus the
`model.` prefix) of its counterpart in Hugging Face `LlamaForCausalLM`, and RoPE
uses HF's rotate-half layout, so `winnow export` copies weights 1:1.

Parallelism (DDP) and compilation are applied from outside; this file knows
nothing about them. The CPU kernels the linears and the fused training loss
run on (oneDNN matmuls, chunked cross-entropy) are in `cpu_kernels.py`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from winnow.training.cpu_kernels import FUSED_LOSS_CHUNK_ELEMENTS, linear, linear_cross_entropy_sum

IGNORE_INDEX = -100  # targets with this value contribute no loss (HF convention)
INIT_STD = 0.02
# SwiGLU's 8/3 * d_model hidden size is rounded up to a multiple of this so the
# matmuls have friendly shapes; 64 keeps the tiny preset from doubling in size.
FFN_MULTIPLE_OF = 64
REDUCTIONS = ("mean", "sum", "none")


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    n_layer: int  # transformer blocks
    n_head: int  # attention heads
    d_model: int  # width of the residual stream
    n_kv_head: int | None = None  # None = n_head; fewer = grouped-query attention
    ffn_hidden: int | None = None  # SwiGLU hidden size; None = 8/3 * d_model rounded up to FFN_MULTIPLE_OF
    max_seq_len: int = 256  # longest sequence (rotary positions)
    rope_theta: float = 10000.0  # rotary embedding base
    norm_eps: float = 1e-5  # RMSNorm epsilon
    tie_embeddings: bool = True  # share the input embedding and the LM head
    dropout: float = 0.0  # dropout probability in training

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_layer", "n_head", "d_model", "max_seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"ModelConfig: d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if self.head_dim % 2:
            raise ValueError(f"ModelConfig: head_dim {self.head_dim} must be even for rotary embeddings")
        if self.n_kv_head is not None and (self.n_kv_head <= 0 or self.n_head % self.n_kv_head):
            raise ValueError(f"ModelConfig: n_head {self.n_head} is not a multiple of n_kv_head {self.n_kv_head}")
        if self.ffn_hidden is not None and self.ffn_hidden <= 0:
            raise ValueError(f"ModelConfig.ffn_hidden must be positive, got {self.ffn_hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head if self.n_kv_head is not None else self.n_head

    @property
    def ffn_hidden_size(self) -> int:
        """The SwiGLU hidden size actually used (resolves the `None` default)."""
        if self.ffn_hidden is not None:
            return self.ffn_hidden
        raw = int(8 * self.d_model / 3)
        return FFN_MULTIPLE_OF * math.ceil(raw / FFN_MULTIPLE_OF)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "model config") -> "ModelConfig":
        """Strict: unknown keys (with the nearest valid one) and wrong types are a ConfigurationError."""
        from winnow.core.config_loader import config_from_mapping

        return config_from_mapping(cls, data, source)


# Presets leave out vocab_size: it comes from the tokenizer.
PRESETS: dict[str, dict[str, Any]] = {
    # The CPU ablation preset's model (winnow/ablation/presets.py): 0.11M params + embeddings,
    # so 1M tokens (9 per non-embedding parameter) train in under a minute on one core.
    "micro": {"n_layer": 2, "n_head": 2, "d_model": 64, "max_seq_len": 128},
    # Trains meaningfully on 2 CPU cores in minutes (~0.8M params + embeddings).
    "tiny": {"n_layer": 4, "n_head": 4, "d_model": 128, "max_seq_len": 128},
    # 23.5M params with an 8,192 vocab (27.7M with 16,384); 19.3M without embeddings.
    "small": {"n_layer": 6, "n_head": 8, "d_model": 512, "max_seq_len": 512},
    # GPT-2 small's shape: 123.6M params with a 50,304 vocab (SwiGLU hidden 2,048).
    "gpt2-124m": {"n_layer": 12, "n_head": 12, "d_model": 768, "max_seq_len": 1024},
}


def config_from_preset(name_or_yaml_path: str, vocab_size: int, **overrides: Any) -> ModelConfig:
    """A preset name or a YAML file of ModelConfig keys, plus overrides.

    `vocab_size` always comes from the tokenizer; a YAML file may not set it to
    something else.
    """
    if name_or_yaml_path in PRESETS:
        base = dict(PRESETS[name_or_yaml_path])
        source = f"preset {name_or_yaml_path!r}"
    else:
        path = Path(name_or_yaml_path)
        if not path.is_file():
            raise ValueError(
                f"model {name_or_yaml_path!r} is neither a preset ({', '.join(PRESETS)}) nor an existing YAML file"
            )
        import yaml  # only needed for files

        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a model config file must be a mapping of ModelConfig keys")
        base = dict(loaded)
        source = str(path)
        if "vocab_size" in base and base["vocab_size"] != vocab_size:
            raise ValueError(f"{path}: vocab_size {base['vocab_size']} differs from the tokenizer's {vocab_size}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    base["vocab_size"] = vocab_size
    return ModelConfig.from_dict(base, source=source)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        # F.rms_norm uses a fused kernel where the backend has one; it works in
        # the input dtype, which matches HF (fp32 upcast) exactly in fp32 and
        # closely in bf16.
        return F.rms_norm(x, (x.size(-1),), self.weight, self.eps)


def rope_cache(head_dim: int, max_seq_len: int, theta: float) -> tuple[Tensor, Tensor]:
    """cos and sin tables (T, head_dim) in HF's rotate-half layout."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))  # (hd/2,)
    t = torch.arange(max_seq_len, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)  # (T, hd/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (T, hd): first and second halves share frequencies
    return emb.cos(), emb.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x (..., T, [heads,] hd) with cos/sin broadcastable to it. Rotates pairs (i, i + hd/2)."""
    half = x.size(-1) // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)  # rotate_half
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.kv_heads, config.head_dim
        self.dropout = config.dropout
        self.q_proj = nn.Linear(config.d_model, self.n_head * self.head_dim, bias=False)
        self.k_proj = nn.Linear(config.d_model, self.n_kv_head * self.head_dim, bias=False)
        self.v_proj = nn.Linear(config.d_model, self.n_kv_head * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_head * self.head_dim, config.d_model, bias=False)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        B, T, _ = x.shape
        # One matmul for q, k and v (the weights stay separate, as in HF, for export).
        w = torch.cat((self.q_proj.weight, self.k_proj.weight, self.v_proj.weight))  # ((H + 2 Hkv) hd, d_model)
        qkv = linear(x, w).view(B, T, self.n_head + 2 * self.n_kv_head, self.head_dim)  # (B, T, H + 2 Hkv, hd)
        # Rotate q and k heads together: one rotary pass instead of two.
        qk = apply_rope(qkv[:, :, : self.n_head + self.n_kv_head], cos.unsqueeze(1), sin.unsqueeze(1))  # (B, T, H + Hkv, hd)
        q = qk[:, :, : self.n_head].transpose(1, 2)  # (B, H, T, hd)
        k = qk[:, :, self.n_head :].transpose(1, 2)  # (B, Hkv, T, hd)
        v = qkv[:, :, self.n_head + self.n_kv_head :].transpose(1, 2)  # (B, Hkv, T, hd)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=True,
            # Each kv head serves n_head / n_kv_head consecutive query heads, as HF's repeat_kv.
            enable_gqa=self.n_kv_head != self.n_head,
        )  # (B, H, T, hd)
        y = y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim)  # (B, T, d_model)
        return linear(y, self.o_proj.weight)


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        hidden = config.ffn_hidden_size
        self.gate_proj = nn.Linear(config.d_model, hidden, bias=False)
        self.up_proj = nn.Linear(config.d_model, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, config.d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = linear(x, torch.cat((self.gate_proj.weight, self.up_proj.weight))).chunk(2, dim=-1)  # 2 x (B, T, ffn)
        return linear(F.silu(gate) * up, self.down_proj.weight)  # (B, T, d_model)


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(config.d_model, config.norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = MLP(config)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        x = x + self.resid_dropout(self.self_attn(self.input_layernorm(x), cos, sin))
        return x + self.resid_dropout(self.mlp(self.post_attention_layernorm(x)))


class GPT(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        cos, sin = rope_cache(config.head_dim, config.max_seq_len, config.rope_theta)
        # Not persistent: derived from the config, so checkpoints stay pure weights.
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # Residual-stream writers are scaled down so the stream's variance stays
        # about constant with depth (GPT-2's 1/sqrt(2 * n_layer)).
        for name, param in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(param, mean=0.0, std=INIT_STD / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)

    def forward(
        self, idx: Tensor, targets: Tensor | None = None, reduction: str = "mean", return_logits: bool = True
    ) -> tuple[Tensor | None, Tensor | None]:
        """idx (B, T) -> logits (B, T, vocab); loss over every target != -100.

        reduction "mean" gives a scalar, "sum" the summed nats (for exact
        evaluation over many batches), "none" per-position losses (B, T).
        return_logits=False (training) may skip the logits and return
        (None, loss) through a fused, chunked loss on CPU.
        """
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        B, T = idx.shape
        if T > self.config.max_seq_len:
            raise ValueError(f"sequence length {T} exceeds the model's max_seq_len {self.config.max_seq_len}")
        cos, sin = self.rope_cos[:T].to(self.embed_tokens.weight.dtype), self.rope_sin[:T].to(
            self.embed_tokens.weight.dtype
        )  # (T, hd)
        x = self.drop(self.embed_tokens(idx))  # (B, T, d_model)
        for layer in self.layers:
            x = layer(x, cos, sin)
        x = self.norm(x)
        if (
            targets is not None
            and not return_logits
            and reduction != "none"
            and x.device.type == "cpu"
            and torch.is_grad_enabled()
        ):
            flat_targets = targets.reshape(B * T)
            chunk = max(1, FUSED_LOSS_CHUNK_ELEMENTS // self.config.vocab_size)
            total = linear_cross_entropy_sum(x.view(B * T, -1), self.lm_head.weight, flat_targets, chunk, IGNORE_INDEX)
            if reduction == "mean":
                total = total / (flat_targets != IGNORE_INDEX).sum()
            return None, total
        logits = linear(x, self.lm_head.weight)  # (B, T, vocab)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(
            logits.view(B * T, -1).float(), targets.reshape(B * T), ignore_index=IGNORE_INDEX, reduction=reduction
        )  # scalar, or (B*T,) for "none"
        if reduction == "none":
            loss = loss.view(B, T)
        return logits, loss

    def num_params(self, exclude_embeddings: bool = False) -> int:
        """Unique parameters (a tied lm_head counts once). Excluding embeddings
        drops the input token table; an untied lm_head still counts."""
        total = sum(p.numel() for p in self.parameters())  # parameters() de-duplicates tied tensors
        if exclude_embeddings:
            total -= self.embed_tokens.weight.numel()
        return total

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token (forward + backward), PaLM appendix B:
        6N for the matmul parameters N (the lm_head matmul counts even when
        tied, the embedding lookup does not) plus 12 * L * H * Q * T for the
        attention scores and their weighted sum (H * Q = d_model)."""
        c = self.config
        matmul_params = self.num_params(exclude_embeddings=True)
        if c.tie_embeddings:
            matmul_params += c.vocab_size * c.d_model
        return 6.0 * matmul_params + 12.0 * c.n_layer * c.n_head * c.head_dim * seq_len
