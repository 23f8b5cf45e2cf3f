"""`winnow classifier train`: train a fastText quality classifier (docs/classifiers.md).

Scoring and selection happen in recipes (the `classifier` step); this command
only trains. Nothing heavy is imported at module level.
"""
from __future__ import annotations

import argparse
import os

from winnow.core.errors import UserError, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `winnow classifier` and its `train` subcommand."""
    group = subparsers.add_parser("classifier", help="learned quality classifiers: train a fastText model")
    commands = group.add_subparsers(dest="classifier_command", metavar="SUBCOMMAND")
    group.set_defaults(handler=lambda args: (group.print_help(), 2)[1])
    parser = commands.add_parser(
        "train",
        help="train a fastText classifier from positive and negative sources",
        description=(
            "Train a fastText supervised classifier (DCLM's recipe: one normalized line per document, "
            "word bigrams, balanced classes) and report held-out precision, recall, F1, ROC AUC and "
            "calibration. A SRC is a Winnow output folder, a folder of Parquet files, a Parquet or JSONL "
            "file with a text column/field, or a text file. Writes MODEL_DIR/model.bin (model.ftz with --quantize) "
            "and model.json, and prints the model's size and the peak memory of training."
        ),
    )
    parser.add_argument("--positive", nargs="+", default=[], metavar="SRC", help="sources of good text")
    parser.add_argument("--negative", nargs="+", default=[], metavar="SRC", help="sources of bad text")
    parser.add_argument(
        "--labels", nargs="+", default=[], metavar="REVIEW_DIR",
        help="Winnow outputs labelled with `winnow review`: good is positive, bad is negative",
    )
    parser.add_argument("--output", required=True, metavar="MODEL_DIR", help="a new (or empty) folder")
    parser.add_argument("--holdout-fraction", type=float, default=0.1, help="per class, held out for metrics (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="sampling, split and fastText seed (default 0)")
    parser.add_argument(
        "--threads", type=positive_int, default=None,
        help="fastText training threads (default: all cores); 1 makes the model byte-identical for a seed",
    )
    parser.add_argument(
        "--dim", type=positive_int, default=None, help="vector dimension (default 32; fastText's own is 100)",
    )
    parser.add_argument(
        "--bucket", type=_non_negative_int, default=None, metavar="N",
        help="hash buckets for word n-grams (default 200000; fastText's own 2000000 makes an 800 MB model)",
    )
    parser.add_argument(
        "--quantize", action="store_true",
        help="product-quantize the model to MODEL_DIR/model.ftz (several times smaller; see docs/classifiers.md)",
    )
    parser.add_argument(
        "--cutoff", type=_non_negative_int, default=0, metavar="N",
        help="with --quantize: keep the N most important words and n-grams and retrain them (default 0: keep all)",
    )
    parser.add_argument("--epoch", type=positive_int, default=5, help="training epochs (default 5)")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    parser.add_argument("--word-ngrams", type=positive_int, default=2, help="word n-grams (default 2: bigrams, as DCLM)")
    parser.add_argument("--min-count", type=positive_int, default=1, help="minimal word count (default 1)")
    parser.add_argument("--lowercase", action="store_true", help="lowercase text before training and scoring")
    parser.add_argument("--max-chars", type=positive_int, default=None, help="characters of each document used (default 100000)")
    parser.add_argument(
        "--text-format", choices=("lines", "file"), default="lines",
        help="text files: one document per non-blank line (default) or per file",
    )
    parser.add_argument("--positive-label", default="__label__hq", help="default __label__hq (DCLM's convention)")
    parser.add_argument("--negative-label", default="__label__cc", help="default __label__cc")
    parser.set_defaults(handler=run_train)


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def run_train(args: argparse.Namespace) -> int:
    """Handler of `winnow classifier train`."""
    from winnow.curation.classifier.normalize import DEFAULT_MAX_CHARS
    from winnow.curation.classifier.train import (
        DEFAULT_BUCKET, DEFAULT_DIM, NEGATIVE, POSITIVE, TrainSettings, load_source, train_classifier,
    )
    from winnow.review.classifier_labels import load_review_labels

    if not (args.positive or args.labels) or not (args.negative or args.labels):
        raise UserError("give at least one positive and one negative source (--positive, --negative or --labels)")
    try:
        settings = TrainSettings(
            dim=args.dim or DEFAULT_DIM, bucket=DEFAULT_BUCKET if args.bucket is None else args.bucket,
            quantize=args.quantize, cutoff=args.cutoff, epoch=args.epoch, lr=args.lr, word_ngrams=args.word_ngrams, min_count=args.min_count,
            threads=args.threads or os.cpu_count() or 1, seed=args.seed, holdout_fraction=args.holdout_fraction,
            lowercase=args.lowercase, max_chars=args.max_chars or DEFAULT_MAX_CHARS, text_format=args.text_format,
            positive_label=args.positive_label, negative_label=args.negative_label,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    # ClassifierError's subclasses reach the CLI as they are: a missing source exits 2,
    # an unusable one 3, a diverged fastText run 1.
    positives = [load_source(p, POSITIVE, settings.text_format) for p in args.positive]
    negatives = [load_source(p, NEGATIVE, settings.text_format) for p in args.negative]
    review_counts = {}
    for folder in args.labels:
        good, bad, counts = load_review_labels(folder)
        positives.append(good)
        negatives.append(bad)
        review_counts[folder] = counts
    card = train_classifier(positives, negatives, args.output, settings, review_counts or None)
    _print_summary(args.output, card)
    return 0


def _print_summary(output: str, card: dict) -> None:
    counts = card["counts"]
    print(f"wrote {os.path.join(output, card['model_file'])} ({_megabytes(card['model_bytes'])}) and model.json")
    print(f"  peak memory {_megabytes(peak_memory_bytes())} (resident, this process)")
    for source in card["sources"]:
        unreadable = f", {source['unreadable']} unreadable" if source["unreadable"] else ""
        print(f"  {source['role']:8} {source['path']}: {source['documents']} documents{unreadable}")
    print(
        f"  examples: {counts['per_class_after_balancing']} per class after balancing "
        f"({counts['in_both_classes_dropped']} in both classes dropped); train {counts['train']}, holdout {counts['holdout']}"
    )
    metrics = card["metrics"]
    if metrics is None:
        print("  no holdout: metrics not computed (--holdout-fraction 0)")
        return
    print(
        f"  holdout at {metrics['threshold']}: precision {metrics['precision']:.3f} recall {metrics['recall']:.3f} "
        f"F1 {metrics['f1']:.3f} ROC AUC {metrics['roc_auc']:.3f}"
    )
    print("  calibration (score bin: count, mean score, positive rate):")
    for row in metrics["calibration"]:
        if row["count"]:
            low, high = row["bin"]
            print(f"    [{low:.1f}, {high:.1f}): {row['count']:5d}  {row['mean_score']:.3f}  {row['positive_rate']:.3f}")


def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def peak_memory_bytes() -> int:
    """The process's peak resident memory so far (Linux reports KiB, macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
