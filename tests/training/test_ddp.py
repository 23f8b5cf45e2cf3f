"""Data-parallel training with 2 CPU processes (torchrun, gloo) equals one
process accumulating gradients over the same global batch.

Exactness: one process accumulates g0 / 2 + g1 / 2 in its .grad buffers while
DDP all-reduces g0 + g1 and divides by 2. Halving is exact in floating point,
so with 2 ranks the two runs agree bit for bit (measured: max weight
difference 0.0 after 4 steps). With other world sizes (1/3 is not exact) or
more summands in another order they differ in the last bits, hence the 1e-5
tolerance rather than equality.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from tests.training.tiny_tokens import make_token_dir
from winnow.training.checkpoint import load_checkpoint
from winnow.training.model import GPT, ModelConfig
from tests.cpu_load import HANG_GUARD_S

STEPS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(run) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["split"] == "train"]


@pytest.mark.slow
def test_two_process_ddp_equals_one_process_with_accumulation(tmp_path):
    data = make_token_dir(tmp_path / "tok", train_tokens=6000, val_tokens=0)
    (tmp_path / "train.yaml").write_text("threads: 1\nwarmup_steps: 1\nlr: 0.003\n")
    common = [
        "train", "--data", str(data), "--config", str(tmp_path / "train.yaml"), "--model", "tiny",
        "--seq-len", "32", "--batch-size", "2", "--tokens-per-step", "128",  # 2 x 32 x 2 ranks, or 2 x 32 x 2 micro-steps
        "--max-steps", str(STEPS), "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    single = subprocess.run(
        [sys.executable, "-m", "winnow.cli", *common, "--output", str(tmp_path / "single")],
        env=env, capture_output=True, text=True, timeout=HANG_GUARD_S,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
            "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
            "-m", "winnow.cli", *common, "--output", str(tmp_path / "ddp"),
        ],
        env=env, capture_output=True, text=True, timeout=HANG_GUARD_S,
    )  # fmt: skip
    assert ddp.returncode == 0, ddp.stderr[-3000:]

    single_cfg = (tmp_path / "single" / "config.yaml").read_text()
    ddp_cfg = (tmp_path / "ddp" / "config.yaml").read_text()
    assert "accum_steps: 2" in single_cfg and "world_size: 1" in single_cfg
    assert "accum_steps: 1" in ddp_cfg and "world_size: 2" in ddp_cfg

    single_losses, ddp_losses = _losses(tmp_path / "single"), _losses(tmp_path / "ddp")
    assert len(single_losses) == len(ddp_losses) == STEPS
    assert ddp_losses == pytest.approx(single_losses, abs=1e-5)
    a = load_checkpoint(tmp_path / "single")["model"]
    b = load_checkpoint(tmp_path / "ddp")["model"]
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    # Training moved the weights well beyond that tolerance, so the comparison means something.
    state = load_checkpoint(tmp_path / "ddp")
    torch.manual_seed(1337)  # the trainer's default seed, set before building the model
    initial = GPT(ModelConfig.from_dict(state["model_config"])).state_dict()
    assert max((initial[k] - b[k]).abs().max().item() for k in b) > 1e-3
