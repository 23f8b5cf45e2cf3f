"""Exact language-model evaluation: loss, perplexity and bits per byte.

Every number here is a sum over each predicted token exactly once, never an
average of per-batch averages, so a split evaluated in pieces or with another
batch size gives the same answer.

Windows: the token stream is cut into windows of `seq_len + 1` tokens with a
stride of `seq_len`; a window's first token is context only and its other
`seq_len` tokens are predicted, so consecutive windows share one token and
every token after the first is predicted once. The last window may be short;
it is padded and the padding is ignored (target -100).

Bits per byte divides the summed loss in nats by ln 2 times the UTF-8 bytes of
the document texts, which makes models with different tokenizers comparable.
For that to be exact every token of every document must be predicted, so
`evaluate_split` and `evaluate_text` start the stream with an end-of-text token
(the token that precedes every document but the first in a shard anyway): then
the number of predicted tokens equals the split's token count in the manifest.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn

from winnow.core.errors import ConfigurationError, InputError
from winnow.training.data import TokenDataUnusable, load_split
from winnow.training.model import IGNORE_INDEX
from winnow.training.parquet_text import is_blank
from winnow.training.shard_format import open_shard
from winnow.training.config import EOT_TOKEN

# Texts are tokenized this many documents at a time (encode_batch is parallel).
TEXT_ENCODE_BATCH = 256


@dataclass(frozen=True)
class TokenEval:
    loss: float  # mean nats per predicted token
    tokens: int  # predicted tokens
    loss_sum_nats: float
    perplexity: float


class _TokenStream:
    """Several 1-D token arrays (e.g. memory-mapped shards) read as one,
    without concatenating them into memory."""

    def __init__(self, parts: Sequence[np.ndarray]):
        self.parts = [p for p in parts if len(p)]
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])
        self.size = int(self.starts[-1])

    def slice(self, start: int, stop: int) -> np.ndarray:
        """Tokens [start, stop) as int64."""
        stop = min(stop, self.size)
        out = np.empty(max(stop - start, 0), dtype=np.int64)
        filled = 0
        first = max(int(np.searchsorted(self.starts, start, side="right")) - 1, 0)
        for i in range(first, len(self.parts)):
            part_start = int(self.starts[i])
            if part_start >= stop:
                break
            lo, hi = max(start, part_start), min(stop, int(self.starts[i + 1]))
            if lo < hi:
                out[filled : filled + hi - lo] = self.parts[i][lo - part_start : hi - part_start]
                filled += hi - lo
        return out


def _as_stream(tokens: np.ndarray | Sequence[np.ndarray]) -> _TokenStream:
    if isinstance(tokens, np.ndarray):
        if tokens.ndim != 1:
            raise ValueError(f"tokens must be a 1-D array, got shape {tokens.shape}")
        return _TokenStream([tokens])
    return _TokenStream(list(tokens))


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate_tokens(
    model: nn.Module,
    tokens: np.ndarray | Sequence[np.ndarray],
    seq_len: int,
    batch_size: int,
    device: torch.device | str | None = None,
    max_tokens: int | None = None,
) -> TokenEval:
    """Summed next-token loss over a token stream, every predicted token once.

    `tokens` is a 1-D array or a sequence of them read as one stream (shards).
    `max_tokens` caps the number of predicted tokens (the first `max_tokens`
    + 1 tokens are read). The model is put in eval mode and restored after.
    """
    if seq_len <= 0 or batch_size <= 0:
        raise ValueError(f"seq_len and batch_size must be positive, got {seq_len} and {batch_size}")
    stream = _as_stream(tokens)
    usable = stream.size if max_tokens is None else min(stream.size, max_tokens + 1)
    device = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    loss_sum = 0.0
    predicted = 0
    starts = list(range(0, max(usable - 1, 0), seq_len))
    try:
        for b in range(0, len(starts), batch_size):
            batch_starts = starts[b : b + batch_size]
            x = torch.zeros((len(batch_starts), seq_len), dtype=torch.long)
            y = torch.full((len(batch_starts), seq_len), IGNORE_INDEX, dtype=torch.long)
            for row, start in enumerate(batch_starts):
                window = torch.from_numpy(stream.slice(start, min(start + seq_len + 1, usable)))
                n = len(window) - 1  # predicted tokens in this window
                x[row, :n] = window[:-1]
                y[row, :n] = window[1:]
                predicted += n
            # Right padding cannot change earlier positions under causal attention.
            width = int((y != IGNORE_INDEX).sum(dim=1).max())
            _, loss = model(x[:, :width].to(device), y[:, :width].to(device), reduction="sum")
            loss_sum += float(loss)
    finally:
        model.train(was_training)
    mean = loss_sum / predicted if predicted else float("nan")
    return TokenEval(loss=mean, tokens=predicted, loss_sum_nats=loss_sum, perplexity=_perplexity(mean))


def _perplexity(mean_loss: float) -> float:
    if math.isnan(mean_loss):
        return float("nan")
    return math.exp(mean_loss) if mean_loss < 700 else float("inf")  # exp overflows past ~709


def bits_per_byte(loss_sum_nats: float, utf8_bytes: float) -> float:
    """Summed loss in nats over the bytes it covers, in bits per byte."""
    return loss_sum_nats / (math.log(2) * utf8_bytes) if utf8_bytes > 0 else float("nan")


def _summary(result: TokenEval, utf8_bytes: float, exact: bool) -> dict[str, Any]:
    return {
        "loss": result.loss,
        "perplexity": result.perplexity,
        "bits_per_byte": bits_per_byte(result.loss_sum_nats, utf8_bytes),
        "tokens": result.tokens,
        "bytes": utf8_bytes,
        "loss_sum_nats": result.loss_sum_nats,
        "exact": exact,
    }


def evaluate_split(
    model: nn.Module,
    token_dir: str | Path,
    split: str = "val",
    seq_len: int | None = None,
    batch_size: int = 8,
    device: torch.device | str | None = None,
    max_tokens: int | None = None,
) -> dict[str, Any]:
    """Loss, perplexity and bits per byte over one split of a token directory.

    Exact over the whole split (`exact: True`); with `max_tokens` the bytes
    are the split's bytes scaled by the fraction of its tokens evaluated, an
    approximation (`exact: False`).
    """
    info = load_split(token_dir, split)
    shards = [open_shard(path) for path in info.paths]
    held = sum(len(s) for s in shards)
    if held != info.tokens:
        raise TokenDataUnusable(f"{info.directory}: split {split!r} lists {info.tokens} tokens but its shards hold {held}")
    if info.tokens == 0:
        raise TokenDataUnusable(f"{info.directory}: split {split!r} is empty; nothing to evaluate")
    seq_len = seq_len or model.config.max_seq_len
    # The leading end-of-text makes the split's first token a prediction too.
    stream = [np.array([info.eot_id], dtype=np.int64), *shards]
    result = evaluate_tokens(model, stream, seq_len, batch_size, device, max_tokens)
    exact = result.tokens == info.tokens
    utf8_bytes = info.utf8_bytes if exact else info.utf8_bytes * result.tokens / info.tokens
    return {"source": f"{info.directory}:{split}", **_summary(result, utf8_bytes, exact)}


def eot_id_of(tokenizer: Any) -> int:
    """The end-of-text id of a `tokenizers.Tokenizer`."""
    eot_id = tokenizer.token_to_id(EOT_TOKEN)
    if eot_id is None:
        raise InputError(f"the tokenizer has no {EOT_TOKEN!r} token")
    return int(eot_id)


@contextmanager
def literal_special_tokens(tokenizer: Any) -> Iterator[Any]:
    """Encode special-token text found in documents as plain text, as
    `winnow tokenize` does, so a page quoting "<|endoftext|>" is no boundary."""
    previous = tokenizer.encode_special_tokens
    tokenizer.encode_special_tokens = True
    try:
        yield tokenizer
    finally:
        tokenizer.encode_special_tokens = previous


@dataclass(frozen=True)
class EncodedDocuments:
    tokens: np.ndarray  # EOT, doc 1, EOT, doc 2, EOT, ...
    doc_tokens: tuple[int, ...]  # each document's token count, its trailing EOT included
    doc_bytes: tuple[int, ...]  # each document's UTF-8 bytes

    def covered_bytes(self, predicted: int) -> float:
        """UTF-8 bytes behind the first `predicted` predictions: whole
        documents count exactly, a cut document by its fraction of tokens."""
        covered, left = 0.0, predicted
        for n_tokens, n_bytes in zip(self.doc_tokens, self.doc_bytes):
            if left <= 0:
                break
            covered += n_bytes * min(1.0, left / n_tokens)
            left -= n_tokens
        return covered


def encode_documents(tokenizer: Any, texts: Iterable[str], max_tokens: int | None = None) -> EncodedDocuments:
    """Tokenize like the shards: EOT first, then each document followed by EOT.

    With `max_tokens`, reading stops after the document that reaches it (the
    texts may be a stream far larger than what is evaluated).
    """
    eot_id = eot_id_of(tokenizer)
    pieces = [np.array([eot_id], dtype=np.int64)]
    doc_tokens: list[int] = []
    doc_bytes: list[int] = []
    for batch in _batched(texts, TEXT_ENCODE_BATCH):
        with literal_special_tokens(tokenizer):
            # encode_batch_fast (tokenizers >= 0.20) skips offsets, which are never used here.
            encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
            encodings = encode(batch, add_special_tokens=False)
        for text, encoding in zip(batch, encodings):
            ids = np.asarray(encoding.ids + [eot_id], dtype=np.int64)
            pieces.append(ids)
            doc_tokens.append(len(ids))
            doc_bytes.append(len(text.encode("utf-8")))
            if max_tokens is not None and sum(doc_tokens) >= max_tokens:
                return EncodedDocuments(np.concatenate(pieces), tuple(doc_tokens), tuple(doc_bytes))
    return EncodedDocuments(np.concatenate(pieces), tuple(doc_tokens), tuple(doc_bytes))


def _batched(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        if not isinstance(text, str):
            raise ValueError(f"texts must be strings, got {type(text).__name__}")
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def evaluate_text(
    model: nn.Module,
    tokenizer: Any,
    texts: Iterable[str],
    seq_len: int | None = None,
    batch_size: int = 8,
    device: torch.device | str | None = None,
    max_tokens: int | None = None,
) -> dict[str, Any]:
    """Loss, perplexity and bits per byte of raw texts, tokenized on the fly.

    Each text is one document. Bits per byte use the texts' own UTF-8 bytes,
    so the number compares across tokenizers. `max_tokens` caps the
    predicted tokens; when that cuts a document, its bytes count by the
    fraction of its tokens evaluated and the result says `exact: False`.
    """
    encoded = encode_documents(tokenizer, texts, max_tokens)
    if not encoded.doc_tokens:
        raise InputError("no texts to evaluate")
    seq_len = seq_len or model.config.max_seq_len
    result = evaluate_tokens(model, encoded.tokens, seq_len, batch_size, device, max_tokens)
    exact = result.tokens == sum(encoded.doc_tokens)
    utf8_bytes = sum(encoded.doc_bytes) if exact else encoded.covered_bytes(result.tokens)
    summary = _summary(result, utf8_bytes, exact)
    return {**summary, "documents": len(encoded.doc_tokens)}


def iter_text_source(spec: str) -> Iterator[str]:
    """Documents from a .txt file or a Parquet file/dir/glob of curated documents.

    A .txt file is read as ONE document (the whole file), so its bits per
    byte are over exactly the file's bytes, whatever its paragraph layout.
    Parquet input yields the `text` column, one document per row.
    """
    path = Path(spec)
    if path.suffix == ".txt":
        if not path.is_file():
            raise ConfigurationError(f"{spec}: no such text file")
        try:
            yield path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{spec}: not UTF-8 text: {exc}") from exc
        return
    from winnow.schemas.inputs import resolve_parquet_inputs
    from winnow.training.parquet_text import iter_texts

    # Blank documents are skipped, as `winnow tokenize` skips them.
    yield from (text for text in iter_texts(resolve_parquet_inputs(spec)) if not is_blank(text))


# lm-evaluation-harness's default `target_delimiter`: a choice is scored as
# " " + choice after the context.
TARGET_DELIMITER = " "
# The multiple-choice metrics, as lm-evaluation-harness defines them (see
# docs/evaluation.md), plus Winnow's per-token variant.
MC_METRICS = ("acc", "acc_norm", "acc_bytes", "acc_token_norm")


def encode_request(tokenizer: Any, eot_id: int, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) of one loglikelihood request, split the
    way lm-evaluation-harness splits it for a causal model
    (`TemplateLM.loglikelihood` / `_encode_pair`, add_bos_token false):

    - trailing whitespace of the context moves to the start of the continuation;
    - context + continuation is encoded as one string and the continuation is
      what follows the context's own tokens, so a merge across the boundary is
      tokenized as in running text;
    - an empty context is the end-of-text token (the harness's prefix token).
    """
    def encode(text: str) -> list[int]:
        with literal_special_tokens(tokenizer):
            return list(tokenizer.encode(text, add_special_tokens=False).ids)

    if context == "":
        ids = encode(continuation)
        return ([eot_id], ids) if not ids or ids[0] != eot_id else (ids[:1], ids[1:])
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole, context_ids = encode(context + continuation), encode(context)
    return context_ids, whole[len(context_ids) :]


