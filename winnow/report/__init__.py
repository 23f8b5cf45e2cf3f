"""`winnow report`: one self-contained HTML page and summary.json for a run directory.

The report is a list of sections (`SECTIONS`, page order). Each `SectionSpec`
pairs a builder, which reads whatever the stages of `winnow run` left in RUN_DIR
into a JSON-able dict, with a renderer that draws that dict as HTML. The page is
drawn from the dicts only, so report.html and summary.json always show the same
numbers. A missing input makes its section "not run"; an unreadable or
malformed one makes it "error" with a message naming the file, and the other
sections still render.

The package, one concern per module:

- `inputs`: where each input lives in RUN_DIR, and the checked JSON/Parquet readers;
- `sections`: the `Section` record and the data builders (`signals` holds the signals one);
- `render`: page style, HTML helpers and one renderer per section;
- `charts`: matplotlib charts as PNG bytes.

Adding a section: write `build_x(run_dir: Path) -> dict` (raise
`inputs.NotRun` when its files are absent, `inputs.ReportInputError` naming the
file when they are broken; keys starting with `_` reach the page but not
summary.json) and `html_x(data: dict) -> str` (escape every string with
`render.esc`; `render.html_table`, `render.html_img` help), in a module of its
own if it is large, then add one `SectionSpec` to `SECTIONS` below. Its data
then appears in summary.json under its key, and tests/test_report.py's
ALL_SECTIONS lists the keys.

The page embeds its charts as base64 PNG data URIs and has no external CSS,
JS or fonts, so it can be mailed or archived as one file. Importing this
package loads neither matplotlib nor pyarrow (the `winnow` CLI imports it).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from winnow.core.version import __version__
from winnow.core.atomic import atomic_write_text
from winnow.report import mixture, render, sections
from winnow.report.inputs import (
    ABLATE_RESULTS,
    CURATE_DOCUMENTS,
    CURATE_REJECTED,
    CURATE_STATS,
    DEDUP_STATS,
    EVAL_RESULTS,
    RUN_FILE,
    TOKENIZER_REPORT,
    TOKENS_MANIFEST,
    TRAIN_METRICS,
    NotRun,
    ReportInputError,
    finite_or_none,
)
from winnow.report.sections import STATUS_ERROR, STATUS_NOT_RUN, STATUS_OK, Section
from winnow.summaries import KIND_RUN, KIND_UNKNOWN, RUN_STAGE_OF_KIND, output_kind
from winnow.report.signals import MAX_SIGNAL_ROWS, MAX_SIGNALS, build_signals, rank_signals
from winnow.report.review import REVIEW_KEY, REVIEW_TITLE, build_review, html_review
from winnow.report.calibration import ABLATE_CALIBRATION, build_calibration, html_calibration

__all__ = [
    "ABLATE_RESULTS", "CURATE_STATS", "DEDUP_STATS", "EVAL_RESULTS", "MAX_SIGNALS", "MAX_SIGNAL_ROWS",
    "REPORT_FILE", "RUN_FILE", "SECTIONS", "STATUS_ERROR", "STATUS_NOT_RUN", "STATUS_OK", "SUMMARY_FILE",
    "ReportInputError", "Section", "SectionSpec", "build_section", "build_sections", "build_summary",
    "rank_signals", "render_html", "write_report",
]

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"


@dataclasses.dataclass(frozen=True)
class SectionSpec:
    """One report section: summary.json key, page title, data builder, HTML renderer, input files."""

    key: str
    title: str
    build: Callable[[Path], dict[str, Any]]
    render: Callable[[dict[str, Any]], str]
    sources: tuple[str, ...]  # RUN_DIR-relative inputs, named when their content has an unexpected shape
    stages: tuple[str, ...] = ()  # `winnow run` stage names whose skip/failure explains "not run"


SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec("overview", "Overview", sections.build_overview, render.html_overview, (RUN_FILE,)),
    SectionSpec("curation", "Curation funnel", sections.build_curation, render.html_curation, (CURATE_STATS,), ("curate",)),
    SectionSpec("languages", "Languages", sections.build_languages, render.html_languages, (CURATE_STATS,), ("curate",)),
    SectionSpec("signals", "Signals: kept vs rejected", build_signals, render.html_signals,
                (CURATE_DOCUMENTS, CURATE_REJECTED), ("curate",)),
    SectionSpec("dedup", "Deduplication", sections.build_dedup, render.html_dedup, (DEDUP_STATS,), ("dedup",)),
    SectionSpec("mixture", "Mixture", mixture.build_mixture, mixture.html_mixture, (mixture.MIX_MANIFEST,), ("mix",)),
    SectionSpec("contamination", "Decontamination", mixture.build_contamination, mixture.html_contamination,
                (CURATE_REJECTED, CURATE_DOCUMENTS), ("curate",)),
    SectionSpec("tokens", "Tokens", sections.build_tokens, render.html_tokens, (TOKENIZER_REPORT, TOKENS_MANIFEST),
                ("tokenize", "tokens", "tokenizer")),
    SectionSpec("training", "Training", sections.build_training, render.html_training, (TRAIN_METRICS,), ("train",)),
    SectionSpec("evaluation", "Evaluation", sections.build_evaluation, render.html_evaluation, (EVAL_RESULTS,), ("evaluate",)),
    SectionSpec("generations", "Sample generations", sections.build_generations, render.html_generations,
                (EVAL_RESULTS,), ("evaluate",)),
    SectionSpec("ablation", "Ablation", sections.build_ablation, render.html_ablation, (ABLATE_RESULTS,), ("ablate",)),
    SectionSpec("calibration", "Ablation calibration", build_calibration, html_calibration, (ABLATE_CALIBRATION,), ("ablate",)),
    SectionSpec("samples", "Sample documents", sections.build_samples, render.html_samples,
                (CURATE_DOCUMENTS, CURATE_REJECTED), ("curate",)),
    SectionSpec(REVIEW_KEY, REVIEW_TITLE, build_review, html_review, ("curate/review", "train/review")),
)


def _run_stage_note(spec: SectionSpec, overview: dict[str, Any] | None) -> str | None:
    """Why a section's stage did not run, when run.json says it was skipped or failed."""
    if not overview:
        return None
    stages = {s["stage"]: s for s in overview.get("stages", [])}
    for alias in spec.stages:
        stage = stages.get(alias)
        if stage and stage["status"] != "ran":
            return f"stage {alias} {stage['status']}" + (f": {stage['error']}" if stage.get("error") else "")
    return None


