"""Multiple-choice tasks: a loader and writer of local JSONL task files and a
generator of small synthetic task sets the project makes itself.

The row layouts a task file may use (HellaSwag's, ARC's, PIQA's and the
canonical `ctx`/`endings`/`label`) are defined once in `schemas/mc_tasks.py`,
which decontamination reads too. No torch here: scoring lives in `evaluate.py`.
"""
from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path
from typing import Iterable

from winnow.core.errors import ConfigurationError, InputError
from winnow.core.jsonl import json_lines
from winnow.schemas.mc_tasks import MIN_ENDINGS, MCExample, parse_row

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


def load_mc_tasks(path: str | Path) -> list[MCExample]:
    """Read a JSONL task file; errors name the file and the 1-based line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        # A path that names nothing is a wrong argument (exit 2); a file that cannot be read is bad input (3).
        kind = ConfigurationError if isinstance(exc, FileNotFoundError) else InputError
        raise kind(f"{path}: cannot read task file: {exc}") from exc
    examples = []
    for number, row in json_lines(lines, path, InputError):
        try:
            examples.append(parse_row(row))
        except ValueError as exc:
            raise InputError(f"{path}:{number}: {exc}") from None
    if not examples:
        raise InputError(f"{path}: no tasks in the file")
    return examples


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
        raise ConfigurationError(f"n_choices must be at least {MIN_ENDINGS}")
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
        raise InputError(f"the texts hold {len(candidates)} usable sentences; need at least {n_choices}")
    rng.shuffle(candidates)
    pool = list(dict.fromkeys(ending for _, ending in candidates))  # distinct endings, in a seeded order
    if len(pool) < n_choices:
        raise InputError(f"the texts hold {len(pool)} distinct sentence endings; need at least {n_choices}")
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
        raise ConfigurationError(f"list_words must be between 1 and {len(COPY_WORDS)}, got {list_words}")
    shown = list_words // 2
    if math.factorial(list_words - shown) - 1 < n_choices - 1:
        raise ConfigurationError(
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
    raise ConfigurationError(f"unknown built-in task {name!r}; known: {', '.join(SYNTHETIC_TASKS)}")
