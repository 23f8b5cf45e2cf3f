"""The multiple-choice task row: its layouts and its parser.

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
"Question: ...\nAnswer:").

The row format lives here, beside the Parquet schemas, because two libraries
read it: training (`training/mc_tasks.py` loads task files for evaluation) and
curation (`curation/decontaminate.py` indexes the same files), and neither may
import the other. Plain Python: no pyarrow, no torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONTEXT_KEYS = ("ctx", "context")
ENDINGS_KEYS = ("endings", "choices")
LABEL_KEYS = ("label", "gold")
HELLASWAG_KEYS = ("activity_label", "ctx_a", "ctx_b", "endings", "label")
MIN_ENDINGS = 2


@dataclass(frozen=True)
class MCExample:
    context: str
    endings: tuple[str, ...]
    label: int  # index of the correct ending


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
