"""Curation throughput: `winnow curate --recipe extract` vs a bare FastWARC + trafilatura loop.

Both sides read the same WARC files with the same number of worker processes,
in one invocation of this script. The bare loop is the limit for this stage:
it reads every record with FastWARC, and extracts every HTTP 200 HTML response
with trafilatura using the same settings as the `extract` recipe, with no
language ID, no accounting and no output. Winnow does all of that plus
language ID, per-document timeouts and writing Parquet.

    .venv/bin/python benchmarks/curate_throughput.py --workers 2 --pages 3000

Prints records/s for each and the ratio (target: winnow >= 0.95x the bare loop).
`--engine` picks the bare loop's extraction engine (default trafilatura, FineWeb's
settings); `--recipe fineweb-fast` runs Winnow with Resiliparse extraction, so

    .venv/bin/python benchmarks/curate_throughput.py --recipe fineweb-fast --source extra

compares fineweb-fast with the bare FastWARC + trafilatura loop (target: >= 3x).
`--bare-steps` adds the recipe's language ID and filters to the bare loop, so
the ratio is the engine's own overhead; `--repeats N` alternates the sides N
times and compares medians; `--source extra` uses the real warc-extra pages.
"""
from __future__ import annotations

import argparse
import functools
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_WARC = (REPO / ".." / "shared" / "data" / "warc").resolve()
SHARED_WARC_EXTRA = (REPO / ".." / "shared" / "data" / "warc-extra").resolve()
ARTICLE_HTML = (REPO / ".." / "shared" / "data" / "extraction" / "article-extraction-benchmark" / "html").resolve()


def _bare_worker(path: str, recipe: str | None = None, engine: str = "trafilatura") -> tuple[int, int]:
    """Read one file with FastWARC and extract every 200 HTML response with `engine` (trafilatura by default).

    With `recipe`, every extracted text then goes through that recipe's other
    steps (language ID and filters, Winnow's own step functions) until one
    rejects it: the same per-document work as `winnow curate`, without the
    engine (no Beam, no accounting, no output).
    """
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from winnow.curation.extract import ExtractConfig, engine_function, engine_kwargs
    from winnow.curation.record_path import run_record
    from winnow.curation.types import TextRecord

    # The engine's own call with the step's settings (for trafilatura: trafilatura.extract(html, **FineWeb settings)).
    extract, kwargs = engine_function(engine), engine_kwargs(ExtractConfig(engine=engine))
    chain = _steps_after_extraction(recipe) if recipe else []
    records = extracted = 0
    for record in ArchiveIterator(path, parse_http=True):
        records += 1
        if record.record_type != WarcRecordType.response or record.http_headers is None:
            continue
        if record.http_headers.status_code != 200 or "html" not in (record.http_content_type or "").lower():
            continue
        html = record.reader.read().decode("utf-8", errors="replace")
        text = extract(html, "", kwargs)
        if text:
            extracted += 1
            if chain:  # the pure record path, as `winnow curate` runs it, without Beam
                run_record(TextRecord(text=text, source=path), chain)
    return records, extracted


@functools.lru_cache(maxsize=None)
def _steps_after_extraction(recipe: str) -> list:
    """Built once per pool worker, as Winnow builds them once per worker (not once per file)."""
    from winnow.curation.recipe import load_recipe
    from winnow.curation.steps import build_steps

    return build_steps([step for step in load_recipe(recipe).steps if step.name != "extract"])


def split_sample(path: Path | list[Path], parts: int, out_dir: Path, copies: int = 1) -> list[Path]:
    """Deal the records of one or more WARCs round-robin into `parts` files so both sides can use every worker.

    `copies` > 1 writes every record that many times; each copy after the first gets its own
    record id and URL (`.../copy-N/...`), so it is a new document to both sides. Its text is not
    new: Winnow's token cache has seen every chunk of it (docs/benchmarks.md says what that saves).
    """
    import uuid

    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    files = [out_dir / f"part-{i}.warc.gz" for i in range(parts)]
    handles = [open(f, "wb") for f in files]
    writers = [WARCWriter(h, gzip=True) for h in handles]
    index = 0
    for copy in range(copies):
        for source in path if isinstance(path, list) else [path]:
            with open(source, "rb") as stream:
                try:
                    for record in ArchiveIterator(stream):
                        if copy:
                            headers = record.rec_headers
                            headers.replace_header("WARC-Record-ID", f"<urn:uuid:{uuid.UUID(int=index)}>")
                            uri = headers.get_header("WARC-Target-URI")
                            if uri and "://" in uri:
                                scheme, rest = uri.split("://", 1)
                                host, _, tail = rest.partition("/")
                                headers.replace_header("WARC-Target-URI", f"{scheme}://{host}/copy-{copy}/{tail}")
                        writers[index % parts].write_record(record)
                        index += 1
                except Exception:
                    pass  # the sample ends with a deliberately truncated record
    for h in handles:
        h.close()
    return files