@torch.no_grad()
def continuation_scores(
    model: nn.Module,
    requests: Sequence[tuple[Sequence[int], Sequence[int]]],
    batch_size: int = 16,
    device: torch.device | str | None = None,
) -> list[tuple[float, bool]]:
    """(sum of log p(continuation | context), whether greedy decoding would
    produce the continuation) for each (context_ids, continuation_ids) request.

    A sequence longer than the model's window keeps its last max_seq_len + 1
    tokens: the oldest context is dropped from the left; a continuation longer
    than the window itself is scored on its last max_seq_len tokens.
    """
    max_len = model.config.max_seq_len
    device = torch.device(device) if device is not None else _model_device(model)
    rows = []
    for context, continuation in requests:
        if not continuation:
            raise ValueError("a continuation must have at least one token")
        if not context:
            raise ValueError("a context must have at least one token (use the end-of-text id for an empty one)")
        seq = (list(context) + list(continuation))[-(max_len + 1) :]
        rows.append((seq, min(len(continuation), len(seq) - 1)))
    # Longest first so each batch pads to similar lengths.
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
    out: list[tuple[float, bool]] = [(0.0, False)] * len(rows)
    was_training = model.training
    model.eval()
    try:
        for b in range(0, len(order), batch_size):
            batch = order[b : b + batch_size]
            width = len(rows[batch[0]][0]) - 1
            x = torch.zeros((len(batch), width), dtype=torch.long)
            y = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
            for r, i in enumerate(batch):
                seq, scored = rows[i]
                n = len(seq) - 1
                x[r, :n] = torch.tensor(seq[:-1])
                y[r, n - scored : n] = torch.tensor(seq[-scored:])
            logits, nats = model(x.to(device), y.to(device), reduction="none")  # (B, T), 0 where ignored
            greedy = logits.argmax(dim=-1).cpu()
            for r, i in enumerate(batch):
                scored_mask = y[r] != IGNORE_INDEX
                out[i] = (-float(nats[r].sum()), bool((greedy[r][scored_mask] == y[r][scored_mask]).all()))
    finally:
        model.train(was_training)
    return out


