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
    """The model for `side` and the Winnow config both sides are built from."""
    import torch

    from winnow.training.model import GPT

    config = _model_config(preset, vocab, seq_len)
    if side == "winnow":
        return GPT(config), config
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
    return LlamaForCausalLM._from_config(hf_config, attn_implementation="sdpa", dtype=torch.float32), config


def _loss_fn(side: str, runner):
    """loss(x, y) over the same (B, T) next-token predictions on both sides."""
    import torch

    if side == "winnow":
        # What the trainer calls: no logits needed, so the fused loss path is used.
        return lambda x, y: runner(x, y, return_logits=False)[1]

    def loss(x, y):
        # HF would shift labels itself; we pass shifted targets like Winnow's.
        logits = runner(input_ids=x).logits
        return torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)).float(), y.reshape(-1))

    return loss


def worker(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model, config = _build(args.side, args.preset, args.vocab, args.seq_len)
    model.to(device).train()
    loss_fn = _loss_fn(args.side, torch.compile(model) if args.compile else model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, fused=device.type == "cuda")
    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, config.vocab_size, (args.batch_size, args.seq_len + 1), generator=g).to(device)
    x, y = data[:, :-1], data[:, 1:]
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    times, cpu_times = [], []
    for i in range(args.warmup + args.steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start, cpu_start = time.perf_counter(), time.process_time()
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
            cpu_times.append(time.process_time() - cpu_start)
    tokens = args.batch_size * args.seq_len
    from winnow.training.model import GPT

    flops = GPT(config).flops_per_token(args.seq_len)
    result = {
        "side": args.side,
        "preset": args.preset,
        "params": sum(p.numel() for p in {id(p): p for p in model.parameters()}.values()),
        "tokens_per_s": tokens / statistics.median(times),
        "tokens_per_s_mean": tokens * len(times) / sum(times),
        "step_ms_median": 1000 * statistics.median(times),
        # CPU seconds of all threads per step: robust to other load on a shared
        # machine (wall time is not), comparable between sides at equal threads.
        "cpu_s_per_step_median": statistics.median(cpu_times),
        "final_loss": float(loss),
    }
    if device.type == "cuda":
        from winnow.training.trainer import peak_flops

        peak = peak_flops(device)
        result["device_name"] = torch.cuda.get_device_name(device)
        if peak:
            result["mfu"] = flops * result["tokens_per_s"] / peak
    return result


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


def _best(current: dict | None, new: dict) -> dict:
    return new if current is None or new["tokens_per_s"] > current["tokens_per_s"] else current


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="tiny,small")
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, help="default per preset (see CPU_SHAPES / GPU_SHAPES)")
    parser.add_argument("--seq-len", type=int)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per side; the best is kept")
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
        # Sides alternate for --rounds rounds and each keeps its best round, so
        # a burst of load from other processes does not decide the comparison.
        ours = theirs = None
        for _ in range(args.rounds):
            ours = _best(ours, run_side(sys.executable, "winnow", preset, args, batch, seq_len))
            if not args.skip_hf:
                theirs = _best(theirs, run_side(args.hf_python, "hf", preset, args, batch, seq_len))
        row = {"preset": preset, "batch_size": batch, "seq_len": seq_len, "threads": args.threads, "device": args.device,
               "compile": args.compile, "rounds": args.rounds, "winnow": ours}
        if theirs is not None:
            row["hf"] = theirs
            row["speedup"] = ours["tokens_per_s"] / theirs["tokens_per_s"]
            row["speedup_cpu_time"] = theirs["cpu_s_per_step_median"] / ours["cpu_s_per_step_median"]
        results.append(row)
        line = f"{preset:10s} B={batch} T={seq_len} params={ours['params']/1e6:.1f}M winnow {ours['tokens_per_s']:,.0f} tok/s"
        if "mfu" in ours:
            line += f" (MFU {ours['mfu']:.1%})"
        if "hf" in row:
            line += (
                f" | transformers {row['hf']['tokens_per_s']:,.0f} tok/s | speedup {row['speedup']:.2f}x"
                f" (by CPU time per step {row['speedup_cpu_time']:.2f}x)"
            )
        print(line, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
