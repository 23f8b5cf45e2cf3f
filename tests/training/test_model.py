from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from winnow.training.model import (
    GPT,
    INIT_STD,
    PRESETS,
    ModelConfig,
    apply_rope,
    config_from_preset,
    rope_cache,
)

VOCAB = 512


@pytest.fixture(autouse=True)
def _one_thread():
    # The test machine's cores are shared; one thread avoids oversubscription.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny(**overrides) -> ModelConfig:
    base = {"vocab_size": VOCAB, "n_layer": 2, "n_head": 4, "d_model": 64, "max_seq_len": 32}
    base.update(overrides)
    return ModelConfig(**base)


def test_forward_shapes_and_reductions():
    torch.manual_seed(0)
    model = GPT(tiny())
    idx = torch.randint(0, VOCAB, (3, 20))
    targets = torch.randint(0, VOCAB, (3, 20))
    targets[0, :5] = -100
    logits, loss_none = model(idx, targets, reduction="none")
    assert logits.shape == (3, 20, VOCAB)
    assert loss_none.shape == (3, 20)
    assert torch.all(loss_none[0, :5] == 0)  # ignored positions contribute nothing
    _, loss_sum = model(idx, targets, reduction="sum")
    _, loss_mean = model(idx, targets)
    assert torch.allclose(loss_sum, loss_none.sum())
    assert torch.allclose(loss_mean, loss_sum / (targets != -100).sum())
    assert model(idx)[1] is None
    with pytest.raises(ValueError, match="reduction"):
        model(idx, targets, reduction="avg")
    with pytest.raises(ValueError, match="max_seq_len"):
        model(torch.zeros((1, 33), dtype=torch.long))


def test_initial_loss_is_about_ln_vocab():
    torch.manual_seed(0)
    model = GPT(config_from_preset("tiny", VOCAB))
    idx = torch.randint(0, VOCAB, (8, 64))
    targets = torch.randint(0, VOCAB, (8, 64))
    _, loss = model(idx, targets)
    assert abs(loss.item() - math.log(VOCAB)) < 0.1


def test_overfits_a_single_batch():
    torch.manual_seed(0)
    model = GPT(tiny())
    data = torch.randint(0, VOCAB, (2, 17))
    x, y = data[:, :-1], data[:, 1:]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(150):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_fused_training_loss_matches_the_logits_path(tie, reduction):
    torch.manual_seed(0)
    model = GPT(tiny(tie_embeddings=tie, vocab_size=3000))  # > 1 chunk of the fused loss
    idx = torch.randint(0, 3000, (3, 32))
    targets = torch.randint(0, 3000, (3, 32))
    targets[1, :9] = -100

    def run(**kwargs):
        model.zero_grad()
        logits, loss = model(idx, targets, reduction=reduction, **kwargs)
        (2.5 * loss).backward()
        return logits, loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    logits, reference, ref_grads = run()
    no_logits, fused, grads = run(return_logits=False)
    assert logits is not None and no_logits is None
    assert torch.allclose(fused, reference, rtol=1e-5)
    for name, grad in grads.items():
        # fp32 sums in another order: equal to ~1e-4 of the gradient's scale.
        assert (grad - ref_grads[name]).abs().max() <= 1e-4 * ref_grads[name].abs().max(), name
    with torch.no_grad():  # evaluation keeps the logits path even when asked not to return them
        assert torch.allclose(model(idx, targets, reduction=reduction, return_logits=False)[1], reference, rtol=1e-5)


def test_causal_future_tokens_do_not_change_the_past():
    torch.manual_seed(0)
    model = GPT(tiny()).eval()
    idx = torch.randint(0, VOCAB, (1, 16))
    changed = idx.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % VOCAB
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.equal(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_rope_scores_depend_only_on_relative_position():
    cos, sin = rope_cache(16, 64, 10000.0)
    q, k = torch.randn(16), torch.randn(16)

    def score(m: int, n: int) -> torch.Tensor:
        rq = apply_rope(q.view(1, 1, 1, 16), cos[m : m + 1], sin[m : m + 1])
        rk = apply_rope(k.view(1, 1, 1, 16), cos[n : n + 1], sin[n : n + 1])
        return (rq * rk).sum()

    assert torch.allclose(score(5, 2), score(40, 37), atol=1e-5)
    assert not torch.allclose(score(5, 2), score(5, 4), atol=1e-3)


def test_grouped_query_attention_matches_repeated_kv_heads():
    torch.manual_seed(0)
    model = GPT(tiny(n_kv_head=2)).eval()
    attn = model.layers[0].self_attn
    assert attn.k_proj.weight.shape == (2 * 16, 64)
    x = torch.randn(2, 10, 64)
    cos, sin = model.rope_cos[:10], model.rope_sin[:10]
    q = apply_rope(attn.q_proj(x).view(2, 10, 4, 16).transpose(1, 2), cos, sin)
    k = apply_rope(attn.k_proj(x).view(2, 10, 2, 16).transpose(1, 2), cos, sin)
    v = attn.v_proj(x).view(2, 10, 2, 16).transpose(1, 2)
    # Each kv head serves two consecutive query heads.
    k, v = k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1)
    scores = (q @ k.transpose(-1, -2)) / 4.0
    scores = scores.masked_fill(torch.ones(10, 10, dtype=torch.bool).triu(1), float("-inf"))
    expected = attn.o_proj((F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(2, 10, 64))
    assert torch.allclose(attn(x, cos, sin), expected, atol=1e-5)


def test_initialisation_scales_residual_projections():
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=4096, n_layer=8, n_head=8, d_model=256)
    model = GPT(config)
    assert model.embed_tokens.weight.std().item() == pytest.approx(INIT_STD, rel=0.05)
    assert model.layers[0].self_attn.q_proj.weight.std().item() == pytest.approx(INIT_STD, rel=0.05)
    scaled = INIT_STD / math.sqrt(2 * 8)
    assert model.layers[3].self_attn.o_proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
    assert model.layers[3].mlp.down_proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
    assert torch.all(model.norm.weight == 1)


