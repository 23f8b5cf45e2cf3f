"""`winnow evaluate`, `winnow generate`, `winnow export` and `winnow make-tasks`.

Handlers import torch and the model code only when they run, so importing
this module (as `winnow --help` does) imports neither torch nor Beam.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from winnow.cli.vocabulary import add_deprecated_alias, deprecation
from winnow.core.errors import InputError, UserError, WinnowError, positive_int

DEVICES = ("auto", "cpu", "cuda")
CHECKPOINTS = ("latest", "best")  # continuous_eval.CHECKPOINT_CHOICES, without importing torch
BUILTIN_TASK_PREFIX = "builtin:"  # --tasks builtin:copy generates a task instead of reading a file
DEFAULT_BUILTIN_EXAMPLES = 200


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser(
        "evaluate",
        help="loss, perplexity, bits per byte and multiple-choice accuracy of a trained run",
        description="Evaluate a run's latest checkpoint on a token directory's split (exact), raw text "
        "(Parquet dir/glob/file, or a .txt file read as one document) and multiple-choice task files.",
    )
    evaluate.add_argument("--run", required=True, metavar="RUN_DIR", help="run directory written by `winnow train`")
    source = evaluate.add_mutually_exclusive_group()
    source.add_argument("--input", dest="data", metavar="TOKENS_DIR", help="token directory (winnow tokenize) to evaluate a split of")
    add_deprecated_alias(source, "--data", "--input", dest="data")
    source.add_argument("--text", metavar="PARQUET_OR_TXT", help="curated Parquet dir/glob/file, or a .txt file (one document)")
    evaluate.add_argument("--split", default="val", choices=("train", "val"), help="split of --input (default val)")
    evaluate.add_argument(
        "--tasks",
        nargs="+",
        default=[],
        metavar="FILE.jsonl",
        help=f"multiple-choice task files (HellaSwag/ARC/PIQA layouts), or {BUILTIN_TASK_PREFIX}copy for the built-in copy task",
    )
    evaluate.add_argument(
        "--lm-eval-tasks",
        nargs="+",
        default=[],
        metavar="NAME",
        help="run lm-evaluation-harness in process on these tasks (hellaswag, arc_easy, piqa, lambada_openai, "
        "or tasks under --include-path); offline: datasets come from local files or the local HF cache",
    )
    evaluate.add_argument("--include-path", metavar="DIR", help="folder of lm-eval task YAMLs (e.g. dataset_path: json over local JSONL)")
    evaluate.add_argument("--limit", type=positive_int, default=None, help="--lm-eval-tasks: at most N documents per task")
    evaluate.add_argument("--num-fewshot", type=int, default=None, help="--lm-eval-tasks: few-shot examples (default: the task's)")
    evaluate.add_argument(
        "--eval-tokens",
        dest="max_tokens",
        type=positive_int,
        default=None,
        help="--input: predict at most N tokens (bits/byte then approximate); "
        "--text: stop after the document that reaches N tokens (exact over those documents)",
    )
    add_deprecated_alias(evaluate, "--max-tokens", "--eval-tokens", dest="max_tokens", type=positive_int)
    evaluate.add_argument("--batch-size", type=positive_int, default=8, help="sequences per forward pass (default 8)")
    evaluate.add_argument("--seq-len", type=positive_int, default=None, help="window length (default: the model's max_seq_len)")
    evaluate.add_argument("--device", choices=DEVICES, default="auto", help="default: cuda when available")
    evaluate.add_argument("--output", metavar="OUT.json", help="also write the results as JSON to this file")
    # --json is a switch everywhere (JSON on stdout); `--json FILE` is the old spelling of --output FILE.
    evaluate.add_argument("--json", nargs="?", const=True, default=False, metavar="",
                          help="print the results as JSON on stdout instead of the table")
    evaluate.add_argument("--checkpoint", choices=CHECKPOINTS, default="latest", help="latest (default), or best (train with best_metric)")
    evaluate.set_defaults(handler=_evaluate)

    generate = subparsers.add_parser("generate", help="sample text from a trained run")
    generate.add_argument("--run", required=True, metavar="RUN_DIR", help="run directory written by `winnow train`")
    generate.add_argument("--prompt", default="", help="text to continue (default: start a new document)")
    generate.add_argument("--max-new-tokens", type=positive_int, default=100, help="default 100")
    generate.add_argument("--temperature", type=_non_negative_float, default=0.8, help="0 = greedy (default 0.8)")
    generate.add_argument("--top-k", type=positive_int, default=None, help="sample among the k most likely tokens")
    generate.add_argument("--seed", type=int, default=None, help="seed for reproducible sampling")
    generate.add_argument("--device", choices=DEVICES, default="auto", help="default: cuda when available")
    generate.set_defaults(handler=_generate)

    export = subparsers.add_parser("export", help="export a run as a Hugging Face LlamaForCausalLM folder")
    export.add_argument("--run", required=True, metavar="RUN_DIR", help="run directory written by `winnow train`")
    export.add_argument("--output", required=True, metavar="DIR", help="folder to create (must not exist, or be empty)")
    export.add_argument("--checkpoint", choices=CHECKPOINTS, default="latest", help="latest (default), or best (train with best_metric)")
    export.set_defaults(handler=_export)

    tasks = subparsers.add_parser(
        "make-tasks",
        help="generate a synthetic multiple-choice task file (sentence completion from text, or copy)",
    )
    tasks.add_argument("--kind", choices=("sentences", "copy"), default="sentences", help="default sentences")
    tasks.add_argument("--text", metavar="PARQUET_OR_TXT", help="held-out text for --kind sentences")
    tasks.add_argument("--output", required=True, metavar="FILE.jsonl", help="task file to write")
    tasks.add_argument("--examples", type=positive_int, default=DEFAULT_BUILTIN_EXAMPLES, help="default 200")
    tasks.add_argument("--choices", type=positive_int, default=4, help="endings per example (default 4)")
    tasks.add_argument("--seed", type=int, default=0, help="default 0")
    tasks.set_defaults(handler=_make_tasks)


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available")
    return name


def _require_training_run(run_dir: str) -> None:
    """--run must be what `winnow train` wrote; anything else is named, with what to run first."""
    from winnow.summaries import training_run_problem

    problem = training_run_problem(run_dir)
    if problem:
        raise UserError(f"--run {problem}")


def _load_run(run_dir: str, device: str, checkpoint: str = "latest") -> tuple[Any, Any, Any]:
    from winnow.training.continuous_eval import load_model_at

    _require_training_run(run_dir)
    # CheckpointError's subclasses reach the CLI as they are: no such checkpoint exits 2, a corrupt one 3.
    return load_model_at(run_dir, checkpoint, device=device)


def _load_tasks(specs: list[str]) -> list[tuple[str, list]]:
    from winnow.training.mc_tasks import load_mc_tasks, synthetic_task

    loaded = []
    for spec in specs:  # an unknown task or a missing file exits 2, a malformed file 3 (the loaders decide)
        if spec.startswith(BUILTIN_TASK_PREFIX):
            name = spec[len(BUILTIN_TASK_PREFIX) :]
            loaded.append((spec, synthetic_task(name, DEFAULT_BUILTIN_EXAMPLES)))
        else:
            loaded.append((Path(spec).stem, load_mc_tasks(spec)))
    return loaded


def _evaluate(args: argparse.Namespace) -> int:
    if isinstance(args.json, str):  # `--json FILE`: the spelling before --output
        deprecation(args.command_parser, f"--json {args.json}", f"--output {args.json}")
        args.output, args.json = args.output or args.json, False
    if not (args.data or args.text or args.tasks or args.lm_eval_tasks):
        raise UserError(
            "nothing to evaluate: give --input TOKENS_DIR, --text PARQUET_OR_TXT, --tasks FILE.jsonl and/or --lm-eval-tasks NAME"
        )
    if args.include_path and not args.lm_eval_tasks:
        raise UserError("--include-path is for --lm-eval-tasks; give the task names to run from it")
    if args.include_path and not Path(args.include_path).is_dir():
        raise UserError(f"--include-path {args.include_path}: no such directory")
    if args.lm_eval_tasks:
        import importlib.util

        if importlib.util.find_spec("lm_eval") is None:
            raise UserError("--lm-eval-tasks needs lm-evaluation-harness: pip install 'winnow[eval]'")
    tasks = _load_tasks(args.tasks)  # before the model loads: a bad task file fails fast
    device = _device(args.device)
    model, config, tokenizer = _load_run(args.run, device, args.checkpoint)
    if args.seq_len and args.seq_len > config.max_seq_len:
        raise UserError(f"--seq-len {args.seq_len} exceeds the model's max_seq_len {config.max_seq_len}")

    from winnow.training.evaluate import evaluate_multiple_choice, evaluate_split, evaluate_text, iter_text_source

    results: dict[str, Any] = {"run": str(Path(args.run).resolve()), "model": config.to_dict()}
    try:
        if args.data:
            _check_same_tokenizer(args.run, args.data)
            try:
                results["data"] = evaluate_split(
                    model, args.data, args.split, args.seq_len, args.batch_size, device, args.max_tokens
                )
            except ValueError as exc:
                if not (args.text or tasks) or "is empty" not in str(exc):
                    raise
                # An empty split (a small corpus with a small --val-fraction) should not hide the other results.
                print(f"warning: {exc}; evaluating the rest", file=sys.stderr)
        if args.text:
            texts = iter_text_source(args.text)
            results["text"] = {"source": args.text, **evaluate_text(
                model, tokenizer, texts, args.seq_len, args.batch_size, device, args.max_tokens
            )}
        if tasks:
            results["tasks"] = {
                name: evaluate_multiple_choice(model, tokenizer, examples, args.batch_size, device)
                for name, examples in tasks
            }
        if args.lm_eval_tasks:
            from winnow.training.lm_eval_adapter import make_lm, run_lm_eval

            lm = make_lm(model, tokenizer, args.batch_size, device)
            results["lm_eval"] = run_lm_eval(lm, args.lm_eval_tasks, args.include_path, args.limit, args.num_fewshot)
    except WinnowError:
        raise  # TokenDataError, ParquetInputError, LmEvalError, unreadable text: each with its own exit status
    except ValueError as exc:  # a builtin from a library reading the input (the message names it)
        raise InputError(str(exc)) from None
    if args.json is True:
        print(json.dumps(results, indent=2, allow_nan=True))
    else:
        _print_results(results)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    return 0


def _check_same_tokenizer(run_dir: str, token_dir: str) -> None:
    """Shards encoded with another tokenizer would be scored as nonsense."""
    from winnow.training.data import read_manifest
    from winnow.training.shard_format import sha256_file

    manifest = read_manifest(token_dir)
    run_sha = sha256_file(Path(run_dir) / "tokenizer.json")
    if manifest["tokenizer"]["sha256"] != run_sha:
        raise UserError(
            f"--data {token_dir}: its shards were made with another tokenizer than the run's "
            f"({str(manifest['tokenizer']['sha256'])[:12]}... vs {run_sha[:12]}...); use --text to compare across tokenizers"
        )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:,.4f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _print_results(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    lm = [(k, results[k]) for k in ("data", "text") if k in results]
    if lm:
        table = Table(title="Language modelling")
        table.add_column("source", overflow="fold")
        for column in ("loss", "perplexity", "bits/byte", "tokens", "bytes", "exact"):
            table.add_column(column, justify="right")
        for _, row in lm:
            table.add_row(
                str(row["source"]), _fmt(row["loss"]), _fmt(row["perplexity"]), _fmt(row["bits_per_byte"]),
                _fmt(row["tokens"]), f"{row['bytes']:,.0f}", _fmt(row["exact"]),
            )
        console.print(table)
    if "tasks" in results:
        table = Table(title="Multiple choice (lm-evaluation-harness definitions; ± standard error)")
        for column in ("task", "examples", "acc", "acc_norm", "acc_bytes", "acc_token_norm", "chance"):
            table.add_column(column, justify="left" if column == "task" else "right")
        for name, row in results["tasks"].items():
            cells = [_with_stderr(row, c) for c in ("acc", "acc_norm", "acc_bytes", "acc_token_norm")]
            table.add_row(name, _fmt(row["examples"]), *cells, _fmt(row["chance"]))
        console.print(table)
    if "lm_eval" in results:
        table = Table(title="lm-evaluation-harness (in process)")
        for column in ("task", "metric", "value", "stderr", "examples"):
            table.add_column(column, justify="left" if column in ("task", "metric") else "right")
        for task, row in results["lm_eval"].items():
            for metric, value in row.items():
                if metric.endswith("_stderr") or metric in ("examples", "num_fewshot") or not isinstance(value, (int, float)):
                    continue
                table.add_row(task, metric, _fmt(float(value)), _fmt(row.get(f"{metric}_stderr", "")), _fmt(row.get("examples")))
        console.print(table)


def _with_stderr(row: dict[str, Any], metric: str) -> str:
    """"0.3047 ± 0.0407", as lm-eval prints an accuracy and its standard error."""
    stderr = row.get(f"{metric}_stderr")
    if isinstance(stderr, float) and math.isfinite(stderr):
        return f"{row[metric]:.4f} ± {stderr:.4f}"
    return _fmt(row[metric])


def _generate(args: argparse.Namespace) -> int:
    device = _device(args.device)
    model, _, tokenizer = _load_run(args.run, device)
    from winnow.training.generate import generate

    result = generate(model, tokenizer, args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.seed)
    sys.stdout.write(args.prompt + result.text + "\n")
    return 0


def _export(args: argparse.Namespace) -> int:
    from winnow.training.export import export_hf

    _require_training_run(args.run)
    try:
        out = export_hf(args.run, args.output, args.checkpoint)
    except FileExistsError as exc:  # an output that exists: what was asked for is wrong (exit 2)
        raise UserError(str(exc)) from None
    print(f"{out}: Hugging Face LlamaForCausalLM folder (load with AutoModelForCausalLM.from_pretrained)")
    return 0


def _make_tasks(args: argparse.Namespace) -> int:
    from winnow.training.mc_tasks import copy_tasks, sentence_completion_tasks, write_mc_tasks

    # Wrong settings exit 2, text too short to cut tasks from exits 3 (the generators raise each).
    if args.kind == "copy":
        examples = copy_tasks(args.examples, args.choices, seed=args.seed)
    else:
        if not args.text:
            raise UserError("--kind sentences needs --text PARQUET_OR_TXT (held-out text to cut sentences from)")
        from winnow.training.evaluate import iter_text_source

        examples = sentence_completion_tasks(iter_text_source(args.text), args.examples, args.choices, args.seed)
    count = write_mc_tasks(examples, args.output)
    print(f"{args.output}: {count} {args.kind} examples with {args.choices} endings each")
    return 0
