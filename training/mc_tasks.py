"""Multiple-choice tasks: a loader for local JSONL files and a generator of
small synthetic task sets the project makes itself.

The canonical row is HellaSwag's layout, one JSON object per line:

    {"ctx": "A man is sitting on a roof. He", "endings": ["starts ...", ...], "label": 2}

`context`/`choices`/`gold` are accepted as aliases, and so are the native
layouts of HellaSwag (`activity_label`, `ctx_a`, `ctx_b`, `endings`, `label`;
preprocessed with lm-evaluation-harness's own `hellaswag` preprocessing, so
that format needs the `eval` extra), ARC (`question.stem`,
`question.choices[].text`, `answerKey`) and PIQA (`goal`, `sol1`, `sol2`,
`label`), so real benchmark files can be pointed at directly. The context and
choices are what lm-evaluation-harness's task YAMLs build for the same rows
(`hellaswag`, `arc_easy`/`arc_challenge`: "Question: ...\nAnswer:", `piqa`:
"Question: ...\nAnswer:"). No torch here: scoring lives in `evaluate.py`.
"""
from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from winnow.jsonl import json_lines

CONTEXT_KEYS = ("ctx", "context")
ENDINGS_KEYS = ("endings", "choices")
LABEL_KEYS = ("label", "gold")
HELLASWAG_KEYS = ("activity_label", "ctx_a", "ctx_b", "endings", "label")
MIN_ENDINGS = 2

# Synthetic sentence completion: sentences with at least this many words, cut
# at a point that leaves at least MIN_SPLIT_WORDS on each side.
MIN_SENTENCE_WORDS = 6
MIN_SPLIT_WORDS = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

# Built-in vocabulary for the copy task, which needs no corpus at all.
COPY_WORDS = (
    "apple river stone cloud lamp forest violin harbor candle meadow engine pepper "
    "window garden rocket silver island marble pencil thunder basket mirror tiger "
    "lantern orbit velvet canyon bridge copper falcon glacier"
).split()


@dataclass(frozen=True)
class MCExample:
    context: str
    endings: tuple[str, ...]
    label: int  # index of the correct ending


def load_mc_tasks(path: str | Path) -> list[MCExample]:
    """Read a JSONL task file; errors name the file and the 1-based line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read task file: {exc}") from exc
    examples = []
    for number, row in json_lines(lines, path):
        try:
            examples.append(parse_row(row))
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
    if not examples:
        raise ValueError(f"{path}: no tasks in the file")
    return examples


def parse_row(row: Any) -> MCExample:
    """One task row in any accepted layout."""
    if not isinstance(row, dict):
        raise ValueError(f"a task row must be a JSON object, got {type(row).__name__}")
    if isinstance(row.get("question"), dict) and "answerKey" in row:
        return _parse_arc(row)
    if isinstance(row.get("question"), str) and isinstance(row.get("choices"), dict) and "answerKey" in row:
        # The Hugging Face allenai/ai2_arc layout: choices {"text": [...], "label": [...]}.
        texts, labels = row["choices"].get("text"), row["choices"].get("label")
        if not isinstance(texts, list) or not isinstance(labels, list) or len(texts) != len(labels):
            raise ValueError("ARC row: choices must hold equally long 'text' and 'label' lists")
        return _parse_arc({"question": {"stem": row["question"], "choices": [{"text": t, "label": l} for t, l in zip(texts, labels)]}, "answerKey": row["answerKey"]})
    if "goal" in row and "sol1" in row:
        # lm-eval's piqa.yaml: doc_to_text "Question: {{goal}}\nAnswer:".
        goal = row["goal"] if isinstance(row["goal"], str) else None
        context = f"Question: {goal}\nAnswer:" if goal is not None else goal
        return _check(context, [row["sol1"], row["sol2"]] if "sol2" in row else None, row.get("label"))
    if all(key in row for key in HELLASWAG_KEYS):
        return _parse_hellaswag(row)
    return _check(_first(row, CONTEXT_KEYS), _first(row, ENDINGS_KEYS), _first(row, LABEL_KEYS))


def _first(row: dict, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in row:
            return row[key]
    raise ValueError(f"missing key {' or '.join(repr(k) for k in keys)}")


def _parse_arc(row: dict) -> MCExample:
    choices = row["question"].get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, dict) and "text" in c for c in choices):
        raise ValueError("ARC row: question.choices must be a list of objects with 'text'")
    letters = [str(c.get("label")) for c in choices]
    answer = str(row["answerKey"])
    if answer not in letters:
        raise ValueError(f"ARC row: answerKey {answer!r} is not one of the choice labels {letters}")
    stem = row["question"].get("stem")
    # lm-eval's arc_easy.yaml: doc_to_text "Question: {{question}}\nAnswer:".
    context = f"Question: {stem}\nAnswer:" if isinstance(stem, str) else stem
    return _check(context, [c["text"] for c in choices], letters.index(answer))


def _parse_hellaswag(row: dict) -> MCExample:
    """HellaSwag's own row, prepared exactly as lm-eval's hellaswag task does
    (its `utils.process_docs`), by calling the harness's preprocessing."""
    try:
        from lm_eval.tasks.hellaswag.utils import preprocess
    except ImportError:
        raise ValueError(
            "HellaSwag rows (activity_label/ctx_a/ctx_b) are prepared with lm-evaluation-harness's preprocessing; "
            "install it with: pip install 'winnow[eval]'"
        ) from None
    for key in ("activity_label", "ctx_a", "ctx_b"):
        if not isinstance(row[key], str):
            raise ValueError(f"HellaSwag row: {key} must be a string, got {type(row[key]).__name__}")
    endings = row["endings"]
    if not isinstance(endings, list) or not all(isinstance(e, str) for e in endings):
        raise ValueError("HellaSwag row: endings must be a list of strings")
    context = preprocess(row["activity_label"] + ": " + row["ctx_a"] + " " + row["ctx_b"].capitalize())
    return _check(context, [preprocess(e) for e in endings], row["label"])


