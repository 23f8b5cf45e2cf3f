"""Tiny classifier models built in a test's tmp_path: nothing is downloaded.

- `write_corpus` / `train_tiny_fasttext`: a fastText classifier trained with
  `winnow classifier train`'s own code on two clearly different vocabularies.
- `write_tiny_transformer`: a randomly initialised one-layer BERT
  sequence classifier with a word-level tokenizer, saved as a Hugging Face
  folder (regression head or labelled classes).
"""
from __future__ import annotations

import random
from pathlib import Path

GOOD_WORDS = (
    "the committee reviewed historical evidence and published a careful analysis of river trade "
    "archaeologists described ancient settlements while scholars compared manuscripts and records"
).split()
BAD_WORDS = (
    "click here buy now cheap deals free shipping best price casino bonus login subscribe "
    "win prize discount offer limited hot sale viagra followers download"
).split()


def sentences(words: tuple[str, ...] | list[str], n: int, seed: int, length: int = 14) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(length)) for _ in range(n)]


def write_corpus(folder: Path, n: int = 120, seed: int = 0) -> tuple[Path, Path]:
    """good.txt and bad.jsonl: one document per line / per JSON object."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "good.txt"
    good.write_text("\n".join(sentences(GOOD_WORDS, n, seed)) + "\n", encoding="utf-8")
    bad = folder / "bad.jsonl"
    bad.write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(BAD_WORDS, n, seed + 1)), encoding="utf-8")
    return good, bad


def train_tiny_fasttext(folder: Path, seed: int = 0, **settings) -> Path:
    """MODEL_DIR/model.bin (model.ftz with quantize=True) trained on write_corpus (single thread, so deterministic)."""
    from winnow.curation.classifier.train import NEGATIVE, POSITIVE, TrainSettings, load_source, train_classifier

    good, bad = write_corpus(folder / "data", seed=seed)
    options = {"dim": 16, "epoch": 10, "lr": 0.5, "threads": 1, "seed": seed, **settings}
    out = folder / "model"
    card = train_classifier(
        [load_source(str(good), POSITIVE)], [load_source(str(bad), NEGATIVE)], str(out), TrainSettings(**options)
    )
    return out / card["model_file"]


def write_tiny_transformer(folder: Path, labels: tuple[str, ...] | None = None, seed: int = 0) -> Path:
    """A randomly initialised BERT classifier; `labels=None` gives a one-output regression head."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {token: i for i, token in enumerate(specials + sorted(set(GOOD_WORDS + BAD_WORDS)))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    # As BERT's own tokenizer: every text, even an empty one, is [CLS] ... [SEP].
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    extra = {"num_labels": 1} if labels is None else {
        "num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}
    }
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, pad_token_id=0, **extra,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
