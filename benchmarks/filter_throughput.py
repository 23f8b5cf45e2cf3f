"""Throughput of the FineWeb filter chain against trafilatura extraction, per core.

Extracts the article-extraction-benchmark pages with trafilatura
(favor_precision=True, no comments), timing extraction, then runs the filter
chain (url_filter, gopher_repetition, gopher_quality, c4, fineweb; FineWeb
defaults) over the extracted texts many times, and prints docs/s for each and
the chain's cost as a share of extraction time. Times are this process's CPU
time (time.process_time), so docs/s is per core and other load on the machine
disturbs the numbers less than wall-clock time would.

The Gopher, C4 and FineWeb steps tokenize with spaCy through a per-chunk cache
(curation/filters/reference_units.py), so the chain's cost depends on what the
cache holds. Each timed pass starts from the same cache state, reported as:
"cold" (empty: a worker's first pages), "warm" (after the ground-truth texts
of ../shared/data/warc-extra, other pages than the timed ones: a worker well
into a crawl, which still meets new rare chunks), and "repeat" (after the
timed pages themselves: every chunk known, a lower bound).

    .venv/bin/python benchmarks/filter_throughput.py [--repeats 20] [--data DIR]
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import sys
import time
from pathlib import Path

from winnow.curation.filters import FILTER_STEPS
from winnow.curation.filters import reference_units as ru
from winnow.curation.types import Document

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data" / "extraction" / "article-extraction-benchmark" / "html").resolve()
DEFAULT_BLOCKLISTS = (REPO_ROOT / ".." / "shared" / "data" / "blocklists" / "ut1").resolve()
WARM_TEXTS = (REPO_ROOT / ".." / "shared" / "data" / "warc-extra").resolve()
CHAIN = ("url_filter", "gopher_repetition", "gopher_quality", "c4", "fineweb")


def extract_all(paths: list[Path]) -> tuple[list[str], float]:
    """Extracted texts (empty ones dropped) and the total extraction seconds."""
    import trafilatura

    texts = []
    elapsed = 0.0
    for path in paths:
        html = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        start = time.process_time()
        text = trafilatura.extract(html, favor_precision=True, include_comments=False)
        elapsed += time.process_time() - start
        if text:
            texts.append(text)
    return texts, elapsed


def run_chain(steps: list, docs: list[Document]) -> dict[str, int]:
    """Run the chain as the pipeline would: stop at the first rejection, pass edited text on."""
    outcomes: dict[str, int] = {}
    for doc in docs:
        reason = "kept"
        for step in steps:
            result = step(doc)
            if result.reason is not None:
                reason = result.reason
                break
            if result.text is not None:
                doc = Document(result.text, doc.url, doc.language, doc.language_score)
        outcomes[reason] = outcomes.get(reason, 0) + 1
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of *.html.gz pages")
    parser.add_argument("--repeats", type=int, default=20, help="passes of the filter chain over the texts")
    parser.add_argument(
        "--blocklists", type=Path, default=DEFAULT_BLOCKLISTS, help="UT1 root for url_filter (skipped when absent)"
    )
    args = parser.parse_args(argv)
    paths = sorted(args.data.glob("*.html.gz"))
    if not paths:
        print(f"no *.html.gz pages under {args.data}", file=sys.stderr)
        return 2

    texts, extract_s = extract_all(paths)
    extract_rate = len(paths) / extract_s
    docs = [Document(t, url=f"https://example.org/article/{i}", language="en") for i, t in enumerate(texts)]
    configs = {name: FILTER_STEPS[name].config_type() for name in CHAIN}
    if args.blocklists.is_dir():
        configs["url_filter"] = dataclasses.replace(configs["url_filter"], blocklist_dirs=(str(args.blocklists),))
    steps = [FILTER_STEPS[name].build(configs[name]) for name in CHAIN]

    outcomes = run_chain(steps, docs)  # loads spaCy and the regexes; the verdict counts
    states = {"cold": None}
    warm_docs = _warm_texts()
    if warm_docs:
        ru.set_token_cache(None)
        run_chain(steps, warm_docs)
        states["warm"] = ru.token_cache()
    ru.set_token_cache(None)
    run_chain(steps, docs)
    states["repeat"] = ru.token_cache()

    chain_s = {state: _timed(lambda: run_chain(steps, docs), cache, args.repeats) for state, cache in states.items()}
    main_state = "warm" if "warm" in states else "cold"
    chain_rate = len(docs) / chain_s[main_state]
    per_step = {}
    for name, step in zip(CHAIN, steps):
        per_step[name] = _timed(lambda: [step(doc) for doc in docs], states[main_state], args.repeats) / len(docs)

    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"url_filter blocklists: {configs['url_filter'].blocklist_dirs or 'none'}")
    print(f"pages: {len(paths)}, extracted texts: {len(texts)} (mean {mean_chars:.0f} chars)")
    print(f"extraction (trafilatura, favor_precision): {extract_rate:8.1f} docs/s per core "
          f"({1000 * extract_s / len(paths):.2f} ms/doc)")
    print(f"filter chain ({', '.join(CHAIN)}), {main_state} token cache: {chain_rate:8.1f} docs/s per core "
          f"({1000 * chain_s[main_state] / len(docs):.3f} ms/doc, {args.repeats} repeats)")
    print(f"chain time / extraction time per document: {(chain_s[main_state] / len(docs)) / (extract_s / len(paths)):.1%}")
    print("by token cache state (ms/doc, share of extraction): " + ", ".join(
        f"{state} {1000 * s / len(docs):.3f} ({(s / len(docs)) / (extract_s / len(paths)):.1%})"
        for state, s in chain_s.items()
    ))
    print(f"per step, every step on every text, {main_state} cache (ms/doc): "
          + ", ".join(f"{name} {1000 * t:.3f}" for name, t in per_step.items()))
    print("chain verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1])))
    return 0


def _timed(work, cache: tuple | None, repeats: int) -> float:
    """Mean CPU seconds of `work`, each pass starting from the token cache `cache`."""
    total = 0.0
    for _ in range(repeats):
        ru.set_token_cache(cache)
        start = time.process_time()
        work()
        total += time.process_time() - start
    return total / repeats


def _warm_texts() -> list[Document]:
    """The ground-truth texts of ../shared/data/warc-extra (other pages than the timed ones), if present."""
    docs = []
    for path in sorted(WARM_TEXTS.glob("*.truth.jsonl")):
        with path.open(encoding="utf-8") as handle:  # not splitlines(): texts hold U+2028
            rows = [json.loads(line) for line in handle]
        for row in rows:
            text = row.get("text") or ""
            if text.strip():
                docs.append(Document(text, url="https://example.org/warm", language="en"))
    return docs


if __name__ == "__main__":
    raise SystemExit(main())
