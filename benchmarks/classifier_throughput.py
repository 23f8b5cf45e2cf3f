"""Classifier scoring throughput per core: the `classifier` step against a bare loop of the same model.

Texts: the article-extraction-benchmark ground-truth articles (real web
articles), cycled to --docs documents. Both models are built here in a
temporary folder, so nothing is downloaded:

- fastText: a bigram classifier trained with `winnow classifier train`'s code
  (articles against their own words shuffled). Bare loop: `normalize_text`
  then `model.predict(line, k=-1)` per text, the least a user could write.
  Step: `spec.build(config)` called on batches of --batch-size documents.
- transformers: a randomly initialised BERT (--hf-layers, --hf-hidden) with a
  word-level tokenizer. Bare loop: tokenizer + model under inference_mode on
  batches of the same size, logits to a list. Step: the same through
  `HFScorer` (padding, truncation to --max-length, softmax/logit pick).

Times are CPU seconds of this process (time.process_time) with torch and
fastText limited to --threads threads, so docs/s is per core when --threads 1.

    .venv/bin/python benchmarks/classifier_throughput.py [--docs 2000] [--batch-size 64] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data" / "extraction" / "article-extraction-benchmark" / "ground-truth.json").resolve()


def load_texts(path: Path, n: int) -> list[str]:
    if not path.is_file():
        raise SystemExit(f"benchmark data not found: {path} (the shared data folder is needed)")
    rows = json.loads(path.read_text(encoding="utf-8"))
    texts = [v["articleBody"] for v in rows.values() if v.get("articleBody", "").strip()]
    return [texts[i % len(texts)] for i in range(n)]


def timed(fn, repeats: int) -> float:
    """Best CPU seconds of `repeats` runs (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def bench_fasttext(texts: list[str], folder: Path, batch_size: int, repeats: int) -> dict:
    from winnow.curation.classifier.normalize import normalize_text
    from winnow.curation.classifier.step import ClassifierConfig, classifier_spec
    from winnow.curation.classifier.train import LoadedSource, TrainSettings, train_classifier
    from winnow.curation.types import Document

    rng = random.Random(0)
    unique = sorted(set(texts))
    shuffled = []
    for t in unique:
        words = t.split()
        rng.shuffle(words)
        shuffled.append(" ".join(words))
    train_classifier(
        [LoadedSource("articles", "positive", "benchmark", texts=unique)],
        [LoadedSource("shuffled", "negative", "benchmark", texts=shuffled)],
        str(folder / "ft"), TrainSettings(dim=64, epoch=5, threads=1, holdout_fraction=0.0),
    )
    import fasttext

    model_path = folder / "ft" / "model.bin"
    model = fasttext.load_model(str(model_path))

    def bare():
        for text in texts:
            labels, probs = model.predict(normalize_text(text), k=-1)
            dict(zip(labels, probs)).get("__label__hq", 0.0)

    step = classifier_spec("classifier").build(ClassifierConfig(model=str(model_path)))
    docs = [Document(text=t) for t in texts]

    def through_step():
        for i in range(0, len(docs), batch_size):
            step(docs[i : i + batch_size])

    return {"bare": timed(bare, repeats), "step": timed(through_step, repeats)}


def write_bert(folder: Path, texts: list[str], layers: int, hidden: int) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(vocab_size=8000, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))]
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]")
    config = BertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
        intermediate_size=4 * hidden, max_position_embeddings=512, num_labels=1,
    )
    torch.manual_seed(0)
    out = folder / "bert"
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def bench_transformers(texts: list[str], folder: Path, batch_size: int, max_length: int, threads: int,
                       layers: int, hidden: int, repeats: int) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from winnow.curation.classifier.step import ClassifierConfig, classifier_spec
    from winnow.curation.types import Document

    path = write_bert(folder, texts, layers, hidden)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).eval()

    def bare():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i : i + batch_size], return_tensors="pt", padding=True, truncation=True, max_length=max_length)
            with torch.inference_mode():
                model(**enc).logits[:, 0].tolist()

    config = ClassifierConfig(model=str(path), batch_size=batch_size, max_length=max_length, device="cpu", threads=threads)
    step = classifier_spec("classifier").build(config)
    docs = [Document(text=t) for t in texts]

    def through_step():
        for i in range(0, len(docs), batch_size):
            step(docs[i : i + batch_size])

    return {"bare": timed(bare, repeats), "step": timed(through_step, repeats)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--docs", type=int, default=2000, help="fastText documents (default 2000)")
    parser.add_argument("--hf-docs", type=int, default=256, help="transformers documents (default 256)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hf-batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--hf-layers", type=int, default=2)
    parser.add_argument("--hf-hidden", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: per-core numbers)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    texts = load_texts(args.data, max(args.docs, args.hf_docs))
    with tempfile.TemporaryDirectory() as tmp:
        ft = bench_fasttext(texts[: args.docs], Path(tmp), args.batch_size, args.repeats)
        hf = bench_transformers(texts[: args.hf_docs], Path(tmp), args.hf_batch_size, args.max_length, args.threads,
                                args.hf_layers, args.hf_hidden, args.repeats)
    rows = [
        ("fasttext", args.docs, args.batch_size, 1, ft),
        (f"transformers (BERT {args.hf_layers}x{args.hf_hidden}, {args.max_length} tokens)", args.hf_docs, args.hf_batch_size, args.threads, hf),
    ]
    print(f"{'backend':44} {'docs':>6} {'batch':>5} {'thr':>3} {'bare docs/s':>12} {'step docs/s':>12} {'step/bare':>9}")
    for name, n, batch, threads, t in rows:
        bare, step = n / t["bare"], n / t["step"]
        print(f"{name:44} {n:6d} {batch:5d} {threads:3d} {bare:12.1f} {step:12.1f} {step / bare:9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
