"""Text generation: temperature and top-k sampling, seeded, greedy at
temperature 0. No KV cache: each step re-runs the (cropped) context, which is
plenty for the small models Winnow trains and keeps the model file simple.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn

from winnow.core.errors import ConfigurationError
from winnow.training.evaluate import eot_id_of, literal_special_tokens


@dataclass(frozen=True)
class Generation:
    text: str  # the generated continuation only, without the prompt
    token_ids: tuple[int, ...]  # generated ids, without the final end-of-text
    stopped_at_eot: bool


@torch.no_grad()
def sample_tokens(
    model: nn.Module,
    prompt_ids: Sequence[int],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
    eot_id: int | None = None,
) -> tuple[list[int], bool]:
    """Sample up to `max_new_tokens` ids after `prompt_ids`.

    Returns (new ids, stopped_at_eot); the end-of-text id itself is not
    returned. The context is cropped to the model's max_seq_len. The same
    seed gives the same tokens on the same device.
    """
    if not prompt_ids:
        raise ConfigurationError("the prompt encodes to no tokens: give a non-empty --prompt")
    if temperature < 0:
        raise ConfigurationError(f"--temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k <= 0:
        raise ConfigurationError(f"--top-k must be positive, got {top_k}")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()  # non-deterministic, and leaves the global torch RNG alone
    else:
        generator.manual_seed(seed)
    max_len = model.config.max_seq_len
    ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)  # (1, T)
    new: list[int] = []
    was_training = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):
            logits, _ = model(ids[:, -max_len:])
            logits = logits[0, -1].float()  # (vocab,)
            next_id = _pick(logits, temperature, top_k, generator)
            if eot_id is not None and next_id == eot_id:
                return new, True
            new.append(next_id)
            ids = torch.cat([ids, torch.tensor([[next_id]], device=device)], dim=1)
    finally:
        model.train(was_training)
    return new, False


def _pick(logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator) -> int:
    if temperature == 0:
        return int(torch.argmax(logits))
    logits = logits / temperature
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def generate(
    model: nn.Module,
    tokenizer: Any,
    prompt: str,
    max_new_tokens: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
) -> Generation:
    """Continue `prompt`. The prompt is preceded by end-of-text, as every
    document was in training, so an empty prompt starts a fresh document."""
    eot_id = eot_id_of(tokenizer)
    with literal_special_tokens(tokenizer):
        prompt_ids = [eot_id] + tokenizer.encode(prompt, add_special_tokens=False).ids
    new, stopped = sample_tokens(model, prompt_ids, max_new_tokens, temperature, top_k, seed, eot_id)
    # Decode prompt + continuation together and cut the prompt off, so a
    # token that merges with the prompt's last characters decodes correctly.
    full = tokenizer.decode(prompt_ids[1:] + new, skip_special_tokens=True)
    prompt_text = tokenizer.decode(prompt_ids[1:], skip_special_tokens=True)
    text = full[len(prompt_text) :] if full.startswith(prompt_text) else tokenizer.decode(new)
    return Generation(text=text, token_ids=tuple(new), stopped_at_eot=stopped)
