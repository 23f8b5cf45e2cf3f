"""Hugging Face export: config, weight names, tokenizer files, and logits
parity with transformers' LlamaForCausalLM (when transformers is available)."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.training.evaluate_helpers import make_model, make_tokenizer, write_run
from winnow.cli import main
from winnow.training.export import EXPORT_FILES, export_hf, export_model, hf_logits_max_diff

PARITY_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def tokenizer_and_path(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))


def expected_names(n_layer: int, tied: bool) -> set[str]:
    names = {"model.embed_tokens.weight", "model.norm.weight"}
    for i in range(n_layer):
        prefix = f"model.layers.{i}."
        names |= {prefix + f"self_attn.{p}_proj.weight" for p in "qkvo"}
        names |= {prefix + f"mlp.{p}_proj.weight" for p in ("gate", "up", "down")}
        names |= {prefix + "input_layernorm.weight", prefix + "post_attention_layernorm.weight"}
    return names if tied else names | {"lm_head.weight"}


@pytest.mark.parametrize("tied, kv_heads", [(True, None), (False, 1)])
def test_export_writes_llama_config_and_weights(tmp_path, tokenizer_and_path, tied, kv_heads):
    tokenizer, tokenizer_path = tokenizer_and_path
    model = make_model(tokenizer.get_vocab_size(), tie_embeddings=tied, n_kv_head=kv_heads, rope_theta=500.0)
    out = export_model(model, tokenizer_path, tmp_path / "hf")
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPORT_FILES)

    config = json.loads((out / "config.json").read_text())
    c = model.config
    assert config["architectures"] == ["LlamaForCausalLM"] and config["model_type"] == "llama"
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (c.d_model, c.n_layer, c.n_head)
    assert config["num_key_value_heads"] == (kv_heads or c.n_head)
    assert config["intermediate_size"] == model.layers[0].mlp.gate_proj.weight.shape[0]
    assert config["rope_theta"] == 500.0 and config["rms_norm_eps"] == c.norm_eps
    assert config["tie_word_embeddings"] is tied and config["vocab_size"] == tokenizer.get_vocab_size()
    assert (config["hidden_act"], config["attention_bias"], config["mlp_bias"]) == ("silu", False, False)
    assert config["bos_token_id"] == config["eos_token_id"] == tokenizer.token_to_id("<|endoftext|>")

    weights = load_file(str(out / "model.safetensors"))
    assert set(weights) == expected_names(c.n_layer, tied)
    ours = model.state_dict()
    for name, tensor in weights.items():
        assert torch.equal(tensor, ours[name.removeprefix("model.")])

    tok_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tok_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert (out / "tokenizer.json").read_bytes() == tokenizer_path.read_bytes()
    generation = json.loads((out / "generation_config.json").read_text())
    assert generation["eos_token_id"] == config["eos_token_id"]


def test_export_refuses_a_non_empty_output(tmp_path, tokenizer_and_path):
    tokenizer, tokenizer_path = tokenizer_and_path
    model = make_model(tokenizer.get_vocab_size())
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty directory"):
        export_model(model, tokenizer_path, tmp_path / "hf")
    assert [p.name for p in (tmp_path / "hf").iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["hf"]  # no temporary folder left behind
    (tmp_path / "empty").mkdir()
    assert export_model(model, tokenizer_path, tmp_path / "empty").is_dir()


def test_export_from_run_dir_and_command(tmp_path, tokenizer_and_path, capsys):
    tokenizer, tokenizer_path = tokenizer_and_path
    model = make_model(tokenizer.get_vocab_size(), seed=4)
    run = write_run(tmp_path / "run", model, tokenizer_path, step=42)
    out = export_hf(run, tmp_path / "hf")
    assert json.loads((out / "config.json").read_text())["winnow"]["checkpoint"] == "step-00000042.pt"
    assert torch.equal(load_file(str(out / "model.safetensors"))["model.norm.weight"], model.norm.weight)

    assert main(["export", "--run", str(run), "--output", str(tmp_path / "hf2")]) == 0
    assert (tmp_path / "hf2" / "model.safetensors").is_file()
    assert main(["export", "--run", str(run), "--output", str(tmp_path / "hf2")]) == 2
    assert "not an empty directory" in capsys.readouterr().err
    assert main(["export", "--run", str(tmp_path / "missing"), "--output", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize("tied, kv_heads", [(True, None), (False, 1)])
def test_parity_in_process(tmp_path, tokenizer_and_path, tied, kv_heads):
    pytest.importorskip("transformers", reason="transformers is not installed (it comes with the dev extra)")
    tokenizer, tokenizer_path = tokenizer_and_path
    model = make_model(tokenizer.get_vocab_size(), seed=9, tie_embeddings=tied, n_kv_head=kv_heads, rope_theta=500.0)
    out = export_model(model, tokenizer_path, tmp_path / "hf")
    idx = torch.randint(0, tokenizer.get_vocab_size(), (2, model.config.max_seq_len), generator=torch.Generator().manual_seed(0))
    assert hf_logits_max_diff(model, out, idx) < PARITY_TOLERANCE

    from transformers import AutoTokenizer

    hf_tokenizer = AutoTokenizer.from_pretrained(str(out))
    text = "The cat sat on the mat."
    assert hf_tokenizer(text)["input_ids"] == tokenizer.encode(text).ids
    assert hf_tokenizer.eos_token_id == tokenizer.token_to_id("<|endoftext|>")
    # What lm-eval's hf model reads: the trained context as max length, and no
    # token added to a context, even when special tokens are asked for.
    assert hf_tokenizer.model_max_length == model.config.max_seq_len
    assert hf_tokenizer.encode(text, add_special_tokens=True) == tokenizer.encode(text).ids
    assert json.loads((out / "tokenizer_config.json").read_text())["add_bos_token"] is False

