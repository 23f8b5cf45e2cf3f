"""Extraction engines on the shared ground truths: quality (shingle F1) and speed (pages per CPU-second).

Every engine of the `extract` step runs on the same pages, in this process,
one page after another on one core: the article-extraction benchmark (181 news
pages) and the four warc-extra collections with a truth file (CleanEval,
CleanPortalEval, Dragnet's test split, Readability's pages). Quality is the
article-extraction benchmark's metric (`curation.extract.extraction_f1`: 4-token
shingles, precision/recall/F1 per page, averaged over pages); a page the
engine extracts nothing from scores 0. Speed is pages per CPU-second of this
process (`time.process_time`), which other engineers' load on the machine moves
far less than wall-clock time.

    .venv/bin/python benchmarks/extract_engines.py [--engines trafilatura,resiliparse] [--chart docs/img/extract_engines.png]

Pages are decoded as `winnow curate` decodes them (curation.triage.decode_html
with the HTTP charset). Truth pages whose text is empty, and the one CleanEval
URL that names two different pages, are left out (the counts are printed).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "data").resolve()
ARTICLES = SHARED / "extraction" / "article-extraction-benchmark"
WARC_EXTRA = SHARED / "warc-extra"
COLLECTIONS = ("cleaneval", "cleanportaleval", "dragnet", "readability")
ARTICLE_SET = "articles"


@dataclass(frozen=True)
class Page:
    collection: str
    url: str
    html: str
    truth: str


def article_pages() -> list[Page]:
    from winnow.curation.triage import decode_html

    truth = json.loads((ARTICLES / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id, entry in sorted(truth.items()):
        decoded = decode_html(gzip.decompress((ARTICLES / "html" / f"{page_id}.html.gz").read_bytes()), None)
        if decoded is not None and entry["articleBody"].strip():
            pages.append(Page(ARTICLE_SET, entry["url"], decoded[0], entry["articleBody"]))
    return pages


def warc_extra_pages(collection: str) -> tuple[list[Page], int]:
    """(pages with a non-empty truth, pages left out) of one warc-extra collection, matched by URL."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from winnow.curation.triage import charset_param, decode_html

    truths: dict[str, list[str]] = {}
    for line in (WARC_EXTRA / f"{collection}.truth.jsonl").read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        row = json.loads(line)
        truths.setdefault(row["url"], []).append(row["text"])
    pages, left_out, seen = [], 0, set()
    with open(WARC_EXTRA / f"{collection}.warc.gz", "rb") as stream:
        for record in ArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=True):
            url = record.headers.get("WARC-Target-URI", "")
            body = record.reader.read()
            texts = truths.get(url)
            if url in seen or not texts or len(texts) != 1 or not texts[0].strip():
                left_out += 1  # no truth, an empty truth, or a URL naming two pages
                continue
            seen.add(url)
            decoded = decode_html(body, charset_param(record.http_content_type))
            if decoded is None:
                left_out += 1
                continue
            pages.append(Page(collection, url, decoded[0], texts[0]))
    return pages, left_out


def load_pages() -> tuple[list[Page], dict[str, int]]:
    pages, left_out = article_pages(), {}
    for collection in COLLECTIONS:
        found, dropped = warc_extra_pages(collection)
        pages += found
        left_out[collection] = dropped
    return pages, left_out


@dataclass(frozen=True)
class EngineResult:
    engine: str
    pages: int
    cpu_s: float
    precision: float
    recall: float
    f1: float
    f1_by_collection: dict[str, float]

    @property
    def pages_per_cpu_s(self) -> float:
        return self.pages / self.cpu_s