def article_warcs(copies: int, parts: int, out_dir: Path) -> list[Path]:
    """Real news pages (the article-extraction benchmark's HTML) as response records.

    Sample pages are simple and extract in about a millisecond, which would
    measure Beam's fixed start-up cost instead of the per-page work a crawl
    costs; these pages take tens of milliseconds each, as real pages do.
    """
    import gzip
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = sorted(ARTICLE_HTML.glob("*.html.gz"))
    files = [out_dir / f"articles-{i}.warc.gz" for i in range(parts)]
    handles = [open(f, "wb") for f in files]
    writers = [WARCWriter(h, gzip=True) for h in handles]
    index = 0
    for copy in range(copies):
        for page in pages:
            body = gzip.decompress(page.read_bytes())
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            url = f"https://news.example/{copy}/{page.name[:16]}"
            writer = writers[index % parts]
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers))
            index += 1
    for h in handles:
        h.close()
    return files


class TreeCpu:
    """CPU seconds (user + system) of a process tree, polled while it runs.

    Wall-clock ratios move with other jobs' load; CPU time far less. getrusage
    cannot see everything here: Winnow's extraction children are forked by a
    multiprocessing forkserver that nobody reaps. So every process of the tree is
    read every `interval_s` and its last reading counts; a process loses at most
    its last interval (the processes here live for the whole run). `include_root`
    False counts only the descendants (the bare loop's pool, not this script).
    """

    def __init__(self, root_pid: int, include_root: bool, interval_s: float = 0.1):
        import threading

        import psutil

        self._psutil, self._root = psutil, psutil.Process(root_pid)
        self._include_root, self._interval = include_root, interval_s
        self._seen: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self._interval):
                return

    def sample(self) -> None:
        psutil = self._psutil
        try:
            processes = self._root.children(recursive=True) + ([self._root] if self._include_root else [])
        except psutil.NoSuchProcess:
            return
        for process in processes:
            try:
                times = process.cpu_times()
                self._seen[(process.pid, process.create_time())] = times.user + times.system
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return sum(self._seen.values())


def run_bare(files: list[Path], workers: int, recipe: str | None = None, engine: str = "trafilatura") -> dict:
    started = time.perf_counter()
    cpu = TreeCpu(os.getpid(), include_root=False)
    with mp.get_context("spawn").Pool(workers) as pool:
        results = pool.starmap(_bare_worker, [(str(f), recipe, engine) for f in files], chunksize=1)
        cpu.sample()  # the workers' final reading, before the pool ends them
    cpu_s = cpu.stop()
    wall = time.perf_counter() - started
    records = sum(r for r, _ in results)
    return {"records": records, "extracted": sum(e for _, e in results), "wall_s": wall, "records_per_s": records / wall,
            "cpu_s": cpu_s, "records_per_cpu_s": records / cpu_s}


