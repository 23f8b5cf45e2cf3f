"""BLiMP: grammatical minimal pairs scored by whole-sentence log-probability.

A pair is right when the model gives the grammatical sentence a higher total
log-probability than the ungrammatical one, which is what
lm-evaluation-harness's `blimp_*` tasks compute: an empty context (the
end-of-text prefix token), the choices " " + sentence_good and " " +
sentence_bad, `acc` = argmax of the summed log-likelihood, ties going to the
first choice (the good sentence). The request encoding and scoring are
`evaluate.py`'s, shared with the other multiple-choice tasks, so the parity
test there covers the encoding too.

Files: one JSON Lines file per paradigm (BLiMP's own layout: `sentence_good`,
`sentence_bad`, `UID`, `field`, one pair per line). The score is reported as
the mean over paradigms (as the harness's `blimp` group, unweighted), per
field (the mean of its paradigms), per paradigm, and over all pairs.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch.nn as nn

from winnow.core.errors import InputError
from winnow.core.jsonl import json_lines
from winnow.training.evaluate import TARGET_DELIMITER, continuation_logprobs, encode_request, eot_id_of

REQUIRED_KEYS = ("sentence_good", "sentence_bad", "UID", "field")


class BlimpError(InputError):
    """A BLiMP file or directory cannot be read; the message names it."""


@dataclass(frozen=True)
class BlimpPair:
    good: str
    bad: str
    paradigm: str  # the UID
    field: str  # syntax, morphology, semantics, syntax_semantics, ...


def load_blimp(directory: str | Path, per_paradigm: int | None = None) -> list[BlimpPair]:
    """Every pair of every `*.jsonl` under DIRECTORY, files in name order;
    with `per_paradigm`, the first N pairs of each file (a fixed subset)."""
    directory = Path(directory)
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        raise BlimpError(f"{directory}: no BLiMP *.jsonl files")
    if per_paradigm is not None and per_paradigm <= 0:
        raise BlimpError(f"per_paradigm must be positive, got {per_paradigm}")
    pairs: list[BlimpPair] = []
    for path in files:
        pairs.extend(_read_paradigm(path, per_paradigm))
    return pairs


def _read_paradigm(path: Path, limit: int | None) -> list[BlimpPair]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BlimpError(f"{path}: cannot read: {exc}") from exc
    pairs = []
    for number, row in json_lines(lines, path, BlimpError):
        missing = [k for k in REQUIRED_KEYS if not isinstance(row, dict) or not isinstance(row.get(k), str)]
        if missing:
            raise BlimpError(f"{path}:{number}: missing or non-string {', '.join(missing)}")
        pairs.append(BlimpPair(row["sentence_good"], row["sentence_bad"], row["UID"], row["field"]))
        if limit is not None and len(pairs) == limit:
            break
    if not pairs:
        raise BlimpError(f"{path}: no pairs")
    return pairs


def pair_outcomes(model: nn.Module, tokenizer: Any, pairs: Sequence[BlimpPair], batch_size: int = 64, device: Any = None) -> list[bool]:
    """Per pair, whether the good sentence's total log-probability is at least the bad one's."""
    eot_id = eot_id_of(tokenizer)
    requests = []
    for pair in pairs:
        requests.append(encode_request(tokenizer, eot_id, "", TARGET_DELIMITER + pair.good))
        requests.append(encode_request(tokenizer, eot_id, "", TARGET_DELIMITER + pair.bad))
    lls = continuation_logprobs(model, requests, batch_size, device)
    # The harness takes numpy's argmax, so a tie goes to the first (good) choice.
    return [lls[2 * i] >= lls[2 * i + 1] for i in range(len(pairs))]


def summarize_outcomes(pairs: Sequence[BlimpPair], right: Sequence[bool]) -> dict[str, Any]:
    """Mean over paradigms (`acc`), per field, per paradigm, and over pairs."""
    if not pairs or len(pairs) != len(right):
        raise BlimpError(f"{len(pairs)} pairs and {len(right)} outcomes")
    by_paradigm: dict[str, list[bool]] = defaultdict(list)
    field_of: dict[str, str] = {}
    for pair, ok in zip(pairs, right):
        by_paradigm[pair.paradigm].append(ok)
        field_of[pair.paradigm] = pair.field
    paradigms = {uid: sum(v) / len(v) for uid, v in sorted(by_paradigm.items())}
    by_field: dict[str, list[float]] = defaultdict(list)
    for uid, acc in paradigms.items():
        by_field[field_of[uid]].append(acc)
    return {
        "acc": sum(paradigms.values()) / len(paradigms),
        "pair_acc": sum(right) / len(right),
        "pairs": len(pairs),
        "fields": {name: sum(v) / len(v) for name, v in sorted(by_field.items())},
        "paradigms": paradigms,
    }


def evaluate_blimp(model: nn.Module, tokenizer: Any, pairs: Sequence[BlimpPair], batch_size: int = 64, device: Any = None) -> dict[str, Any]:
    """BLiMP accuracy of a model (see the module docstring)."""
    return summarize_outcomes(pairs, pair_outcomes(model, tokenizer, pairs, batch_size, device))