def continuation_logprobs(
    model: nn.Module,
    requests: Sequence[tuple[Sequence[int], Sequence[int]]],
    batch_size: int = 16,
    device: torch.device | str | None = None,
) -> list[float]:
    """Sum of log p(continuation tokens | context tokens) for each request
    (see `continuation_scores`)."""
    return [score for score, _ in continuation_scores(model, requests, batch_size, device)]


def mean_stderr(values: Sequence[float]) -> float:
    """Standard error of the mean as lm-evaluation-harness reports it: the
    sample standard deviation (n - 1) over sqrt(n); NaN for fewer than 2."""
    n = len(values)
    if n < 2:
        return float("nan")
    return float(np.std(np.asarray(values, dtype=np.float64), ddof=1) / math.sqrt(n))


def evaluate_multiple_choice(
    model: nn.Module,
    tokenizer: Any,
    examples: Sequence[Any],
    batch_size: int = 16,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """Accuracy on multiple-choice examples (mc_tasks.MCExample), with the
    definitions of lm-evaluation-harness's `multiple_choice` tasks.

    Each choice is the request (context, " " + choice) encoded as the harness
    encodes it (`encode_request`) and scored by its summed log-likelihood ll.
    Per example, with `choice` the choice string without the delimiter:
      acc        argmax ll
      acc_norm   argmax ll / len(choice)                  (characters)
      acc_bytes  argmax ll / len(choice.encode("utf-8"))  (UTF-8 bytes)
      acc_token_norm  argmax ll / continuation tokens     (Winnow's addition)
    Ties go to the first choice (numpy argmax). Each metric is the mean over
    examples, with its standard error (`<metric>_stderr`) as the harness
    prints it; `chance` is the mean of 1 / number of choices.
    """
    if not examples:
        raise InputError("no multiple-choice examples to evaluate")
    eot_id = eot_id_of(tokenizer)
    requests, spans = [], []
    for ex in examples:
        start = len(requests)
        for ending in ex.endings:
            requests.append(encode_request(tokenizer, eot_id, ex.context, TARGET_DELIMITER + ending))
        spans.append((start, len(requests)))
    logprobs = continuation_logprobs(model, requests, batch_size, device)
    hits: dict[str, list[float]] = {name: [] for name in MC_METRICS}
    for ex, (start, stop) in zip(examples, spans):
        lls = np.asarray(logprobs[start:stop], dtype=np.float64)
        divisors = {
            "acc": np.ones(len(lls)),
            "acc_norm": np.array([float(len(e)) for e in ex.endings]),
            "acc_bytes": np.array([float(len(e.encode("utf-8"))) for e in ex.endings]),
            "acc_token_norm": np.array([float(len(requests[start + k][1])) for k in range(len(lls))]),
        }
        for name in MC_METRICS:
            hits[name].append(float(int(np.argmax(lls / divisors[name])) == ex.label))
    n = len(examples)
    return {
        "examples": n,
        **{name: sum(values) / n for name, values in hits.items()},
        **{f"{name}_stderr": mean_stderr(values) for name, values in hits.items()},
        "chance": sum(1 / len(ex.endings) for ex in examples) / n,
    }
