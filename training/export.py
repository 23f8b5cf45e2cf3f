"""Export a Winnow run as a Hugging Face `LlamaForCausalLM` folder.

Winnow's model is exactly a Llama: its parameter names are HF's without the
`model.` prefix and its RoPE uses HF's rotate-half layout (see model.py), so
the weights copy 1:1 without any q/k permutation. The folder loads with
`AutoModelForCausalLM.from_pretrained(dir)` and `AutoTokenizer.from_pretrained(dir)`;
transformers itself is not needed to export.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from winnow.core.version import __version__
from winnow.training.evaluate import eot_id_of
from winnow.training.model import GPT, ModelConfig
from winnow.training.config import EOT_TOKEN

HF_PREFIX = "model."
LM_HEAD = "lm_head.weight"
EMBEDDINGS = "embed_tokens.weight"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
GENERATION_CONFIG_FILE = "generation_config.json"
EXPORT_FILES = (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_FILE, GENERATION_CONFIG_FILE)
INIT_STD = 0.02  # recorded as initializer_range; only used by HF when training from scratch
GENERATION_TOP_K = 50  # HF's default, written explicitly so the folder says what it does


def hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Winnow parameters under HF Llama names; lm_head only when untied
    (HF re-ties it from embed_tokens when tie_word_embeddings is true)."""
    out = {}
    for name, tensor in model.state_dict().items():
        if name == LM_HEAD:
            if not model.config.tie_embeddings:
                out[LM_HEAD] = tensor
            continue
        out[HF_PREFIX + name] = tensor
    # safetensors stores contiguous, unshared tensors only.
    return {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in out.items()}


def hf_config(config: ModelConfig, eot_id: int) -> dict[str, Any]:
    """config.json for LlamaForCausalLM describing the same network."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "intermediate_size": config.ffn_hidden_size,
        "num_hidden_layers": config.n_layer,
        "num_attention_heads": config.n_head,
        "num_key_value_heads": config.kv_heads,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.max_seq_len,
        "rms_norm_eps": config.norm_eps,
        # transformers < 5 reads rope_theta; 5.x reads rope_parameters (and still accepts rope_theta).
        "rope_theta": config.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": config.tie_embeddings,
        "initializer_range": INIT_STD,
        "torch_dtype": "float32",
        "dtype": "float32",
        "use_cache": True,
        "bos_token_id": eot_id,
        "eos_token_id": eot_id,
    }


def tokenizer_files(config: ModelConfig) -> dict[str, dict[str, Any]]:
    """tokenizer_config.json and special_tokens_map.json for PreTrainedTokenizerFast.

    End-of-text doubles as BOS/EOS/PAD: it is the only special token, and it
    is what precedes every document in training.

    `add_bos_token` is false, and the tokenizer has no BOS post-processor,
    so encoding never adds a token (checked with transformers 5.x, where even
    `add_bos_token: true` or lm-eval's `add_bos_token=True` adds nothing to
    this tokenizer). lm-evaluation-harness's `hf` model then encodes requests
    exactly as Winnow does: contexts as plain text, end-of-text as the prefix
    of an empty context and of a rolling loglikelihood. `model_max_length` is
    the context the model was trained with, which the harness reads as its
    max_length
    and truncates contexts to from the left, as Winnow does.
    """
    special = {"bos_token": EOT_TOKEN, "eos_token": EOT_TOKEN, "pad_token": EOT_TOKEN}
    return {
        TOKENIZER_CONFIG_FILE: {
            "tokenizer_class": "PreTrainedTokenizerFast",
            **special,
            "model_max_length": config.max_seq_len,
            "clean_up_tokenization_spaces": False,
            "add_bos_token": False,
            "add_eos_token": False,
        },
        SPECIAL_TOKENS_FILE: special,
    }


def generation_config(eot_id: int) -> dict[str, Any]:
    return {
        "bos_token_id": eot_id,
        "eos_token_id": eot_id,
        "pad_token_id": eot_id,
        "do_sample": True,
        "temperature": 1.0,
        "top_k": GENERATION_TOP_K,
    }


def export_model(model: GPT, tokenizer_path: str | Path, output_dir: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write the HF folder for an in-memory model and its tokenizer.json.

    The folder is assembled in a temporary sibling and renamed into place,
    so a failed export leaves no half-written model. `output_dir` must not
    exist, or be an empty directory.
    """
    from safetensors.torch import save_file
    from tokenizers import Tokenizer

    output_dir = Path(output_dir)
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise FileExistsError(f"{output_dir}: output exists and is not an empty directory")
    config = model.config
    eot_id = eot_id_of(Tokenizer.from_file(str(tokenizer_path)))
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.tmp-", dir=output_dir.parent))
    try:
        save_file(hf_state_dict(model), str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        shutil.copyfile(tokenizer_path, tmp / TOKENIZER_FILE)
        documents = {
            CONFIG_FILE: {**hf_config(config, eot_id), **({"winnow": metadata} if metadata else {})},
            GENERATION_CONFIG_FILE: generation_config(eot_id),
            **tokenizer_files(config),
        }
        for name, content in documents.items():
            (tmp / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        _apply_umask(tmp)
        if output_dir.exists():
            output_dir.rmdir()  # empty, checked above
        os.replace(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output_dir


def _apply_umask(directory: Path) -> None:
    """mkdtemp makes a private (0700) folder and safetensors may write 0600
    files; the export is meant to be shared, so use the usual modes."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.iterdir():
        path.chmod(0o666 & ~umask)


def export_hf(run_dir: str | Path, output_dir: str | Path, checkpoint: str = "latest") -> Path:
    """Export the latest (or, with checkpoint="best", the best) checkpoint of
    `run_dir` to `output_dir` (HF Llama folder)."""
    from winnow.training.continuous_eval import checkpoint_file, load_model_at

    run_dir = Path(run_dir)
    model, _, _ = load_model_at(run_dir, checkpoint)
    checkpoint = checkpoint_file(run_dir, checkpoint)
    # No local paths: the folder is meant to be published.
    metadata = {"exported_by": f"winnow {__version__}", "checkpoint": checkpoint.name}
    return export_model(model, run_dir / TOKENIZER_FILE, output_dir, metadata)


@torch.no_grad()
def hf_logits_max_diff(model: GPT, export_dir: str | Path, idx: torch.Tensor) -> float:
    """Largest |logit difference| between `model` and the exported folder
    loaded by transformers, on token ids `idx` (B, T). Needs transformers."""
    from transformers import LlamaForCausalLM

    hf = LlamaForCausalLM.from_pretrained(str(export_dir), torch_dtype=torch.float32)
    hf.eval()
    model.eval()
    ours, _ = model(idx)
    theirs = hf(input_ids=idx).logits
    return float((ours.float() - theirs.float()).abs().max())
