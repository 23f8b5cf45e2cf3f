"""`winnow ablate`: which curation recipe makes the better model?

For each recipe the same archives are curated (and deduplicated when the recipe
says so) with the `winnow run` stages. One tokenizer is trained on the union of
the curated corpora (or a given one is used) so no recipe gets a tokenizer
fitted to itself. Then identical models are trained on each corpus with the
same token budget and seeds, and compared by bits per byte on a common
held-out text (and multiple-choice accuracy when task files are given).

Layout under OUTPUT:
    recipes/<name>/...            curate/, dedup/ and stage manifests per recipe
    tokenizer/tokenizer.json      the shared tokenizer
    recipes/<name>/tokens/        token shards of that recipe's corpus
    recipes/<name>/train-seed<S>/ one training run per seed
    ablate/results.json           the table the report shows
    report.html, summary.json
"""
from __future__ import annotations

import json
import shutil
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from winnow.atomic import atomic_write_json
from winnow.runner import documents_dir, load_context, run_stages, settings_hash


class AblationError(RuntimeError):
    """An ablation cannot run as asked; the message says why."""


def run_ablation(
    recipes: Sequence[str],
    output: str,
    budget_tokens: int,
    eval_text: str,
    inputs: Sequence[str] | None = None,
    tasks: Sequence[str] = (),
    seeds: Sequence[int] = (0,),
    model: str = "tiny",
    vocab_size: int = 4096,
    tokenizer: str | None = None,
    train_overrides: dict[str, Any] | None = None,
    beam_args: Sequence[str] = (),
    progress: bool = True,
) -> dict[str, Any]:
    from winnow.training.config import TrainConfig, train_config_from_mapping
    from winnow.training.tokenizer import TokenizerConfig, train_tokenizer
    from winnow.training.tokens import tokenize_corpus

    if not Path(eval_text).exists():
        raise AblationError(f"--eval-text {eval_text}: no such file or directory")
    out = Path(output)
    contexts = {}
    for spec in recipes:
        ctx = load_context(spec, out / "recipes" / Path(spec).stem, beam_args, inputs, progress)
        if ctx.recipe_name in contexts:
            raise AblationError(f"recipe {ctx.recipe_name!r} is given twice")
        _say(progress, f"== recipe {ctx.recipe_name}: curation")
        run_stages(ctx, until_stage="dedup")
        contexts[ctx.recipe_name] = ctx

    if tokenizer:
        tokenizer_path = Path(tokenizer)
        if not tokenizer_path.is_file():
            raise AblationError(f"--tokenizer {tokenizer}: no such file")
    else:
        tokenizer_path = out / "tokenizer" / "tokenizer.json"
        union = [documents_dir(ctx) for ctx in contexts.values()]
        wanted = settings_hash({"union": union, "vocab": vocab_size, "fingerprints": [c.fingerprints.get("dedup") for c in contexts.values()]})
        stamp = tokenizer_path.with_suffix(".settings")
        if not (tokenizer_path.is_file() and stamp.is_file() and stamp.read_text() == wanted):
            _say(progress, f"== shared tokenizer on {len(union)} corpora (vocab {vocab_size})")
            tokenizer_path.parent.mkdir(parents=True, exist_ok=True)
            train_tokenizer(union, TokenizerConfig(vocab_size=vocab_size), tokenizer_path)
            stamp.write_text(wanted)

    results: dict[str, Any] = {"budget_tokens": budget_tokens, "eval_text": str(eval_text), "model": model, "seeds": list(seeds), "recipes": {}}
    for name, ctx in contexts.items():
        token_dir = ctx.run_dir / "tokens"
        docs = documents_dir(ctx)
        _say(progress, f"== recipe {name}: tokenize")
        manifest = tokenize_corpus(docs, str(tokenizer_path), str(token_dir), overwrite=True)
        runs = []
        for seed in seeds:
            config = train_config_from_mapping(
                {**(train_overrides or {}), "max_tokens": budget_tokens, "seed": seed, "eval_every": 0},
                "ablation train settings",
                TrainConfig(model=model),
            )
            run_dir = ctx.run_dir / f"train-seed{seed}"
            runs.append(_train_and_score(config, token_dir, run_dir, eval_text, tasks, progress, name, seed))
        bpbs = [r["val_bpb"] for r in runs]
        results["recipes"][name] = {
            "runs": runs,
            "mean_bpb": statistics.fmean(bpbs),
            "std_bpb": statistics.stdev(bpbs) if len(bpbs) > 1 else 0.0,
            "documents": manifest["splits"]["train"]["documents"],
            "tokens": manifest["splits"]["train"]["tokens"],
        }
    (out / "ablate").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "ablate" / "results.json", results)
    try:
        from winnow.report import write_report

        write_report(out)
    except ImportError:
        pass
    return results


def _train_and_score(config, token_dir: Path, run_dir: Path, eval_text: str, tasks: Sequence[str], progress: bool, name: str, seed: int) -> dict[str, Any]:
    """Train one model (or reuse a finished identical run) and score it on the common text."""
    import dataclasses

    from winnow.training.trainer import train

    wanted = settings_hash({"config": dataclasses.asdict(config), "tokens": str(token_dir), "manifest": (token_dir / "manifest.json").read_text()})
    stamp = run_dir / "ablation.json"
    cached = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if cached.get("settings") == wanted and cached.get("result"):
        _say(progress, f"== recipe {name}, seed {seed}: up to date")
        return cached["result"]
    if run_dir.exists():
        shutil.rmtree(run_dir)
    _say(progress, f"== recipe {name}, seed {seed}: train")
    train(config, token_dir, run_dir, overwrite=True, progress=progress)
    result = {"seed": seed, **score_run(run_dir, eval_text, tasks)}
    atomic_write_json(stamp, {"settings": wanted, "result": result})  # a torn stamp would defeat the cache check
    return result


def score_run(run_dir: Path, eval_text: str, tasks: Sequence[str]) -> dict[str, Any]:
    import torch

    from winnow.training.checkpoint import load_model_for_inference
    from winnow.training.evaluate import evaluate_multiple_choice, evaluate_text, iter_text_source
    from winnow.training.mc_tasks import load_mc_tasks

    model, _, tokenizer = load_model_for_inference(run_dir)
    with torch.no_grad():
        text = evaluate_text(model, tokenizer, iter_text_source(eval_text))
        scored = {}
        for task in tasks:
            r = evaluate_multiple_choice(model, tokenizer, load_mc_tasks(task))
            scored[Path(task).stem] = {"acc": r["acc"], "acc_norm": r["acc_norm"]}
    return {"val_bpb": text["bits_per_byte"], "val_loss": text["loss"], "tasks": scored}


def print_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ablation: {results['budget_tokens']:,} tokens per model, bits per byte on {results['eval_text']}")
    table.add_column("recipe")
    table.add_column("documents", justify="right")
    table.add_column("train tokens", justify="right")
    table.add_column("bpb (mean ± std)", justify="right")
    table.add_column("per seed", justify="right")
    for name, row in sorted(results["recipes"].items(), key=lambda kv: kv[1]["mean_bpb"]):
        per_seed = ", ".join(f"{r['val_bpb']:.4f}" for r in row["runs"])
        table.add_row(name, f"{row['documents']:,}", f"{row['tokens']:,}", f"{row['mean_bpb']:.4f} ± {row['std_bpb']:.4f}", per_seed)
    Console().print(table)


def _say(progress: bool, message: str) -> None:
    if progress:
        import sys

        print(message, file=sys.stderr, flush=True)
