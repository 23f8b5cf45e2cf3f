"""Helpers for benchmarks/gpu_check.sh: synthetic inputs and result summaries.

    data DIR --vocab V --tokens N     a token directory made by `winnow tokenize`
                                      from synthetic Parquet and a word-level
                                      tokenizer of exactly V entries
    summary RUN_DIR --skip K          median tokens/s and MFU of a `winnow train`
                                      run's steps after the first K (compilation)
    classifier --device D --size S    time the transformers classifier scorer
                                      (HFScorer, what the classifier step runs) on
                                      a randomly initialised BERT-shaped model

Every subcommand prints one JSON line (and a readable line on stderr), so the
shell script can collect results without parsing prose.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

EOT = "<|endoftext|>"
WORDS_PER_DOC = 400
# The classifier shapes: "base" is BERT-base (FineWeb-Edu's scorer is a
# BERT-base-sized encoder with a regression head); "tiny" is for CPU dry runs.
CLASSIFIER_SIZES = {
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
}


def word_level_tokenizer(vocab: int):
    """A tokenizer of exactly `vocab` entries: words w0 .. w{vocab-2}, then EOT."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    if vocab < 3:
        raise SystemExit(f"--vocab must be at least 3, got {vocab}")
    table = {f"w{i}": i for i in range(vocab - 1)}
    table[EOT] = vocab - 1
    tokenizer = Tokenizer(models.WordLevel(table, unk_token="w0"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens([EOT])
    return tokenizer


def synthetic_texts(vocab: int, tokens: int, seed: int) -> list[str]:
    """Documents of random words; a repeated phrase per document gives the model something to learn."""
    import numpy as np

    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(max(1, tokens // WORDS_PER_DOC)):
        phrase = rng.integers(0, vocab - 1, size=16)
        ids = np.where(rng.random(WORDS_PER_DOC) < 0.5, np.resize(phrase, WORDS_PER_DOC), rng.integers(0, vocab - 1, WORDS_PER_DOC))
        texts.append(" ".join(f"w{i}" for i in ids))
    return texts


def cmd_data(args: argparse.Namespace) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from winnow.curation.ids import document_id
    from winnow.schemas import document_schema
    from winnow.training.tokens import summarize, tokenize_corpus

    root = Path(args.dir)
    if root.exists():
        raise SystemExit(f"{root}: exists; gpu_check writes its data into a new directory")
    (root / "corpus" / "documents").mkdir(parents=True)
    tokenizer_path = root / "tokenizer.json"
    word_level_tokenizer(args.vocab).save(str(tokenizer_path))
    texts = synthetic_texts(args.vocab, args.tokens, args.seed)
    schema = document_schema()
    columns = {field.name: [None] * len(texts) for field in schema}
    columns["id"], columns["text"] = [document_id(f"gpu-check-{i}") for i in range(len(texts))], texts
    pq.write_table(pa.Table.from_pydict(columns, schema=schema), root / "corpus" / "documents" / "part-00000.parquet")
    manifest = tokenize_corpus(str(root / "corpus"), tokenizer_path, root / "tokens", val_fraction=0.01, workers=1)
    totals = summarize(manifest)
    if manifest["tokenizer"]["vocab_size"] != args.vocab:
        raise SystemExit(f"{tokenizer_path}: vocab {manifest['tokenizer']['vocab_size']}, expected {args.vocab}")
    return {"section": "data", "token_dir": str(root / "tokens"), "vocab": args.vocab, "tokens": totals["tokens"]}


def cmd_summary(args: argparse.Namespace) -> dict:
    path = Path(args.run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path}: missing; the training run did not log any step")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    train = [r for r in rows if r.get("split") == "train"]
    measured = train[args.skip :]
    if not measured:
        raise SystemExit(f"{path}: {len(train)} train steps logged, none after the {args.skip} skipped for warm-up")
    out = {
        "section": args.name,
        "steps_measured": len(measured),
        "tokens_per_s_median": statistics.median(r["tokens_per_s"] for r in measured),
        "final_loss": train[-1]["loss"],
    }
    if all("mfu" in r for r in measured):
        out["mfu_median"] = statistics.median(r["mfu"] for r in measured)
    loss = out["final_loss"]
    if loss is None or loss != loss or loss in (float("inf"), float("-inf")):
        raise SystemExit(f"{path}: the final loss is not finite ({loss!r})")
    return out


def build_classifier(folder: Path, size: str, seed: int) -> None:
    """A BERT-shaped regression model (random weights) plus a WordPiece tokenizer, saved as a local HF folder."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(synthetic_english(2000, seed), trainers.WordPieceTrainer(vocab_size=4000, special_tokens=specials, show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]"
    )
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tok.get_vocab_size(), num_labels=1, max_position_embeddings=512, **CLASSIFIER_SIZES[size])
    BertForSequenceClassification(config).save_pretrained(folder)


def synthetic_english(n: int, seed: int) -> list[str]:
    import random

    words = (
        "the data model learns from curated text and every page is scored by a classifier before training "
        "students read about physics history biology chemistry and the teacher explains each lesson with examples"
    ).split()
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(200, 600))) for _ in range(n)]


def cmd_classifier(args: argparse.Namespace) -> dict:
    import torch

    from winnow.curation.classifier.hf_backend import HFScorer

    with tempfile.TemporaryDirectory(prefix="winnow-gpucheck-clf-") as tmp:
        folder = Path(tmp) / "model"
        build_classifier(folder, args.size, args.seed)
        scorer = HFScorer(str(folder), label=None, batch_size=args.batch_size, max_length=512, device=args.device)
        texts = synthetic_english(args.docs, args.seed + 1)
        scorer.score(texts[: args.batch_size])  # warm-up: kernels, allocator
        if scorer.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        scores = scorer.score(texts)
        seconds = time.perf_counter() - start
        if len(scores) != len(texts) or not all(s == s for s in scores):
            raise SystemExit(f"classifier returned {len(scores)} scores for {len(texts)} texts, or NaN")
        device_name = torch.cuda.get_device_name(0) if scorer.device.startswith("cuda") else "cpu"
        scorer.close()
    return {
        "section": "classifier", "size": args.size, "device": device_name, "docs": len(texts),
        "batch_size": args.batch_size, "max_length": 512, "docs_per_s": len(texts) / seconds, "seconds": seconds,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data")
    data.add_argument("dir")
    data.add_argument("--vocab", type=int, required=True)
    data.add_argument("--tokens", type=int, default=1_000_000)
    data.add_argument("--seed", type=int, default=0)
    summary = sub.add_parser("summary")
    summary.add_argument("run_dir")
    summary.add_argument("--skip", type=int, default=5, help="leading steps left out (compilation, allocator warm-up)")
    summary.add_argument("--name", default="train")
    clf = sub.add_parser("classifier")
    clf.add_argument("--device", default="auto")
    clf.add_argument("--size", choices=sorted(CLASSIFIER_SIZES), default="base")
    clf.add_argument("--docs", type=int, default=2048)
    clf.add_argument("--batch-size", type=int, default=64)
    clf.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = {"data": cmd_data, "summary": cmd_summary, "classifier": cmd_classifier}[args.command](args)
    print(json.dumps(result))
    print("  " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