def measure(engine: str, pages: list[Page]) -> EngineResult:
    """Run one engine over every page in this process; CPU time covers the extraction calls only."""
    from winnow.curation.extract import ExtractConfig, engine_function, engine_kwargs, extraction_f1

    config = ExtractConfig(engine=engine, timeout_s=None)
    function, kwargs = engine_function(engine), engine_kwargs(config)
    function(pages[0].html, pages[0].url, kwargs)  # imports and caches before the clock starts
    outputs, cpu = [], 0.0
    for page in pages:
        started = time.process_time()
        try:
            text = function(page.html, page.url, kwargs)
        except Exception:  # noqa: BLE001 - the step rejects such a page; here it scores 0
            text = None
        cpu += time.process_time() - started
        outputs.append(text or "")
    scores = [extraction_f1(text, page.truth) for text, page in zip(outputs, pages)]
    by_collection: dict[str, list[float]] = {}
    for score, page in zip(scores, pages):
        by_collection.setdefault(page.collection, []).append(score[2])
    return EngineResult(
        engine, len(pages), cpu,
        statistics.fmean(s[0] for s in scores), statistics.fmean(s[1] for s in scores), statistics.fmean(s[2] for s in scores),
        {name: statistics.fmean(values) for name, values in by_collection.items()},
    )


def table(results: list[EngineResult], collections: list[str]) -> str:
    head = ["engine", "pages/CPU-s", "precision", "recall", "F1 (all)", *(f"F1 {c}" for c in collections)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r.engine, f"{r.pages_per_cpu_s:.1f}", f"{r.precision:.3f}", f"{r.recall:.3f}", f"{r.f1:.3f}"]
        cells += [f"{r.f1_by_collection.get(c, float('nan')):.3f}" for c in collections]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chart(results: list[EngineResult], path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matplotlib.ticker import ScalarFormatter

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for index, r in enumerate(results):
        color = f"C{index}"
        article_f1 = r.f1_by_collection.get(ARTICLE_SET, r.f1)
        ax.plot([r.pages_per_cpu_s] * 2, [r.f1, article_f1], color=color, linewidth=0.8, alpha=0.5)
        ax.scatter(r.pages_per_cpu_s, r.f1, s=60, color=color)
        ax.scatter(r.pages_per_cpu_s, article_f1, s=60, marker="x", color=color)
        ax.annotate(r.engine, (r.pages_per_cpu_s, r.f1), textcoords="offset points", xytext=(6, -12))
    ax.axhline(0.90, color="red", linestyle="--", linewidth=1)
    ax.scatter([], [], color="grey", label="all truth pages")
    ax.scatter([], [], color="grey", marker="x", label="article benchmark")
    ax.plot([], [], color="red", linestyle="--", linewidth=1, label="F1 target 0.90")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(axis="x", which="both", labelsize=7)
    ax.set_xlabel("pages per CPU-second (one core, log scale)")
    ax.set_ylabel("mean shingle F1")
    ax.set_title("Extraction engines: speed vs quality")
    ax.legend(loc="center right", fontsize=8)
    fig.text(0.01, 0.01, note, fontsize=7, color="grey")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    from winnow.curation.extract import ENGINES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, from {', '.join(ENGINES)}")
    parser.add_argument("--chart", type=Path, help="write a speed/quality PNG here (e.g. docs/img/extract_engines.png)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)}; known: {', '.join(ENGINES)}")
    if not (ARTICLES / "ground-truth.json").is_file() or not WARC_EXTRA.is_dir():
        parser.error(f"the shared ground truths are absent ({ARTICLES}, {WARC_EXTRA})")
    pages, left_out = load_pages()
    counts = {c: sum(p.collection == c for p in pages) for c in (ARTICLE_SET, *COLLECTIONS)}
    load = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average at start "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"pages: {len(pages)} ({', '.join(f'{c} {n}' for c, n in counts.items())}); left out: "
          f"{', '.join(f'{c} {n}' for c, n in left_out.items())}")
    results = []
    for engine in engines:
        result = measure(engine, pages)
        results.append(result)
        print(f"{engine:<17} {result.pages_per_cpu_s:7.1f} pages/CPU-s  P {result.precision:.3f}  R {result.recall:.3f}  "
              f"F1 {result.f1:.3f}  (articles {result.f1_by_collection[ARTICLE_SET]:.3f})", flush=True)
    load = os.getloadavg()
    print(f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(table(results, list(counts)))
    if args.chart:
        chart(results, args.chart, f"{len(pages)} pages, one core, CPU time; load {load[0]:.1f} on {os.cpu_count()} cores")
        print(f"chart: {args.chart}")
    if args.json:
        args.json.write_text(json.dumps([{**r.__dict__, "pages_per_cpu_s": r.pages_per_cpu_s} for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
