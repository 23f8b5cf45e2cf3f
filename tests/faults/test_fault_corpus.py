"""The curation pipeline on the fault corpus (tests/faults/corpus.py).

Cases are grouped into a few pipeline runs to keep CI time low: one run over
all the small files (with a hostile extractor that hangs, segfaults or raises
on marked pages), one over the slow-to-extract pages on the multi-processing
runner, and one per heavy case in a subprocess whose peak memory we measure.
Each run must finish, balance its accounting, and do exactly what every case
expects for its files.
"""
from __future__ import annotations

import functools
import json
import resource
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.faults import corpus
from tests.faults.outcomes import compare, read_outcomes, read_stats, summarize
from tests.cpu_load import HANG_GUARD_S

REPO_ROOT = Path(__file__).resolve().parents[2]
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
MULTI_PROCESSING = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
# Peak resident memory allowed for a whole pipeline process reading a heavy case.
MAX_HEAVY_RSS_BYTES = 1536 * 1024 * 1024
# Disk the heavy cases need in the temporary folder (the 200 MB record is written out).
HEAVY_DISK_BYTES = 400 * 1024 * 1024


def _run(inputs: Path, output: Path, beam_args: list[str]) -> dict:
    from winnow.pipelines.run_curate import run_curate

    # Every fault file is given as a web archive, whatever its name: the corpus tests broken archives.
    stats = run_curate(
        [str(inputs / "*")], str(output), recipe="extract", beam_args=beam_args, overwrite=True, input_format="warc"
    )
    assert stats is not None, "the curate job did not finish"
    return stats


def _check_run(cases: list[corpus.FaultCase], output: Path, stats: dict) -> None:
    assert stats["accounting"]["ok"], stats["accounting"]
    assert stats["accounting"]["unaccounted"] == 0
    outcomes = read_outcomes(output)
    assert len(outcomes) == stats["records_in"], "every record read appears in exactly one output table"
    problems = [p for case in cases for p in compare(case, outcomes)]
    assert not problems, "\n".join(p[:400] for p in problems)
    expected_rows = sum(len(case.expectations) for case in cases)
    assert stats["records_in"] == expected_rows


@pytest.fixture
def hostile_extractor(monkeypatch):
    """Make the pipeline's Extractor use `fakes.hostile` (in-process runner only)."""
    from winnow.curation.extract import Extractor
    from tests.faults.fakes import hostile
    import winnow.curation.steps as steps

    monkeypatch.setattr(steps, "Extractor", functools.partial(Extractor, extract_fn=hostile))


def test_light_fault_cases(tmp_path, hostile_extractor):
    cases = corpus.build_cases(tmp_path / "in", corpus.LIGHT_CASES)
    stats = _run(tmp_path / "in", tmp_path / "out", IN_MEMORY)
    _check_run(cases, tmp_path / "out", stats)
    # Sanity of the grouping itself: every kind of outcome occurs in this run.
    table = summarize(cases, read_outcomes(tmp_path / "out"))
    assert sum(t.get("kept", 0) for t in table.values()) > 0
    assert stats["errors_by_stage"]["read"], "read failures are reported by type"
    assert stats["rejected"]["extract"]["extraction_timeout"] == 1
    assert stats["rejected"]["extract"]["extraction_crashed"] == 2


def test_documents_from_hostile_text_are_clean(tmp_path):
    """NULs, lone surrogates and bad bytes never reach documents/ (they break Parquet and tokenizers)."""
    cases = corpus.build_cases(tmp_path / "in", [corpus.case_bad_characters, corpus.case_lying_charset])
    _run(tmp_path / "in", tmp_path / "out", IN_MEMORY)
    kept = [o for o in read_outcomes(tmp_path / "out") if o.outcome == corpus.OUTCOME_KEPT]
    assert len(kept) == sum(1 for c in cases for e in c.expectations if e.outcome == corpus.OUTCOME_KEPT)
    for doc in kept:
        assert "\x00" not in doc.text
        doc.text.encode("utf-8")  # raises on a lone surrogate
        if "lying_charset" in doc.url:
            assert "\ufffd" not in doc.text, f"{doc.url}: the lying header was believed"
    by_url = {doc.url: doc.text for doc in kept}
    # HTML5 maps references to surrogates, NUL and beyond U+10FFFF to U+FFFD (the parser does, not us).
    assert "gran\ufffdite" in by_url[corpus.page_url("bad_characters", 3)]
    assert "The harbour town repaired" in by_url[corpus.page_url("bad_characters", 0)]


@pytest.mark.slow
def test_slow_to_extract_pages_on_multiprocessing_runner(tmp_path):
    cases = corpus.build_cases(tmp_path / "in", corpus.MEDIUM_CASES)
    stats = _run(tmp_path / "in", tmp_path / "out", MULTI_PROCESSING)
    _check_run(cases, tmp_path / "out", stats)


_HEAVY_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from winnow.pipelines.run_curate import run_curate

    def main():
        stats = run_curate([sys.argv[1]], sys.argv[2], recipe="extract", overwrite=True, input_format="warc",
                           beam_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print("RESULT " + json.dumps({"ok": stats is not None, "peak_rss_bytes": peak}))

    if __name__ == "__main__":
        main()
    """
)


def _run_heavy(tmp_path: Path, factory) -> tuple[corpus.FaultCase, dict, int]:
    """Build one heavy case and curate it in a fresh process; returns (case, stats, peak RSS bytes)."""
    if shutil.disk_usage(tmp_path).free < HEAVY_DISK_BYTES:
        pytest.skip(f"needs {HEAVY_DISK_BYTES // 2**20} MB free in {tmp_path} for the heavy fault case")
    (case,) = corpus.build_cases(tmp_path / "in", [factory])
    script = tmp_path / "run_heavy.py"
    script.write_text(_HEAVY_SCRIPT)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "in" / "*"), str(tmp_path / "out")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=HANG_GUARD_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result["ok"], "the heavy curate job did not finish"
    # RUSAGE_CHILDREN is the largest child so far; only meaningful as a bound when it grew.
    peak = max(result["peak_rss_bytes"], children_peak if children_peak > before else 0)
    stats = read_stats(tmp_path / "out")
    _check_run([case], tmp_path / "out", stats)
    for path in case.paths:
        path.unlink()  # free the disk before the next heavy case
    return case, stats, peak


@pytest.mark.slow
def test_200_mb_record_is_rejected_with_bounded_memory(tmp_path):
    case, stats, peak = _run_heavy(tmp_path, corpus.case_huge_record)
    assert stats["rejected"]["triage"]["too_large"] == 1
    assert peak < MAX_HEAVY_RSS_BYTES, f"{case.name}: peak RSS {peak / 2**20:.0f} MiB"


@pytest.mark.slow
def test_gzip_bomb_is_rejected_with_bounded_memory(tmp_path):
    case, stats, peak = _run_heavy(tmp_path, corpus.case_gzip_bomb)
    assert stats["rejected"]["triage"]["too_large"] == 1
    assert peak < MAX_HEAVY_RSS_BYTES, f"{case.name}: peak RSS {peak / 2**20:.0f} MiB"