def run_winnow(files: list[Path], workers: int, out: Path, recipe: str = "extract") -> dict:
    cmd = [
        str(REPO / ".venv" / "bin" / "winnow"), "curate", "--recipe", recipe, "--output", str(out), "--overwrite",
        f"--direct_num_workers={workers}",  # the local default mode (worker threads on <= 4 cores)
    ]
    for f in files:
        cmd += ["--input", str(f)]
    started = time.perf_counter()
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    cpu = TreeCpu(process.pid, include_root=True)
    if process.wait() != 0:
        cpu.stop()
        raise subprocess.CalledProcessError(process.returncode, cmd)
    cpu_s = cpu.stop()
    wall = time.perf_counter() - started
    stats = json.loads((out / "stats.json").read_text())
    records = stats["records_in"]
    return {"records": records, "kept": stats["kept"], "wall_s": wall, "records_per_s": records / wall,
            "cpu_s": cpu_s, "records_per_cpu_s": records / cpu_s, "accounting_ok": stats["accounting"]["ok"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source", choices=("articles", "extra", "sample"), default="articles",
                        help="articles: real news pages from ../shared (default); extra: the 1,378 real pages of "
                             "../shared/data/warc-extra, dealt into equal files; sample: Winnow's generated sample WARC")
    parser.add_argument("--bare-steps", action="store_true",
                        help="the bare loop also runs the recipe's language ID and filters after extraction "
                             "(the same per-document work without the engine: measures the engine's overhead)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run both sides this many times, alternating, and compare the medians (the machine is noisy)")
    parser.add_argument("--copies", type=int, default=6, help="copies of the 181 news pages (articles source)")
    parser.add_argument("--copies-extra", type=int, default=1,
                        help="copies of the warc-extra pages (extra source), each with its own record id and URL")
    parser.add_argument("--pages", type=int, default=3000, help="article pages in the generated sample WARC (sample source)")
    parser.add_argument("--recipe", default="extract", help="Winnow recipe to run (fineweb adds language ID and the FineWeb filters; "
                        "fineweb-fast is fineweb with Resiliparse extraction)")
    from winnow.curation.extract import ENGINES

    parser.add_argument("--engine", default="trafilatura", choices=ENGINES,
                        help="the bare loop's extraction engine; "
                             "default trafilatura with FineWeb's settings, whatever the recipe uses")
    parser.add_argument("--with-shared", action="store_true", help="add ../shared/data/warc/*.warc.gz (WARC files only)")
    args = parser.parse_args()

    from winnow.demo.sample_warc import SampleSpec, write_sample_warc

    work = Path(tempfile.mkdtemp(prefix="winnow-bench-"))
    try:
        if args.source == "articles":
            if not ARTICLE_HTML.is_dir():
                parser.error(f"{ARTICLE_HTML} not found: use --source sample")
            files = article_warcs(args.copies, args.workers * 2, work)
        elif args.source == "extra":
            if not SHARED_WARC_EXTRA.is_dir():
                parser.error(f"{SHARED_WARC_EXTRA} not found: use --source sample")
            files = split_sample(sorted(SHARED_WARC_EXTRA.glob("*.warc.gz")), args.workers * 2, work, args.copies_extra)
        else:
            sample = work / "sample.warc.gz"
            write_sample_warc(sample, SampleSpec(pages=args.pages, seed=7))
            files = split_sample(sample, args.workers * 2, work)
        if args.with_shared and SHARED_WARC.is_dir():
            files += sorted(p for p in SHARED_WARC.glob("*.warc.gz") if "wat" not in p.name and "wet" not in p.name)
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"input: {len(files)} WARC files, {size_mb:.1f} MB compressed; workers: {args.workers}; cpu: {os.cpu_count()} cores; "
              f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        bares, winnows = [], []
        for _ in range(args.repeats):
            bare = run_bare(files, args.workers, args.recipe if args.bare_steps else None, args.engine)
            print(f"bare FastWARC+{args.engine}{'+steps' if args.bare_steps else ''}: {bare['records']:>6} records in {bare['wall_s']:6.1f} s = {bare['records_per_s']:7.1f} records/s; {bare['cpu_s']:6.1f} CPU-s = {bare['records_per_cpu_s']:6.1f} records/CPU-s")
            winnow = run_winnow(files, args.workers, work / "out", args.recipe)
            print(f"winnow curate ({args.recipe:<8}): {winnow['records']:>6} records in {winnow['wall_s']:6.1f} s = {winnow['records_per_s']:7.1f} records/s; {winnow['cpu_s']:6.1f} CPU-s = {winnow['records_per_cpu_s']:6.1f} records/CPU-s"
                  f" (accounting ok: {winnow['accounting_ok']}, kept {winnow['kept']})")
            bares.append(bare)
            winnows.append(winnow)
        bare_s = statistics.median(b["wall_s"] for b in bares)
        winnow_s = statistics.median(w["wall_s"] for w in winnows)
        ratio = bare_s / winnow_s  # same records on both sides: records/s ratio = inverse time ratio
        label = "median " if args.repeats > 1 else ""
        cpu_ratio = statistics.median(b["cpu_s"] for b in bares) / statistics.median(w["cpu_s"] for w in winnows)
        print(f"{label}wall: bare {bare_s:.1f} s, winnow {winnow_s:.1f} s; ratio winnow / bare: {ratio:.2f}x; "
              f"per CPU-second: {cpu_ratio:.2f}x")
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(json.dumps({"bare": bares, "winnow": winnows, "bare_median_s": bare_s, "winnow_median_s": winnow_s, "ratio": ratio, "cpu_ratio": cpu_ratio,
                          "engine": args.engine, "recipe": args.recipe}))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
