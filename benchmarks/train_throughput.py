"""Training throughput: Winnow's GPT vs Hugging Face `LlamaForCausalLM` with the
identical architecture, sizes, batch, sequence length, dtype, optimizer and threads.

A measured step is forward + backward + AdamW step + zero_grad on a fixed
random batch. All sides live in one process and take turns: each round runs
--steps steps of every side, in an order that alternates between rounds
(A B C, C B A, ...), so a burst of load from other jobs hits every side alike.
Each side reports the median of all its step times; the ratio is taken
between medians, and the per-round ratios are printed too, so the noise is
visible. Warm-up steps (and torch.compile's compilation) are excluded.

Sides: `winnow` (the model as the trainer runs it), `winnow-aten` (the same
model with fp32 CPU matmuls left on PyTorch's default MKL path, to show what
the oneDNN routing contributes) and `hf` (transformers, which must be
importable: `pip install transformers`).

Usage (CPU, fp32):

    .venv/bin/python benchmarks/train_throughput.py --presets tiny,small --threads 2

On CUDA (bf16 autocast, fused AdamW, optionally --compile) it also reports MFU:

    python benchmarks/train_throughput.py --presets gpt2-124m --device cuda --compile --sides winnow
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# Defaults per preset: (batch, seq_len) small enough for a CPU run of a few minutes.
CPU_SHAPES = {"tiny": (16, 128), "small": (4, 256), "gpt2-124m": (2, 256)}
GPU_SHAPES = {"tiny": (64, 128), "small": (32, 512), "gpt2-124m": (16, 1024)}
SIDES = ("winnow", "winnow-aten", "hf")
TARGET = 1.25


def hf_model(config: Any, dtype: Any) -> Any:
    """transformers' Llama with exactly the Winnow config's architecture."""
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
    return LlamaForCausalLM._from_config(hf_config, attn_implementation="sdpa", dtype=dtype)


@dataclass
class Side:
    name: str
    step: Callable[[], float]  # runs one training step, returns the loss
    params: int
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)
    loss: float = float("nan")
    warmup_s: float = 0.0


def build_side(name: str, config: Any, x: Any, y: Any, args: argparse.Namespace) -> Side:
    import torch

    from winnow.training import model as winnow_model
    from winnow.training.cpu_kernels import set_cpu_matmul

    device = x.device
    torch.manual_seed(0)
    if name == "hf":
        model = hf_model(config, torch.float32)
    else:
        model = winnow_model.GPT(config)
    model.to(device).train()
    runner = torch.compile(model) if args.compile else model
    fused = args.optimizer == "fused" if args.optimizer else device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, fused=fused, foreach=None if fused else True)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    matmul = "aten" if name == "winnow-aten" else args.default_matmul

    def loss_fn():
        if name == "hf":
            # HF would shift labels itself; we pass the same shifted targets as Winnow's.
            logits = runner(input_ids=x).logits
            return torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)).float(), y.reshape(-1))
        # What the trainer calls: no logits needed, so the fused loss path is used on CPU.
        return runner(x, y, return_logits=False)[1]

    def step() -> float:
        if name != "hf":
            set_cpu_matmul(matmul)
        with amp:
            loss = loss_fn()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())  # synchronises CUDA

    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    return Side(name, step, params)


def measure(preset: str, batch: int, seq_len: int, args: argparse.Namespace) -> dict:
    import torch

    from winnow.training.model import GPT, config_from_preset

    device = torch.device(args.device)
    config = config_from_preset(preset, args.vocab, max_seq_len=max(seq_len, 1))
    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, config.vocab_size, (batch, seq_len + 1), generator=g).to(device)
    x, y = data[:, :-1], data[:, 1:]
    sides = [build_side(name, config, x, y, args) for name in args.sides]
    for side in sides:
        start = time.perf_counter()
        for _ in range(args.warmup):
            side.loss = side.step()
        side.warmup_s = time.perf_counter() - start
    for round_ in range(args.rounds):
        for side in sides if round_ % 2 == 0 else reversed(sides):
            times = []
            for _ in range(args.steps):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start, cpu_start = time.perf_counter(), time.process_time()
                side.loss = side.step()
                times.append(time.perf_counter() - start)
                side.cpu_times.append(time.process_time() - cpu_start)
            side.times.extend(times)
            side.round_medians.append(statistics.median(times))
    tokens = batch * seq_len
    flops = GPT(config).flops_per_token(seq_len)
    peak = None
    if device.type == "cuda":
        from winnow.training.trainer import peak_flops

        peak = peak_flops(device)
    row: dict[str, Any] = {
        "preset": preset, "batch_size": batch, "seq_len": seq_len, "vocab": config.vocab_size, "device": args.device,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(), "compile": args.compile, "rounds": args.rounds, "steps_per_round": args.steps,
        "optimizer": args.optimizer or ("fused" if device.type == "cuda" else "foreach"), "sides": {},
    }  # fmt: skip
    for side in sides:
        median = statistics.median(side.times)
        entry = {
            "params": side.params,
            "tokens_per_s": tokens / median,
            "step_ms_median": 1000 * median,
            "step_ms_min": 1000 * min(side.times),
            # CPU seconds of all threads per step: less sensitive to other jobs
            # on a shared machine than wall time.
            "cpu_s_per_step_median": statistics.median(side.cpu_times),
            "warmup_s": side.warmup_s,
            "final_loss": side.loss,
        }
        if peak:
            entry["mfu"] = flops * entry["tokens_per_s"] / peak
        row["sides"][side.name] = entry
    if "hf" in row["sides"]:
        hf = next(s for s in sides if s.name == "hf")
        for side in sides:
            if side.name == "hf":
                continue
            key = side.name
            row[f"ratio_{key}"] = row["sides"][key]["tokens_per_s"] / row["sides"]["hf"]["tokens_per_s"]
            row[f"ratio_{key}_cpu_time"] = row["sides"]["hf"]["cpu_s_per_step_median"] / row["sides"][key]["cpu_s_per_step_median"]
            row[f"ratio_{key}_per_round"] = [h / o for o, h in zip(side.round_medians, hf.round_medians)]
    return row


def print_row(row: dict) -> None:
    head = f"{row['preset']} B={row['batch_size']} T={row['seq_len']} vocab={row['vocab']} {row['device_name']} threads={row['threads']}"
    print(head + (" compile" if row["compile"] else "") + f" optimizer={row['optimizer']}", flush=True)
    for name, side in row["sides"].items():
        line = (
            f"  {name:12s} {side['tokens_per_s']:10,.0f} tok/s  step {side['step_ms_median']:8.1f} ms (min {side['step_ms_min']:.1f})"
            f"  {side['cpu_s_per_step_median']:.2f} CPU-s/step  params {side['params'] / 1e6:.1f}M  warm-up {side['warmup_s']:.1f} s"
        )
        if "mfu" in side:
            line += f"  MFU {side['mfu']:.1%}"
        print(line, flush=True)
    for name in row["sides"]:
        if f"ratio_{name}" in row:
            rounds = ", ".join(f"{r:.2f}" for r in row[f"ratio_{name}_per_round"])
            print(
                f"  ratio {name}/hf: {row[f'ratio_{name}']:.2f}x by median step (by CPU time {row[f'ratio_{name}_cpu_time']:.2f}x;"
                f" per round {rounds}) target >= {TARGET}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="tiny,small")
    parser.add_argument("--sides", default="winnow,hf", help=f"comma-separated, from {', '.join(SIDES)}")
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, help="default per preset (see CPU_SHAPES / GPU_SHAPES)")
    parser.add_argument("--seq-len", type=int)
    parser.add_argument("--steps", type=int, default=3, help="steps per side per round")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds")
    parser.add_argument("--warmup", type=int, default=2, help="steps per side before measuring (compilation happens here)")
    parser.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 16))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--compile", action="store_true", help="torch.compile every side")
    parser.add_argument("--optimizer", choices=("foreach", "fused"), help="AdamW kernel; default fused on CUDA, foreach on CPU (as the trainer)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    args.sides = [s for s in args.sides.split(",") if s]
    unknown = sorted(set(args.sides) - set(SIDES))
    if unknown or not args.sides:
        parser.error(f"--sides: unknown {unknown}; choose from {', '.join(SIDES)}")
    if "hf" in args.sides:
        try:
            import transformers  # noqa: F401
        except ImportError:
            parser.error("the hf side needs transformers (pip install transformers), or pass --sides winnow")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    from winnow.training.cpu_kernels import cpu_matmul

    torch.set_num_threads(args.threads)
    args.default_matmul = cpu_matmul()  # what the trainer gets: oneDNN where available
    if args.device == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: CUDA is not available")
        torch.backends.cuda.matmul.allow_tf32 = True
    shapes = GPU_SHAPES if args.device == "cuda" else CPU_SHAPES
    results = []
    for preset in args.presets.split(","):
        batch, seq_len = shapes.get(preset, (8, 128))
        row = measure(preset, args.batch_size or batch, args.seq_len or seq_len, args)
        print_row(row)
        results.append(row)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