def build_section(run_dir: Path, spec: SectionSpec) -> Section:
    """Run one section builder, turning absent inputs into "not run" and bad ones into an error line."""
    try:
        return Section(spec.key, spec.title, STATUS_OK, spec.build(run_dir))
    except NotRun:
        return Section(spec.key, spec.title, STATUS_NOT_RUN)
    except ReportInputError as exc:
        return Section(spec.key, spec.title, STATUS_ERROR, error=str(exc))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # Content of an unexpected shape (a list where a number belongs...): name the files, keep the page.
        files = ", ".join(str(run_dir / s) for s in spec.sources)
        return Section(spec.key, spec.title, STATUS_ERROR, error=f"{files}: unexpected content ({type(exc).__name__}: {exc})")


def build_sections(run_dir: str | os.PathLike, specs: Sequence[SectionSpec] = SECTIONS) -> list[Section]:
    """Every section of the report for `run_dir`, in page order."""
    root = Path(run_dir)
    if not root.is_dir():
        raise ReportInputError(f"{root}: run directory does not exist")
    built = [build_section(root, spec) for spec in specs]
    overview = built[0].data if built and built[0].key == "overview" and built[0].status == STATUS_OK else None
    return [
        dataclasses.replace(s, note=_run_stage_note(spec, overview)) if s.status != STATUS_OK else s
        for s, spec in zip(built, specs)
    ]


def build_summary(built: Sequence[Section], run_dir: str | os.PathLike) -> dict[str, Any]:
    """summary.json content: the numbers of every section, NaN written as null."""
    summary: dict[str, Any] = {"run_dir": str(Path(run_dir).resolve()), "created_by": f"winnow {__version__}"}
    summary["sections"] = {s.key: finite_or_none(s.to_summary()) for s in built}
    return summary


def render_html(built: Sequence[Section], run_dir: str | os.PathLike, specs: Sequence[SectionSpec] = SECTIONS) -> str:
    """The whole self-contained page."""
    return render.render_page(built, {spec.key: spec.render for spec in specs}, run_dir)


@contextlib.contextmanager
def run_layout(root: Path, kind: str) -> Iterator[Path]:
    """A directory laid out as `winnow run` leaves one, for any kind of Winnow output.

    A run or ablation directory is its own layout. A single command's output
    (a curate output is what RUN_DIR/curate holds) is linked into a temporary
    folder under its stage's name, so every section reads it with the same
    code as in a run.
    """
    stage = RUN_STAGE_OF_KIND.get(kind)
    if stage is None:
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="winnow-report-") as folder:
        view = Path(folder)
        (view / stage).symlink_to(root.resolve(), target_is_directory=True)
        yield view


def _as_seen_from(section: Section, view: Path, root: Path, kind: str) -> Section:
    """Messages name the user's files, not the temporary links."""
    stage = RUN_STAGE_OF_KIND.get(kind)
    if stage is None:
        return section
    linked = str(view / stage)

    def fix(text: str | None) -> str | None:
        return text.replace(linked, str(root)) if text else text

    return dataclasses.replace(section, error=fix(section.error), note=fix(section.note))


def build_for_kind(root: Path, kind: str) -> list[Section]:
    """The sections for `root` read as `kind`: a `winnow run` directory shows every section (absent
    ones "not run", with why); any other output only the sections it has data for (or a problem with)."""
    with run_layout(root, kind) as view:
        built = [_as_seen_from(s, view, root, kind) for s in build_sections(view)]
    if kind not in (KIND_RUN, KIND_UNKNOWN):  # an unknown folder keeps the full "not run" page (the CLI refuses it)
        built = [s for s in built if s.status != STATUS_NOT_RUN]
    return built


def write_report(run_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write DIR/report.html and DIR/summary.json for any Winnow output directory; return their paths.

    The kind of directory (`winnow.summaries.output_kind`) is written to
    summary.json and shown on the page. Raises ReportInputError when `run_dir`
    is not a directory; problems with individual files show up inside the
    report instead.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise ReportInputError(f"{root}: run directory does not exist")
    kind = output_kind(root)
    built = build_for_kind(root, kind)
    summary = {**build_summary(built, root), "kind": kind}
    page = render.render_page(built, {spec.key: spec.render for spec in SECTIONS}, root, kind)
    report_path, summary_path = root / REPORT_FILE, root / SUMMARY_FILE
    try:
        atomic_write_text(summary_path, json.dumps(summary, indent=2, allow_nan=False) + "\n")
        atomic_write_text(report_path, page)
    except OSError as exc:
        raise ReportInputError(f"{root}: cannot write the report: {exc}") from exc
    return report_path, summary_path
