"""Training throughput: Winnow's GPT vs Hugging Face `LlamaForCausalLM` with the
identical architecture, sizes, batch, sequence length, dtype and threads.

Each measured step is forward + backward + AdamW step + zero_grad on a fixed
random batch; warmup steps are excluded. Each side runs in its own subprocess,
one after the other, so they never compete for cores. transformers is not a
Winnow dependency: it lives in a separate venv (see --hf-python), created with

    /work/main/.venv/bin/python -m venv --system-site-packages .bench/hf-venv
    .bench/hf-venv/bin/pip install transformers

Usage (CPU, fp32):

    .venv/bin/python benchmarks/train_throughput.py --presets tiny,small --threads 2

On CUDA (bf16 autocast, optionally --compile) it also reports MFU, e.g.

    python benchmarks/train_throughput.py --presets gpt2-124m --device cuda --compile --batch-size 16
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_HF_PYTHON = REPO / ".bench" / "hf-venv" / "bin" / "python"
# Defaults per preset: (batch, seq_len) small enough for a CPU run of a few minutes.
CPU_SHAPES = {"tiny": (16, 128), "small": (4, 256), "gpt2-124m": (2, 256)}
GPU_SHAPES = {"tiny": (64, 128), "small": (32, 512), "gpt2-124m": (16, 1024)}


def _model_config(preset: str, vocab: int, seq_len: int):
    from winnow.training.model import config_from_preset

    return config_from_preset(preset, vocab, max_seq_len=max(seq_len, 1))


def _build(side: str, preset: str, vocab: int, seq_len: int):
    """The model for `side` and a `loss(x, y)` closure; both sides share the Winnow config."""
    import torch

    from winnow.training.model import GPT

    config = _model_config(preset, vocab, seq_len)
    if side == "winnow":
        model = GPT(config)
        return model, config, lambda x, y: model(x, y)[1]
    from transformers import LlamaConfig, LlamaForCausalLM

    hf_config = LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.d_model,
        intermediate_size=config.ffn_hidden_size,
        num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head,
        num_key_value_heads=config.kv_heads,
        max_position_embeddings=config.max_seq_len,
        rms_norm_eps=config.norm_eps,
        rope_theta=config.rope_theta,
        tie_word_embeddings=config.tie_embeddings,
        attention_bias=False,
        mlp_bias=False,
        hidden_act="silu",
        use_cache=False,
    )
    model = LlamaForCausalLM._from_config(hf_config, attn_implementation="sdpa", torch_dtype=torch.float32)

    def loss(x, y):
        # HF shifts labels itself; pass the unshifted window so both compute
        # the loss over the same (B, T) predictions.
        logits = model(input_ids=x).logits
        return torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)).float(), y.reshape(-1))

    return model, config, loss


def worker(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model, config, loss_fn = _build(args.side, args.preset, args.vocab, args.seq_len)
    model.to(device).train()
    if args.compile:
        model = torch.compile(model)
        _, _, loss_fn = _rebind(args.side, model, loss_fn)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, fused=device.type == "cuda")
    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, config.vocab_size, (args.batch_size, args.seq_len + 1), generator=g).to(device)
    x, y = data[:, :-1], data[:, 1:]
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    times = []
    for i in range(args.warmup + args.steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with amp:
            loss = loss_fn(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        else:
            loss.item()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    tokens = args.batch_size * args.seq_len
    from winnow.training.model import GPT

    flops = GPT(config).flops_per_token(args.seq_len) if args.preset else 0.0
    result = {
        "side": args.side,
        "preset": args.preset,
        "params": sum(p.numel() for p in {id(p): p for p in model.parameters()}.values()),
        "tokens_per_s": tokens / statistics.median(times),
        "tokens_per_s_mean": tokens * len(times) / sum(times),
        "step_ms_median": 1000 * statistics.median(times),
        "final_loss": float(loss),
    }
    if device.type == "cuda":
        from winnow.training.trainer import peak_flops

        peak = peak_flops(device)
        result["device_name"] = torch.cuda.get_device_name(device)
        if peak:
            result["mfu"] = flops * result["tokens_per_s"] / peak
    return result


def _rebind(side: str, compiled, loss_fn):
    import torch

    if side == "winnow":
        return None, None, lambda x, y: compiled(x, y)[1]

    def loss(x, y):
        logits = compiled(input_ids=x).logits
        return torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)).float(), y.reshape(-1))

    return None, None, loss


def run_side(python: str, side: str, preset: str, args: argparse.Namespace, batch: int, seq_len: int) -> dict:
    cmd = [
        python, __file__, "--worker", side, "--preset", preset, "--vocab", str(args.vocab),
        "--batch-size", str(batch), "--seq-len", str(seq_len), "--steps", str(args.steps),
        "--warmup", str(args.warmup), "--threads", str(args.threads), "--device", args.device,
    ] + (["--compile"] if args.compile else [])  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{side} worker failed ({' '.join(cmd)}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="tiny,small")
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, help="default per preset (see CPU_SHAPES / GPU_SHAPES)")
    parser.add_argument("--seq-len", type=int)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 16))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--hf-python", default=str(DEFAULT_HF_PYTHON), help="interpreter with transformers installed")
    parser.add_argument("--skip-hf", action="store_true", help="measure Winnow only")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", choices=("winnow", "hf"), help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        args.side = args.worker
        print(json.dumps(worker(args)))
        return 0

    if not args.skip_hf and not Path(args.hf_python).exists():
        raise SystemExit(f"{args.hf_python}: no interpreter with transformers; create the venv (see the module docstring) or pass --skip-hf")
    shapes = GPU_SHAPES if args.device == "cuda" else CPU_SHAPES
    results = []
    for preset in args.presets.split(","):
        batch, seq_len = shapes.get(preset, (8, 128))
        batch, seq_len = args.batch_size or batch, args.seq_len or seq_len
        ours = run_side(sys.executable, "winnow", preset, args, batch, seq_len)
        row = {"preset": preset, "batch_size": batch, "seq_len": seq_len, "threads": args.threads, "device": args.device,
               "compile": args.compile, "winnow": ours}
        if not args.skip_hf:
            theirs = run_side(args.hf_python, "hf", preset, args, batch, seq_len)
            row["hf"] = theirs
            row["speedup"] = ours["tokens_per_s"] / theirs["tokens_per_s"]
        results.append(row)
        line = f"{preset:10s} B={batch} T={seq_len} params={ours['params']/1e6:.1f}M winnow {ours['tokens_per_s']:,.0f} tok/s"
        if "mfu" in ours:
            line += f" (MFU {ours['mfu']:.1%})"
        if "hf" in row:
            line += f" | transformers {row['hf']['tokens_per_s']:,.0f} tok/s | speedup {row['speedup']:.2f}x"
        print(line, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
