"""Decontamination against evaluation sets: n-gram overlap over normalized words, as step `decontaminate`.

A document that shares an n-gram (default 13 words, as in lm-evaluation-harness
and NeMo Curator) with an evaluation text is contaminated: it is rejected with
reason `contaminated` and a detail naming the evaluation set, or, with
`action: remove_spans`, the overlapping spans are cut out of its text.

Normalization: words are runs of letters and digits (punctuation and
underscores separate words and are dropped), case-folded, and NFKC-normalized
when not ASCII, so case, punctuation and spacing edits do not hide a copied
passage. Evaluation texts with fewer words than the n-gram size cannot match
and are counted in the index stats.

The index (`prepare`) is built once per pipeline and handed to workers as a
side input: a sorted uint64 array of n-gram hashes (xxh64 per word, combined
by `text_units.ngram_hashes`) with a parallel uint16 array of evaluation-set
ids, i.e. 10 bytes per distinct (n-gram, set) pair. Evaluation sets:

* `.jsonl` (optionally `.gz`): multiple-choice task rows in any layout
  `schemas/mc_tasks.py` accepts (context + gold ending is the indexed text),
  or rows with a string `text` field;
* `.txt` (optionally `.gz`): paragraphs separated by blank lines (n-grams cross
  single line breaks, since prose is often hard-wrapped);
* `.parquet`: the `eval_text_column` column (default `text`).
"""
from __future__ import annotations

import gzip
import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Mapping

import numpy as np
import xxhash

from winnow.curation.types import Document, OpenBinary, Step, StepResult, StepSpec, Verdict
from winnow.core.jsonl import json_lines

CONTAMINATED = "contaminated"
REASONS = (CONTAMINATED,)

ACTION_REJECT = "reject"
ACTION_REMOVE_SPANS = "remove_spans"
ACTIONS = (ACTION_REJECT, ACTION_REMOVE_SPANS)

SIGNALS: tuple[tuple[str, str], ...] = (
    ("decontaminate_matched_ngrams", "int"),  # n-gram positions of the document found in the index
    ("decontaminate_set", "str"),  # matched evaluation sets, most matches first, comma-separated; "" if none
    ("decontaminate_chars_removed", "int"),  # remove_spans: characters cut out; 0 otherwise
    ("decontaminate_emptied", "bool"),  # remove_spans: no word was left (only spaces and punctuation)
)

DEFAULT_NGRAM = 13
# Words: letters and digits; "_" is excluded so snake_case splits like punctuation does.
_WORD_RE = re.compile(r"[^\W_]+")
_PARAGRAPH_RE = re.compile(r"\n\s*\n")
_SUFFIXES = (".jsonl.gz", ".jsonl", ".txt.gz", ".txt", ".parquet")


@dataclass(frozen=True)
class DecontaminateConfig:
    """`eval`: evaluation-set files (local or gs://); `ngram`: words per n-gram; `action`: reject|remove_spans."""

    eval: tuple[str, ...] = ()
    ngram: int = DEFAULT_NGRAM
    action: str = ACTION_REJECT
    min_matches: int = 1  # matched n-grams needed to call a document contaminated
    eval_text_column: str = "text"  # Parquet evaluation sets

    def __post_init__(self) -> None:
        if not self.eval:
            raise ValueError("decontaminate needs at least one evaluation file in 'eval'")
        if self.ngram < 1:
            raise ValueError(f"ngram must be at least 1, got {self.ngram}")
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {self.action!r}")
        if self.min_matches < 1:
            raise ValueError(f"min_matches must be at least 1, got {self.min_matches}")