def _check(context: Any, endings: Any, label: Any) -> MCExample:
    if not isinstance(context, str):
        raise ValueError(f"context must be a string, got {type(context).__name__}")
    if not isinstance(endings, list) or len(endings) < MIN_ENDINGS or not all(isinstance(e, str) for e in endings):
        raise ValueError(f"endings must be a list of at least {MIN_ENDINGS} strings")
    if not all(e.strip() for e in endings):
        raise ValueError("every ending must be a non-empty string (an empty one has no likelihood to compare)")
    if isinstance(label, str) and label.strip().isdigit():  # some HellaSwag exports store "2"
        label = int(label)
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < len(endings):
        raise ValueError(f"label must be an integer index into the {len(endings)} endings, got {label!r}")
    return MCExample(context, tuple(endings), label)


def write_mc_tasks(examples: Iterable[MCExample], path: str | Path) -> int:
    """Write tasks in the canonical layout; returns the number written."""
    count = 0
    with open(path, "w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps({"ctx": ex.context, "endings": list(ex.endings), "label": ex.label}) + "\n")
            count += 1
    return count


def sentence_completion_tasks(
    texts: Iterable[str], n_examples: int = 200, n_choices: int = 4, seed: int = 0
) -> list[MCExample]:
    """Complete a sentence from held-out text: the context is the text before
    the sentence plus its first words, the correct ending is the rest of the
    sentence, and the distractors are the second halves of other sentences.

    Deterministic for the same texts and seed. A model that learned the
    language (and uses its context) beats the 1/n_choices chance.
    """
    if n_choices < MIN_ENDINGS:
        raise ValueError(f"n_choices must be at least {MIN_ENDINGS}")
    rng = random.Random(seed)
    candidates = []  # (preceding text, first words, rest)
    for text in texts:
        sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
        for i, sentence in enumerate(sentences):
            words = sentence.split()
            if len(words) < MIN_SENTENCE_WORDS:
                continue
            cut = rng.randint(MIN_SPLIT_WORDS, len(words) - MIN_SPLIT_WORDS)
            previous = " ".join(sentences[i - 1].split()) + " " if i else ""
            candidates.append((previous + " ".join(words[:cut]), " ".join(words[cut:])))
    if len(candidates) < n_choices:
        raise ValueError(f"the texts hold {len(candidates)} usable sentences; need at least {n_choices}")
    rng.shuffle(candidates)
    pool = list(dict.fromkeys(ending for _, ending in candidates))  # distinct endings, in a seeded order
    if len(pool) < n_choices:
        raise ValueError(f"the texts hold {len(pool)} distinct sentence endings; need at least {n_choices}")
    examples = []
    for context, ending in candidates[:n_examples]:
        # One spare draw, so the distractors stay distinct after dropping the true ending.
        distractors = [e for e in rng.sample(pool, n_choices) if e != ending][: n_choices - 1]
        examples.append(_with_distractors(rng, context, ending, distractors))
    return examples


def copy_tasks(n_examples: int = 200, n_choices: int = 4, list_words: int = 6, seed: int = 0) -> list[MCExample]:
    """Repeat a word list: the context states a list and starts repeating it;
    the correct ending finishes the repetition, the distractors finish it with
    the same words in another order. Needs no corpus; a model that copies from
    its context (an induction head) solves it, one that does not is at chance.
    """
    if not 0 < list_words <= len(COPY_WORDS):
        raise ValueError(f"list_words must be between 1 and {len(COPY_WORDS)}, got {list_words}")
    shown = list_words // 2
    if math.factorial(list_words - shown) - 1 < n_choices - 1:
        raise ValueError(
            f"list_words={list_words} leaves too few orders of the remaining words for {n_choices} choices"
        )
    rng = random.Random(seed)
    examples = []
    for _ in range(n_examples):
        words = rng.sample(COPY_WORDS, list_words)
        context = "Repeat the list: " + " ".join(words) + ". Again: " + " ".join(words[:shown])
        rest = words[shown:]
        distractors: list[str] = []
        while len(distractors) < n_choices - 1:
            shuffled = rng.sample(rest, len(rest))
            candidate = " ".join(shuffled) + "."
            if shuffled != rest and candidate not in distractors:
                distractors.append(candidate)
        examples.append(_with_distractors(rng, context, " ".join(rest) + ".", distractors))
    return examples


def _with_distractors(rng: random.Random, context: str, correct: str, distractors: list[str]) -> MCExample:
    endings = [correct, *distractors]
    rng.shuffle(endings)
    return MCExample(context, tuple(endings), endings.index(correct))


SYNTHETIC_TASKS = ("copy",)  # built-in task names accepted by `winnow evaluate --tasks`


def synthetic_task(name: str, n_examples: int = 200, seed: int = 0) -> list[MCExample]:
    """A built-in task by name (see SYNTHETIC_TASKS)."""
    if name == "copy":
        return copy_tasks(n_examples=n_examples, seed=seed)
    raise ValueError(f"unknown built-in task {name!r}; known: {', '.join(SYNTHETIC_TASKS)}")
