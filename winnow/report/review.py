"""The "Human review" section of `winnow report` (the report reads review labels; review never imports the report).

A run directory holds one output per stage (curate/, dedup/, select/, train/,
...); labels live in `<output>/review/` and comparison votes in
`<train run>/review/`. The section summarises each output that has a review
folder. Importing this module loads nothing heavy: pyarrow and scikit-learn
load when the section is built, as the report package requires.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

REVIEW_KEY = "review"
REVIEW_TITLE = "Human review"


def review_outputs(run_dir: Path) -> list[Path]:
    """The run directory itself and its direct subdirectories that have a review/ folder."""
    from winnow.review.labels import review_dir

    candidates = [run_dir, *sorted(p for p in run_dir.iterdir() if p.is_dir() and p.name != "review")]
    return [p for p in candidates if review_dir(p).is_dir()]


def build_review(run_dir: Path) -> dict[str, Any]:
    """{"outputs": {name: review_summary}}; NotRun without labels or votes, ReportInputError naming a bad file."""
    from winnow.report.inputs import NotRun, ReportInputError

    outputs = review_outputs(run_dir)
    if not outputs:
        raise NotRun()
    try:
        from winnow.review.labels import LabelsError
        from winnow.review.source import ReviewInputError
        from winnow.review.stats import review_summary
    except ImportError as exc:  # the review extra is not installed
        raise ReportInputError(f"{outputs[0] / 'review'}: reading labels needs winnow[review] ({exc})") from None
    found: dict[str, Any] = {}
    for path in outputs:
        try:
            summary = review_summary(path)
        except (LabelsError, ReviewInputError) as exc:
            raise ReportInputError(str(exc)) from None
        except ImportError as exc:
            raise ReportInputError(f"{path / 'review'}: summarising labels needs winnow[review] ({exc})") from None
        if summary is not None:
            found["." if path == run_dir else path.name] = summary
    if not found:
        raise NotRun()
    return {"outputs": found}


def html_review(data: dict[str, Any]) -> str:
    from winnow.review.stats import render_html

    parts = []
    for name, summary in data["outputs"].items():
        parts.append(f"<h3>{html.escape(name)}/review</h3>{render_html(summary)}")
    return "\n".join(parts)