@dataclass(frozen=True)
class NgramIndex:
    """Sorted n-gram hashes with the evaluation set of each; picklable (a Beam side input)."""

    n: int
    hashes: np.ndarray  # uint64, sorted
    set_ids: np.ndarray  # uint16, parallel to hashes
    set_names: tuple[str, ...]
    texts: tuple[int, ...]  # evaluation texts read, per set
    short_texts: tuple[int, ...]  # of those, texts with fewer than n words (cannot match)

    @property
    def nbytes(self) -> int:
        return int(self.hashes.nbytes + self.set_ids.nbytes)

    def lookup(self, doc_hashes: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
        """Positions of `doc_hashes` present in the index, and matched n-grams per set name."""
        if len(doc_hashes) == 0 or len(self.hashes) == 0:
            return np.empty(0, dtype=np.int64), {}
        pos = np.searchsorted(self.hashes, doc_hashes)
        hit = self.hashes[np.minimum(pos, len(self.hashes) - 1)] == doc_hashes
        positions = np.flatnonzero(hit)
        if len(positions) == 0:
            return positions, {}
        found = doc_hashes[positions]
        lo = pos[positions]
        hi = np.searchsorted(self.hashes, found, "right")
        # An n-gram shared by several sets has one entry per set: expand each [lo, hi) range.
        widths = hi - lo
        entries = np.repeat(lo - np.cumsum(widths) + widths, widths) + np.arange(int(widths.sum()))
        counts = np.bincount(self.set_ids[entries], minlength=len(self.set_names))
        per_set = {self.set_names[i]: int(c) for i, c in enumerate(counts) if c}
        return positions, per_set


def normalized_words(text: str) -> tuple[list[int], list[int], list[int]]:
    """xxh64 hashes of the normalized words of `text`, with each word's start and end offset."""
    folded = text.casefold()
    same_length = len(folded) == len(text)  # casefold can grow a text ("ß" -> "ss"); offsets then need the original
    hashes, starts, ends = [], [], []
    for m in _WORD_RE.finditer(folded if same_length else text):
        word = m.group() if same_length else m.group().casefold()
        if not word.isascii():
            word = unicodedata.normalize("NFKC", word)
        hashes.append(xxhash.xxh64_intdigest(word.encode("utf-8", "surrogatepass")))
        starts.append(m.start())
        ends.append(m.end())
    return hashes, starts, ends


def word_ngrams(word_hashes: list[int], n: int) -> np.ndarray:
    """Hashes of every n-gram of a word-hash sequence (empty when it has fewer than n words)."""
    # Imported here: the filters package registers this module's step, so a top-level
    # import would be circular when this module is imported first.
    from winnow.curation.filters.text_units import ngram_hashes

    return ngram_hashes(np.asarray(word_hashes, dtype=np.uint64), n)


def text_ngrams(text: str, n: int) -> np.ndarray:
    """Hashes of every n-gram of normalized words of `text` (empty when it has fewer than n words)."""
    return word_ngrams(normalized_words(text)[0], n)


def set_name(path: str) -> str:
    """An evaluation set's name: its file name without directory and known extensions."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def iter_eval_texts(path: str, stream: BinaryIO, text_column: str = "text") -> Iterator[str]:
    """The texts of one evaluation file; ValueError naming the file (and line) for bad input."""
    lower = path.lower()
    if lower.endswith(".parquet"):
        yield from _parquet_texts(path, stream, text_column)
        return
    if lower.endswith(".gz"):
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
    try:
        data = stream.read().decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read evaluation file: {exc}") from exc
    if lower.endswith((".jsonl", ".jsonl.gz")):
        yield from _jsonl_texts(path, data)
    elif lower.endswith((".txt", ".txt.gz")):
        yield from (p for p in _PARAGRAPH_RE.split(data) if p.strip())
    else:
        raise ValueError(f"{path}: unknown evaluation file type; expected .jsonl, .txt (optionally .gz) or .parquet")


def _jsonl_texts(path: str, data: str) -> Iterator[str]:
    from winnow.schemas.mc_tasks import parse_row  # plain Python; the task row layouts live there

    for number, row in json_lines(data.splitlines(), path):
        if isinstance(row, dict) and isinstance(row.get("text"), str):
            yield row["text"]
            continue
        try:
            example = parse_row(row)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: neither a 'text' row nor a multiple-choice task: {exc}") from None
        yield f"{example.context} {example.endings[example.label]}"


def _parquet_texts(path: str, stream: BinaryIO, column: str) -> Iterator[str]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(stream if stream.seekable() else io.BytesIO(stream.read()))
    except Exception as exc:
        raise ValueError(f"{path}: not a readable Parquet file: {exc}") from exc
    names = parquet.schema_arrow.names
    if column not in names:
        raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(names)}); set eval_text_column")
    try:
        for batch in parquet.iter_batches(columns=[column]):
            yield from (t for t in batch.column(0).to_pylist() if isinstance(t, str))
    except Exception as exc:  # invalid UTF-8, a corrupt page: a partial set would under-detect, so stop here
        raise ValueError(f"{path}: unreadable Parquet data in column {column!r}: {type(exc).__name__}: {exc}") from None


def build_index(sets: Sequence[tuple[str, Sequence[str] | Iterator[str]]], n: int) -> NgramIndex:
    """The index of (name, texts) evaluation sets; a set with no n-gram at all is an error."""
    if len(sets) > np.iinfo(np.uint16).max:
        raise ValueError(f"at most {np.iinfo(np.uint16).max} evaluation sets, got {len(sets)}")
    all_hashes, all_ids, names, texts, short = [], [], [], [], []
    for set_id, (name, items) in enumerate(sets):
        chunks, count, too_short = [], 0, 0
        for text in items:
            count += 1
            grams = text_ngrams(text, n)
            too_short += len(grams) == 0
            chunks.append(grams)
        unique = np.unique(np.concatenate(chunks)) if chunks else np.empty(0, dtype=np.uint64)
        if len(unique) == 0:
            raise ValueError(f"evaluation set {name}: no text with {n} or more words ({count} texts read); lower 'ngram'")
        all_hashes.append(unique)
        all_ids.append(np.full(len(unique), set_id, dtype=np.uint16))
        names.append(name)
        texts.append(count)
        short.append(too_short)
    hashes = np.concatenate(all_hashes)
    order = np.argsort(hashes, kind="stable")
    return NgramIndex(n, hashes[order], np.concatenate(all_ids)[order], tuple(names), tuple(texts), tuple(short))


def prepare(config: DecontaminateConfig, open_binary: OpenBinary) -> NgramIndex:
    """Read every evaluation file once (on the launcher) and build the shared index."""
    sets, seen = [], {}
    for path in config.eval:
        name = set_name(path)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:  # two files with one stem (dev/x.jsonl, test/x.jsonl) stay apart
            name = f"{name}#{seen[name]}"
        try:
            stream = open_binary(path)
        except Exception as exc:
            raise ValueError(f"{path}: cannot open evaluation file: {exc}") from exc
        with stream:
            sets.append((name, list(iter_eval_texts(path, stream, config.eval_text_column))))
    return build_index(sets, config.ngram)


def _merged_spans(positions: np.ndarray, starts: list[int], ends: list[int], n: int) -> list[tuple[int, int]]:
    """Character spans covered by the matched n-grams starting at word `positions`, merged."""
    spans: list[tuple[int, int]] = []
    for p in positions.tolist():
        start, end = starts[p], ends[p + n - 1]
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def remove_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` without `spans` (sorted, disjoint); each cut leaves one space so words do not merge."""
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(text[last:start])
        last = end
    pieces.append(text[last:])
    return " ".join(pieces)


def decide(config: DecontaminateConfig, row: Mapping[str, Any]) -> Verdict | None:
    """The verdict from stored signals (also what the per-document step returns)."""
    matched = int(row.get("decontaminate_matched_ngrams") or 0)
    sets = row.get("decontaminate_set") or ""
    if config.action == ACTION_REMOVE_SPANS:
        if row.get("decontaminate_emptied"):
            return CONTAMINATED, f"{sets}: nothing left after removing {matched} matched {config.ngram}-grams"
        return None
    if matched >= config.min_matches:
        return CONTAMINATED, f"{sets}: {matched} {config.ngram}-grams in common"
    return None


def build(config: DecontaminateConfig, index: NgramIndex) -> Step:
    """The per-document step over the shared index."""
    if index.n != config.ngram:
        raise ValueError(f"index built for {index.n}-grams, config asks for {config.ngram}-grams")
    n = config.ngram

    def step(doc: Document) -> StepResult:
        hashes, starts, ends = normalized_words(doc.text)
        positions, per_set = index.lookup(word_ngrams(hashes, n))
        new_text = None
        if config.action == ACTION_REMOVE_SPANS and len(positions):
            new_text = remove_spans(doc.text, _merged_spans(positions, starts, ends, n))
        signals = {
            "decontaminate_matched_ngrams": int(len(positions)),
            "decontaminate_set": ",".join(sorted(per_set, key=lambda s: (-per_set[s], s))),
            "decontaminate_chars_removed": len(doc.text) - len(new_text) if new_text is not None else 0,
            "decontaminate_emptied": new_text is not None and _WORD_RE.search(new_text) is None,
        }
        verdict = decide(config, signals)
        if verdict is not None:
            return StepResult(signals, reason=verdict[0], detail=verdict[1])
        return StepResult(signals, text=new_text)

    return step


DECONTAMINATE_STEP = StepSpec(
    name="decontaminate",
    config_type=DecontaminateConfig,
    build=build,
    signals=SIGNALS,
    reasons=REASONS,
    description="Reject (or cut spans of) documents sharing word n-grams with evaluation sets.",
    decide=decide,
    edits_text=True,
    # min_matches only moves the verdict; everything else changes the signals or the text.
    recompute_fields=("eval", "ngram", "action", "eval_text_column"),
    prepare=prepare,
)


# ---------------------------------------------------------------- `winnow run`: the run's own evaluation sets

# Task specs `winnow evaluate` builds itself: nothing in a crawl can contain them
# (`sentences:val` is cut from the run's own held-out documents).
GENERATED_TASK_PREFIXES = ("builtin:", "sentences:")


def evaluation_files(evaluate_section: Mapping[str, Any]) -> list[str]:
    """The files a run's `evaluate:` section scores on: task files and the held-out `text`."""
    files = [t for t in evaluate_section.get("tasks") or [] if isinstance(t, str) and not t.startswith(GENERATED_TASK_PREFIXES)]
    text = evaluate_section.get("text")
    if isinstance(text, str) and text:
        if text.lower().endswith(".txt"):
            files.append(text)
        else:
            from winnow.schemas.inputs import resolve_parquet_inputs

            files.extend(resolve_parquet_inputs(text))
    return files


def recipe_with_decontamination(recipe_yaml: str, eval_files: Sequence[str], origin: str) -> str | None:
    """The recipe YAML with a `decontaminate` step against `eval_files` appended; None when it has one."""
    import yaml

    data = yaml.safe_load(recipe_yaml)
    if not isinstance(data, dict):
        raise ValueError(f"recipe {origin}: expected a mapping at the top level")
    steps = list(data.get("steps") or [])
    if any((s == "decontaminate") or (isinstance(s, Mapping) and "decontaminate" in s) for s in steps):
        return None  # the recipe chose its own evaluation sets and settings
    steps.append({"decontaminate": {"eval": list(eval_files)}})
    data["steps"] = steps
    data.setdefault("name", origin.rsplit("/", 1)[-1].removeprefix("built-in:").rsplit(".", 1)[0])
    return yaml.safe_dump(data, sort_keys=False)