def test_num_params_counts_tied_embeddings_once():
    config = tiny()
    model = GPT(config)
    d, v, h, L = 64, VOCAB, config.ffn_hidden_size, 2
    per_layer = 4 * d * d + 3 * d * h + 2 * d
    assert h == 192  # 8/3 * 64 = 170.7, rounded up to a multiple of 64
    assert model.num_params() == v * d + L * per_layer + d
    assert model.num_params(exclude_embeddings=True) == L * per_layer + d
    untied = GPT(tiny(tie_embeddings=False))
    assert untied.num_params() == model.num_params() + v * d
    assert untied.num_params(exclude_embeddings=True) == model.num_params(exclude_embeddings=True) + v * d


def test_flops_per_token_follows_palm():
    model = GPT(tiny())
    n = model.num_params(exclude_embeddings=True) + VOCAB * 64  # the tied lm_head matmul counts
    assert model.flops_per_token(32) == 6 * n + 12 * 2 * 4 * 16 * 32


def test_presets_and_overrides(tmp_path):
    assert set(PRESETS) == {"micro", "tiny", "small", "gpt2-124m"}
    # micro is the CPU ablation preset's model: about 0.1M parameters besides the embeddings.
    assert GPT(config_from_preset("micro", 4096)).num_params(exclude_embeddings=True) == 106_816
    small = GPT(config_from_preset("small", 8192))
    assert 20e6 < small.num_params() < 30e6
    gpt2 = config_from_preset("gpt2-124m", 50304)
    assert (gpt2.n_layer, gpt2.n_head, gpt2.d_model, gpt2.max_seq_len) == (12, 12, 768, 1024)
    assert config_from_preset("tiny", 100, max_seq_len=64, dropout=None).max_seq_len == 64
    yaml_file = tmp_path / "m.yaml"
    yaml_file.write_text("n_layer: 3\nn_head: 2\nd_model: 32\nffn_hidden: 40\n")
    config = config_from_preset(str(yaml_file), 100)
    assert (config.n_layer, config.ffn_hidden_size, config.vocab_size) == (3, 40, 100)
    yaml_file.write_text("n_layer: 3\nn_head: 2\nd_model: 32\nwidth: 4\n")
    with pytest.raises(ValueError, match="width"):
        config_from_preset(str(yaml_file), 100)
    with pytest.raises(ValueError, match="neither a preset"):
        config_from_preset("huge", 100)


def test_invalid_configs_are_rejected():
    with pytest.raises(ValueError, match="divisible"):
        tiny(n_head=5)
    with pytest.raises(ValueError, match="n_kv_head"):
        tiny(n_kv_head=3)
    with pytest.raises(ValueError, match="vocab_size"):
        tiny(vocab_size=0)


@pytest.mark.parametrize("n_kv_head, tie", [(2, False), (None, True)])
def test_matches_hugging_face_llama_weight_for_weight(n_kv_head, tie):
    transformers = pytest.importorskip("transformers", reason="transformers is not installed (only in the benchmark venv)")
    torch.manual_seed(0)
    config = tiny(n_kv_head=n_kv_head, tie_embeddings=tie)
    model = GPT(config).eval()
    hf = transformers.LlamaForCausalLM(
        transformers.LlamaConfig(
            vocab_size=VOCAB, hidden_size=64, intermediate_size=config.ffn_hidden_size, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=config.kv_heads, max_position_embeddings=32,
            rms_norm_eps=config.norm_eps, rope_theta=config.rope_theta, tie_word_embeddings=tie,
            attention_bias=False, mlp_bias=False, hidden_act="silu",
        )
    ).eval()  # fmt: skip
    weights = {(k if k == "lm_head.weight" else f"model.{k}"): v for k, v in model.state_dict().items()}
    missing, unexpected = hf.load_state_dict(weights, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    idx = torch.randint(0, VOCAB, (2, 30))
    assert torch.allclose(model(idx)[0], hf(idx).logits, atol=1e-5)
