"""Agreement of the `fineweb` recipe's filters with DataTrove 0.10.1's, page by page.

Feeds the same English texts to Winnow's gopher_repetition, gopher_quality, c4
and fineweb steps (configured as recipes/fineweb.yaml configures them) and to
DataTrove's GopherRepetitionFilter, GopherQualityFilter,
C4QualityFilter(filter_no_terminal_punct=False) and FineWebQualityFilter (run by
benchmarks/datatrove_filters.py under the reference venv), then prints, per
filter and for the four in a row, how often the decisions agree, how many
signal values differ, and whether C4's cleaned text is the same where both keep.

Texts: every English page (fastText lid.176, en with score >= 0.65, as the
recipe's language step) among the ground-truth texts of ../shared/data/warc-extra
and of the article-extraction benchmark, plus trafilatura's text of the HTML
responses in ../shared/data/warc. Ground truth is used where it exists so that
extraction differences play no part.

    .venv/bin/python benchmarks/filter_parity.py --setup     # once: build the reference venv
    .venv/bin/python benchmarks/filter_parity.py [--limit N] [--show-diffs 5] [--json FILE]

The reference venv is .bench/reference-venv (git-ignored; WINNOW_REFERENCE_VENV
overrides), with benchmarks/reference-requirements.txt from PyPI. DataTrove caps
trafilatura below 1.12, so it never goes into Winnow's own venv.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
REFERENCE_VENV = Path(os.environ.get("WINNOW_REFERENCE_VENV", REPO / ".bench" / "reference-venv"))
REFERENCE_PYTHON = REFERENCE_VENV / "bin" / "python"
REFERENCE_SCRIPT = REPO / "benchmarks" / "datatrove_filters.py"
REFERENCE_REQUIREMENTS = REPO / "benchmarks" / "reference-requirements.txt"
FILTERS = ("gopher_repetition", "gopher_quality", "c4", "fineweb")
# DataTrove's reason for each Winnow reason (c4_no_lines_left: DataTrove counts 0 sentences).
REASONS = {
    "gopher_empty": "empty",
    "gopher_too_many_duplicate_paragraphs": "dup_para_frac",
    "gopher_too_much_text_in_duplicate_paragraphs": "dup_para_char_frac",
    "gopher_too_many_duplicate_lines": "dup_line_frac",
    "gopher_too_much_text_in_duplicate_lines": "dup_line_char_frac",
    **{f"gopher_top_{n}gram_too_frequent": f"top_{n}_gram" for n in (2, 3, 4)},
    **{f"gopher_too_many_duplicate_{n}grams": f"duplicated_{n}_n_grams" for n in range(5, 11)},
    "gopher_below_min_words": "gopher_short_doc",
    "gopher_above_max_words": "gopher_long_doc",
    "gopher_mean_word_length_too_short": "gopher_below_avg_threshold",
    "gopher_mean_word_length_too_long": "gopher_above_avg_threshold",
    "gopher_too_many_hashes": "gopher_too_many_hashes",
    "gopher_too_many_ellipses": "gopher_too_many_ellipsis",
    "gopher_too_many_bullet_lines": "gopher_too_many_bullets",
    "gopher_too_many_ellipsis_lines": "gopher_too_many_end_ellipsis",
    "gopher_too_few_alpha_words": "gopher_below_alpha_threshold",
    "gopher_too_few_stop_words": "gopher_enough_stop_words",
    "c4_lorem_ipsum": "lorem_ipsum",
    "c4_curly_bracket": "curly_bracket",
    "c4_too_few_sentences": "too_few_sentences",
    "c4_no_lines_left": "too_few_sentences",
    "fineweb_empty": "empty",
    "fineweb_few_lines_end_in_punct": "line_punct_ratio",
    "fineweb_too_many_short_lines": "short_line_ratio",
    "fineweb_too_much_text_in_duplicate_lines": "char_dup_ratio",
    "fineweb_too_many_newlines_per_word": "list_ratio",
}
# Signal values agree when they are equal to this relative tolerance (float sums in another order).
REL_TOL = 1e-9


@dataclass(frozen=True)
class Page:
    id: str
    text: str


# ---------------------------------------------------------------------------
# The reference side


def reference_available() -> str | None:
    """None when the reference venv can run DataTrove's filters, else why not."""
    if not REFERENCE_PYTHON.exists():
        return f"no reference venv at {REFERENCE_VENV} (make reference-venv builds it)"
    probe = subprocess.run(
        [str(REFERENCE_PYTHON), "-c", "import datatrove.pipeline.filters, spacy"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"{REFERENCE_PYTHON} cannot import datatrove and spacy: {probe.stderr.strip()[-300:]}"
    return None


def setup_reference_venv(python: str = sys.executable) -> None:
    """Create the reference venv and install benchmarks/reference-requirements.txt into it."""
    if not REFERENCE_PYTHON.exists():
        subprocess.run([python, "-m", "venv", str(REFERENCE_VENV)], check=True)
    subprocess.run(
        [str(REFERENCE_PYTHON), "-m", "pip", "install", "-q", "-r", str(REFERENCE_REQUIREMENTS)], check=True
    )


def run_reference(pages: Sequence[Page], cache: Path | None = None) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(package versions, one result per page) from DataTrove's filters in the reference venv.

    With `cache`, results for exactly these pages (same ids and texts) are read from and written
    to that file: DataTrove takes minutes on every page of ../shared/data.
    """
    key = hashlib.sha256(json.dumps([[p.id, p.text] for p in pages]).encode()).hexdigest()
    if cache is not None and cache.is_file():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("key") == key:
            return stored["versions"], stored["results"]
    request = json.dumps({"docs": [{"id": p.id, "text": p.text} for p in pages]})
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [str(REFERENCE_PYTHON), str(REFERENCE_SCRIPT)], input=request, capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f"DataTrove reference run failed: {proc.stderr[-2000:]}")
    answer = json.loads(proc.stdout)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"key": key, **answer}), encoding="utf-8")
    return answer["versions"], answer["results"]


# ---------------------------------------------------------------------------
# Winnow's side


def winnow_steps(recipe: str = "fineweb") -> dict[str, Any]:
    """The four filter steps built with the recipe's settings."""
    from winnow.curation.filters import FILTER_STEPS
    from winnow.curation.recipe import load_recipe

    loaded = load_recipe(recipe)
    steps = {}
    for name in FILTERS:
        config = loaded.config_of(name)
        spec = FILTER_STEPS[name]
        steps[name] = spec.build(config if config is not None else spec.config_type())
    return steps


def run_winnow(pages: Sequence[Page], steps: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per page and filter: keep, reason, signals (and c4's cleaned text), plus the chain's outcome."""
    from winnow.curation.types import Document

    results = []
    for page in pages:
        doc = Document(page.text, "", "en", 1.0)
        entry: dict[str, Any] = {"id": page.id}
        for name in FILTERS:
            result = steps[name](doc)
            keep = result.reason is None
            record = {"keep": keep, "reason": result.reason, "signals": dict(result.signals)}
            if name == "c4":
                record["text"] = (result.text if result.text is not None else page.text) if keep else None
            entry[name] = record
        current = doc
        chain: dict[str, Any] = {"keep": True, "stage": None, "reason": None, "text": None}
        for name in FILTERS:
            result = steps[name](current)
            if result.reason is not None:
                chain = {"keep": False, "stage": name, "reason": result.reason, "text": None}
                break
            if result.text is not None:
                current = Document(result.text, "", "en", 1.0)
        else:
            chain["text"] = current.text
        entry["chain"] = chain
        results.append(entry)
    return results


# ---------------------------------------------------------------------------
# Comparison


def values_equal(a: Any, b: Any) -> bool:
    """Equal signal values: NaN/None alike, floats to REL_TOL, everything else exactly."""
    a_missing = a is None or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or (isinstance(b, float) and math.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=1e-12)
    return a == b


def signal_differences(winnow: Mapping[str, Any], reference: Mapping[str, Any]) -> list[str]:
    """Names of the reference's signals that Winnow's step gives another value."""
    return [name for name, value in reference.items() if not values_equal(winnow.get(name), value)]


def same_text(a: str | None, b: str | None) -> bool:
    """Equal texts, whitespace aside."""
    return a is not None and b is not None and a.split() == b.split()


@dataclass
class Tally:
    pages: int = 0
    agree: int = 0
    winnow_keeps_only: int = 0
    reference_keeps_only: int = 0
    same_reason: int = 0
    signal_mismatch_pages: int = 0
    text_compared: int = 0
    text_equal: int = 0

    @property
    def agreement(self) -> float:
        return self.agree / self.pages if self.pages else 1.0


def compare(winnow: Sequence[Mapping[str, Any]], reference: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per filter and for the chain: a Tally, and the ids of the pages that disagree."""
    tallies = {name: Tally() for name in (*FILTERS, "chain")}
    disagreements: dict[str, list[str]] = {name: [] for name in tallies}
    signal_mismatches: dict[str, list[tuple[str, list[str]]]] = {name: [] for name in FILTERS}
    for ours, theirs in zip(winnow, reference, strict=True):
        assert ours["id"] == theirs["id"]
        for name in tallies:
            tally = tallies[name]
            a, b = ours[name], theirs[name]
            tally.pages += 1
            if a["keep"] == b["keep"]:
                tally.agree += 1
                tally.same_reason += a["keep"] or REASONS.get(a["reason"]) == b["reason"]
            else:
                disagreements[name].append(ours["id"])
                if a["keep"]:
                    tally.winnow_keeps_only += 1
                else:
                    tally.reference_keeps_only += 1
            if name in ("c4", "chain") and a["keep"] and b["keep"]:
                tally.text_compared += 1
                tally.text_equal += same_text(a["text"], b["text"])
            if name in FILTERS:
                diffs = signal_differences(a["signals"], b["signals"])
                if diffs:
                    tally.signal_mismatch_pages += 1
                    signal_mismatches[name].append((ours["id"], diffs))
    return {"tallies": tallies, "disagreements": disagreements, "signal_mismatches": signal_mismatches}


def format_table(tallies: Mapping[str, Tally]) -> str:
    """The agreement table as Markdown."""
    rows = [
        "| filter | pages | agreement | Winnow keeps, DataTrove drops | Winnow drops, DataTrove keeps "
        "| same reason (both keep, or both drop by the same rule) | pages with a differing signal | same cleaned text where both keep |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, t in tallies.items():
        label = "all four in a row" if name == "chain" else name
        text = f"{t.text_equal}/{t.text_compared}" if name in ("c4", "chain") else "-"
        signals = "-" if name == "chain" else str(t.signal_mismatch_pages)
        rows.append(
            f"| {label} | {t.pages} | {100 * t.agreement:.2f}% | {t.winnow_keeps_only} | {t.reference_keeps_only} "
            f"| {t.same_reason}/{t.agree} | {signals} | {text} |"
        )
    return "\n".join(rows)


# ---------------------------------------------------------------------------
# The pages


def _truth_texts() -> Iterator[Page]:
    for path in sorted((SHARED_DATA / "warc-extra").glob("*.truth.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                if row.get("text", "").strip():
                    yield Page(f"{path.name.split('.')[0]}/{row['id']}", row["text"])
    truth = SHARED_DATA / "extraction" / "article-extraction-benchmark" / "ground-truth.json"
    if truth.is_file():
        for key, row in sorted(json.loads(truth.read_text(encoding="utf-8")).items()):
            if (row.get("articleBody") or "").strip():
                yield Page(f"article/{key}", row["articleBody"])


def _warc_texts() -> Iterator[Page]:
    """trafilatura's text (favor_precision, no comments) of each HTML response in ../shared/data/warc."""
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    for path in sorted((SHARED_DATA / "warc").glob("*.warc.gz")):
        if path.name.endswith((".wet.gz", ".wat.gz")):
            continue
        try:
            with path.open("rb") as handle:
                for index, record in enumerate(ArchiveIterator(handle, arc2warc=True)):
                    if record.rec_type != "response" or not record.http_headers:
                        continue
                    if "html" not in (record.http_headers.get_header("Content-Type") or "").lower():
                        continue
                    html = record.content_stream().read()
                    text = trafilatura.extract(html, favor_precision=True, include_comments=False)
                    if text and text.strip():
                        yield Page(f"warc/{path.name}/{index}", text)
        except Exception as exc:  # noqa: BLE001 - a clipped test file ends its own pages, not the corpus
            print(f"note: stopped reading {path.name}: {type(exc).__name__}", file=sys.stderr)


def english_pages(limit: int | None = None) -> list[Page]:
    """Every English page of ../shared/data (see the module docstring), in a fixed order."""
    from winnow.curation.langid import LanguageConfig, LanguageIdentifier, decide_language

    config = LanguageConfig(keep=("en",), min_score=0.65)
    identifier = LanguageIdentifier(config)
    pages = []
    for page in [*_truth_texts(), *_warc_texts()]:
        language, score = identifier.predict(page.text)
        if decide_language(config, {"language": language, "language_score": score}) is None:
            pages.append(page)
            if limit is not None and len(pages) >= limit:
                break
    return pages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", action="store_true", help=f"build {REFERENCE_VENV} and exit")
    parser.add_argument("--limit", type=int, default=None, help="only the first N English pages")
    parser.add_argument("--show-diffs", type=int, default=0, help="list up to N disagreeing pages per filter")
    parser.add_argument("--json", type=Path, default=None, help="also write the tallies and disagreements here")
    parser.add_argument(
        "--reference-cache", type=Path, default=REPO / ".bench" / "filter-parity-reference.json",
        help="reuse DataTrove's results for the same pages from this file (git-ignored by default)",
    )
    args = parser.parse_args(argv)
    if args.setup:
        setup_reference_venv()
        return 0
    why = reference_available()
    if why:
        raise SystemExit(why)
    if not SHARED_DATA.is_dir():
        raise SystemExit(f"no test data at {SHARED_DATA}")
    pages = english_pages(args.limit)
    winnow = run_winnow(pages, winnow_steps())
    versions, reference = run_reference(pages, args.reference_cache)
    outcome = compare(winnow, reference)
    print(f"{len(pages)} English pages; reference: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(format_table(outcome["tallies"]))
    for name in outcome["disagreements"]:
        for page_id in outcome["disagreements"][name][: args.show_diffs]:
            ours = next(r for r in winnow if r["id"] == page_id)[name]
            theirs = next(r for r in reference if r["id"] == page_id)[name]
            print(f"  {name} {page_id}: winnow {ours['reason']} / datatrove {theirs['reason']}")
        for page_id, diffs in outcome["signal_mismatches"].get(name, [])[: args.show_diffs]:
            print(f"  {name} {page_id}: signals differ: {diffs}")
    if args.json:
        args.json.write_text(json.dumps({
            "pages": len(pages), "versions": versions,
            "tallies": {k: vars(v) for k, v in outcome["tallies"].items()},
            "disagreements": outcome["disagreements"],
            "signal_mismatches": outcome["signal_mismatches"],
        }, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
