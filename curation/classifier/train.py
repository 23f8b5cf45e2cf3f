"""`winnow classifier train`: a fastText quality classifier from positive and negative sources.

DCLM's recipe: one normalized line per document, word bigrams, the classes
balanced by downsampling the larger one. A stratified held-out split measures
precision, recall, F1, ROC AUC and calibration; `model.json` records the
sources (with content hashes), every count, the settings, the metrics and the
label names, so a model can be traced to exactly what it learned from. With
`threads=1` the same seed gives a byte-identical `model.bin`.

A source is a Winnow output folder (its documents/), a folder of Parquet
files, a Parquet file with a text column, a JSONL file, or a text file (one
document per non-blank line, or the whole file); review labels of a Winnow
output (`winnow review`: good is positive, bad is negative) are turned into
sources by `winnow.review.classifier_labels`, so curation never imports review.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from winnow.curation.classifier.fasttext_backend import ClassifierConfigError, ClassifierInputError, ClassifierTrainingFailed, FastTextScorer
from winnow.curation.classifier.normalize import DEFAULT_MAX_CHARS, Normalization, normalize_text
from winnow.curation.classifier.step import MODEL_CARD

MODEL_FILE = "model.bin"
QUANTIZED_MODEL_FILE = "model.ftz"
# A fastText model is (words + buckets) rows of `dim` float32s; word n-grams
# (bigrams here) are hashed into `bucket` rows. fastText's own defaults (2M
# buckets, dim 100) make an 860 MB model whatever the data size; these keep a
# model of ~1,200 web documents under 50 MB with the same held-out ROC AUC
# (docs/classifiers.md, "Model size", has the measurements and commands).
DEFAULT_BUCKET = 200_000
DEFAULT_DIM = 32
MIN_CUTOFF = 256  # fastText's product quantizer needs 256 rows (one per centroid)
POSITIVE = "positive"
NEGATIVE = "negative"
CALIBRATION_BINS = 10
MAX_FAILURES_SHOWN = 5


@dataclass(frozen=True)
class TrainSettings:
    """fastText's supervised settings (fastText's defaults, with DCLM's word bigrams and a smaller table)."""

    dim: int = DEFAULT_DIM
    bucket: int = DEFAULT_BUCKET
    quantize: bool = False  # product-quantize to a .ftz file (fastText's `quantize`)
    cutoff: int = 0  # with quantize: keep only the N most important words and n-grams (0: all)
    epoch: int = 5
    lr: float = 0.1
    word_ngrams: int = 2
    min_count: int = 1
    threads: int = 1
    seed: int = 0
    holdout_fraction: float = 0.1
    lowercase: bool = False
    max_chars: int = DEFAULT_MAX_CHARS
    text_format: str = "lines"  # text files: one document per non-blank line, or "file"
    positive_label: str = "__label__hq"
    negative_label: str = "__label__cc"

    def __post_init__(self) -> None:
        for key in ("dim", "epoch", "word_ngrams", "min_count", "threads", "max_chars"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be > 0, got {getattr(self, key)!r}")
        if self.bucket < 0 or self.cutoff < 0:
            raise ValueError(f"bucket and cutoff must be >= 0, got {self.bucket!r} and {self.cutoff!r}")
        if self.cutoff and not self.quantize:
            raise ValueError("cutoff applies to quantized models only; add quantize")
        if 0 < self.cutoff < MIN_CUTOFF:
            raise ValueError(f"cutoff must be 0 or at least {MIN_CUTOFF} (fastText's quantizer needs that many rows)")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be within [0, 1), got {self.holdout_fraction!r}")
        for key in ("positive_label", "negative_label"):
            value = getattr(self, key)
            if not value.startswith("__label__") or len(value) == len("__label__") or any(c.isspace() for c in value):
                raise ValueError(f"{key} must look like __label__NAME without spaces, got {value!r}")
        if self.positive_label == self.negative_label:
            raise ValueError("positive_label and negative_label must differ")
        if self.text_format not in ("lines", "file"):
            raise ValueError(f"text_format must be 'lines' or 'file', got {self.text_format!r}")

    @property
    def model_file(self) -> str:
        return QUANTIZED_MODEL_FILE if self.quantize else MODEL_FILE

    @property
    def normalization(self) -> Normalization:
        return Normalization(lowercase=self.lowercase, max_chars=self.max_chars)


@dataclass
class LoadedSource:
    """The texts of one source and what it was read from."""

    path: str
    role: str
    kind: str
    files: list[dict[str, Any]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "role": self.role,
            "kind": self.kind,
            "files": self.files,
            "documents": len(self.texts),
            "unreadable": len(self.failures),
            "unreadable_examples": self.failures[:MAX_FAILURES_SHOWN],
        }


def file_digest(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def _read_records(path: Path, fmt: str, text_format: str, source: LoadedSource) -> None:
    from winnow.curation.archive import ReadFailure
    from winnow.curation.readers import ReaderOptions, iter_records

    options = ReaderOptions(text_format=text_format)
    with open(path, "rb") as stream:
        for item in iter_records(stream, str(path), fmt, options):
            if isinstance(item, ReadFailure):
                source.failures.append(f"{item.source}: {item.message}")
            elif item.text.strip():
                source.texts.append(item.text)
    source.files.append(file_digest(path))


def _output_parquet_files(folder: Path) -> tuple[str, list[Path]]:
    documents = folder / "documents"
    if documents.is_dir():
        return "winnow output (documents/)", sorted(documents.glob("*.parquet"))
    return "parquet folder", sorted(folder.glob("*.parquet"))


def load_source(path: str, role: str, text_format: str = "lines") -> LoadedSource:
    """Every non-empty text of one source; a source that yields none is an error naming it."""
    from winnow.curation.readers import FORMAT_WARC, detect_format

    p = Path(path)
    if not p.exists():
        raise ClassifierConfigError(f"{role} source not found: {path}")
    if p.is_dir():
        kind, files = _output_parquet_files(p)
        if not files:
            raise ClassifierConfigError(f"{role} source {path}: no documents/*.parquet and no *.parquet files in the folder")
        source = LoadedSource(path, role, kind)
        for file in files:
            _read_records(file, "parquet", text_format, source)
    else:
        try:
            fmt = detect_format(path)
        except ValueError as exc:
            raise ClassifierInputError(f"{role} source {path}: {exc}") from None
        if fmt == FORMAT_WARC:
            raise ClassifierConfigError(f"{role} source {path} is a web archive: curate it first and pass the Winnow output folder")
        source = LoadedSource(path, role, fmt)
        _read_records(p, fmt, text_format, source)
    if not source.texts:
        detail = f"; first problem: {source.failures[0]}" if source.failures else ""
        raise ClassifierInputError(f"{role} source {path} has no text to learn from{detail}")
    return source


@dataclass
class Examples:
    train: list[tuple[int, str]]  # (1 positive / 0 negative, normalized line)
    holdout: list[tuple[int, str]]
    counts: dict[str, Any]


def _unique_lines(texts: Sequence[str], normalization: Normalization) -> tuple[list[str], int, int]:
    seen: set[str] = set()
    lines: list[str] = []
    empty = duplicates = 0
    for text in texts:
        line = normalize_text(text, normalization)
        if not line:
            empty += 1
        elif line in seen:
            duplicates += 1
        else:
            seen.add(line)
            lines.append(line)
    return lines, empty, duplicates


def build_examples(positives: Sequence[str], negatives: Sequence[str], settings: TrainSettings) -> Examples:
    """Normalize, dedupe, drop texts in both classes, balance, then split per class (seeded)."""
    pos, pos_empty, pos_dup = _unique_lines(positives, settings.normalization)
    neg, neg_empty, neg_dup = _unique_lines(negatives, settings.normalization)
    both = set(pos) & set(neg)
    pos = [line for line in pos if line not in both]
    neg = [line for line in neg if line not in both]
    rng = random.Random(settings.seed)
    n = min(len(pos), len(neg))
    min_needed = 2 if settings.holdout_fraction > 0 else 1
    if n < min_needed:
        raise ClassifierInputError(
            f"too few distinct examples to train: {len(pos)} positive and {len(neg)} negative "
            f"(need at least {min_needed} of each)"
        )
    pos_kept, neg_kept = rng.sample(pos, n), rng.sample(neg, n)
    # Half up (not Python's round-half-even), at least one, and at least one left to train on.
    n_holdout = min(n - 1, max(1, int(settings.holdout_fraction * n + 0.5))) if settings.holdout_fraction > 0 else 0
    holdout = [(1, x) for x in pos_kept[:n_holdout]] + [(0, x) for x in neg_kept[:n_holdout]]
    train = [(1, x) for x in pos_kept[n_holdout:]] + [(0, x) for x in neg_kept[n_holdout:]]
    rng.shuffle(train)
    counts = {
        POSITIVE: {"documents": len(positives), "empty": pos_empty, "duplicates": pos_dup, "distinct": len(pos) + len(both)},
        NEGATIVE: {"documents": len(negatives), "empty": neg_empty, "duplicates": neg_dup, "distinct": len(neg) + len(both)},
        "in_both_classes_dropped": len(both),
        "per_class_after_balancing": n,
        "train": len(train),
        "holdout": len(holdout),
    }
    return Examples(train, holdout, counts)


def holdout_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float = 0.5) -> dict[str, Any]:
    """Precision, recall, F1 (positive class, at `threshold`), ROC AUC and a calibration table."""
    import numpy as np
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    predicted = (s >= threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(y, predicted, average="binary", zero_division=0)
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    # Bin b holds scores in [b/10, (b+1)/10); 1.0 joins the last bin.
    bins = np.clip(np.floor(s * CALIBRATION_BINS).astype(int), 0, CALIBRATION_BINS - 1)
    table = []
    for b in range(CALIBRATION_BINS):
        mask = bins == b
        count = int(mask.sum())
        table.append({
            "bin": [round(float(edges[b]), 2), round(float(edges[b + 1]), 2)],
            "count": count,
            "mean_score": float(s[mask].mean()) if count else None,
            "positive_rate": float(y[mask].mean()) if count else None,
        })
    return {
        "threshold": threshold,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "roc_auc": float(roc_auc_score(y, s)),
        "holdout_examples": int(len(y)),
        "calibration": table,
    }


def _provider_version() -> str:
    from importlib import metadata

    for name in ("fasttext-numpy2", "fasttext"):
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


# glibc's mallopt parameter: fill every malloc'd block with (value ^ 0xff), so 0xff gives zeros.
_M_PERTURB = -6


@contextmanager
def _zero_filled_allocations() -> Iterator[None]:
    """While fastText trains, heap allocations come back zero-filled (glibc only; elsewhere a no-op).

    fastText-numpy2 initialises only the first thread/10 of the input matrix
    and leaves the rest as allocated. A large matrix gets fresh (zero) pages
    from the kernel, but a small one (a small `bucket`) reuses freed heap
    memory: its rows held garbage, training stopped at random with
    "Encountered NaN" and two runs with one seed differed. Zero-filled
    allocations give upstream fastText's zero rows, every time.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        yield
        return
    mallopt(_M_PERTURB, 0xFF)
    try:
        yield
    finally:
        mallopt(_M_PERTURB, 0)


def _fit(train_path: Path, out: Path, settings: TrainSettings) -> Path:
    """Train on `train_path`, quantize if asked, save; the model file's path."""
    import fasttext

    try:
        with _zero_filled_allocations():
            model = fasttext.train_supervised(
                input=str(train_path), dim=settings.dim, epoch=settings.epoch, lr=settings.lr,
                wordNgrams=settings.word_ngrams, minCount=settings.min_count, thread=settings.threads,
                seed=settings.seed, bucket=settings.bucket, verbose=0,
            )
            if settings.quantize:
                # retrain: with a cutoff, fine-tune the kept rows on the same examples (fastText's advice).
                model.quantize(input=str(train_path), cutoff=settings.cutoff, retrain=bool(settings.cutoff),
                               epoch=settings.epoch, lr=settings.lr, thread=settings.threads, verbose=0, qnorm=True)
    except ValueError as exc:  # the quantizer refuses a table it cannot split
        raise ClassifierTrainingFailed(f"fastText quantization failed: {exc}") from None
    except RuntimeError as exc:  # fastText's only training failure: the loss diverged
        raise ClassifierTrainingFailed(f"fastText training failed ({exc}); a lower --lr usually helps (now {settings.lr})") from None
    model_path = out / settings.model_file
    model.save_model(str(model_path))
    return model_path


def train_classifier(
    positive_sources: Sequence[LoadedSource],
    negative_sources: Sequence[LoadedSource],
    output_dir: str,
    settings: TrainSettings = TrainSettings(),
    extra_counts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, save `model.bin` (`model.ftz` quantized), evaluate it on the held-out split and write `model.json` (returned)."""
    from winnow.core.version import __version__

    out = Path(output_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ClassifierConfigError(f"output {output_dir} already exists and is not an empty folder")
    examples = build_examples(
        [t for s in positive_sources for t in s.texts], [t for s in negative_sources for t in s.texts], settings
    )
    out.mkdir(parents=True, exist_ok=True)
    train_path = out / ".train.txt"
    names = {1: settings.positive_label, 0: settings.negative_label}
    with open(train_path, "w", encoding="utf-8") as handle:
        for label, line in examples.train:
            handle.write(f"{names[label]} {line}\n")
    try:
        model_path = _fit(train_path, out, settings)
    finally:
        train_path.unlink(missing_ok=True)
    metrics = None
    if examples.holdout:
        scorer = FastTextScorer(str(model_path), settings.positive_label, settings.normalization)
        # Holdout lines are already normalized; normalizing again is a no-op.
        scores = scorer.score([line for _, line in examples.holdout])
        metrics = holdout_metrics([label for label, _ in examples.holdout], scores)
    card = {
        "format": "winnow-classifier/1",
        "backend": "fasttext",
        "model_file": settings.model_file,
        "model_sha256": file_digest(model_path)["sha256"],
        "model_bytes": model_path.stat().st_size,
        "labels": {"positive": settings.positive_label, "negative": settings.negative_label},
        "normalization": settings.normalization.to_json(),
        "settings": {k: v for k, v in asdict(settings).items() if k not in ("lowercase", "max_chars")},
        "sources": [s.summary() for s in (*positive_sources, *negative_sources)],
        "counts": {**examples.counts, **({"review_labels": extra_counts} if extra_counts else {})},
        "metrics": metrics,
        "software": {"winnow": __version__, "fasttext": _provider_version()},
    }
    (out / MODEL_CARD).write_text(json.dumps(card, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return card


__all__ = [
    "LoadedSource",
    "TrainSettings",
    "build_examples",
    "holdout_metrics",
    "load_source",
    "train_classifier",
]
