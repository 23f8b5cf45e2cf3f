"""The same archives give the same curated tables on a quiet machine and with a
CPU-bound process on every core (issue 25).

Extraction is bounded by the CPU time of the extraction process, not by
wall-clock time (curation/extract_pool.py), so a page is kept or rejected
alike however busy the machine is. Tables are compared row by row, sorted by
id: shard file names may differ between runs, the rows and values may not.
"""
from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.cpu_load import cpu_hogs
from winnow.demo.sample_warc import SampleSpec, write_sample_warc

IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
# Far below and far above the 0.3 CPU-second bound of HEAVY_RECIPE, so that no page
# sits near the bound, where the small variation of CPU time itself could tip it.
LIGHT_SPIN_S, HEAVY_SPIN_S = 0.01, 1.5
HEAVY_RECIPE = """\
name: cpu-bound
steps:
  - extract: {timeout_s: 0.3}
  - language: {keep: null, min_score: 0.0}
"""


def read_tables(output: Path) -> dict[str, list[dict]]:
    """Every Parquet table under `output`, its rows sorted by id (by value where there is none)."""
    tables: dict[str, list[dict]] = {}
    for folder in sorted(p for p in output.iterdir() if p.is_dir()):
        files = sorted(folder.rglob("*.parquet"))
        if not files:
            continue
        rows = [row for f in files for row in pq.read_table(f).to_pylist()]
        tables[folder.name] = sorted(rows, key=lambda r: (str(r.get("id")), repr(sorted(r.items()))))
    return tables


def curate_cli(warc: Path, output: Path, recipe: str) -> None:
    cmd = [sys.executable, "-m", "winnow.cli", "curate", "--input", str(warc), "--output", str(output),
           "--recipe", recipe, *IN_MEMORY]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_winnow_curate_gives_the_same_tables_alone_and_with_a_cpu_hog_per_core(tmp_path):
    warc = tmp_path / "sample.warc.gz"
    write_sample_warc(warc, SampleSpec(pages=30, seed=7))
    curate_cli(warc, tmp_path / "alone", "fineweb")
    with cpu_hogs():
        curate_cli(warc, tmp_path / "loaded", "fineweb")
    alone, loaded = read_tables(tmp_path / "alone"), read_tables(tmp_path / "loaded")
    assert alone.get("documents"), "the sample must keep some documents, or the comparison proves little"
    assert alone.keys() == loaded.keys()
    for name in alone:
        assert loaded[name] == alone[name], f"table {name} differs under load"


@pytest.fixture
def spinning_extractor(monkeypatch):
    """The pipeline's Extractor spins the CPU for the seconds a page asks for (`SPIN=<s>`), then extracts."""
    from tests.curation.extract_fakes import cpu_marked
    from winnow.curation.extract import Extractor
    import winnow.curation.steps as steps

    monkeypatch.setattr(steps, "Extractor", functools.partial(Extractor, extract_fn=cpu_marked))


def _spinning_archive(path: Path) -> list[str]:
    """A WARC whose pages ask for light and heavy CPU work; returns the heavy pages' URLs."""
    from tests.faults.corpus import english_html, http_block, page_url, warc_record

    heavy, records = [], []
    for n in range(6):
        seconds = HEAVY_SPIN_S if n in (1, 4) else LIGHT_SPIN_S
        url = page_url("spin", n)
        records.append(warc_record(url, http_block(english_html(n, extra_body=f"<p>SPIN={seconds}</p>").encode())))
        if seconds == HEAVY_SPIN_S:
            heavy.append(url)
    path.write_bytes(b"".join(records))
    return heavy


@pytest.mark.slow
def test_cpu_bound_rejects_the_same_pages_alone_and_under_load(tmp_path, spinning_extractor):
    from winnow.pipelines.run_curate import run_curate

    warc = tmp_path / "spin.warc"
    heavy = _spinning_archive(warc)
    recipe = tmp_path / "cpu-bound.yaml"
    recipe.write_text(HEAVY_RECIPE)

    def curate(output: Path) -> dict[str, list[dict]]:
        stats = run_curate([str(warc)], str(output), recipe=str(recipe), beam_args=IN_MEMORY, input_format="warc")
        assert stats is not None and stats["accounting"]["ok"], stats
        return read_tables(output)

    alone = curate(tmp_path / "alone")
    with cpu_hogs():
        loaded = curate(tmp_path / "loaded")
    assert loaded == alone
    timeouts = [r for r in alone["rejected"] if r["reason"] == "extraction_timeout"]
    assert sorted(r["url"] for r in timeouts) == sorted(heavy)
    assert {r["detail"] for r in timeouts} == {"extraction ran longer than 0.3 CPU seconds"}
    assert len(alone["documents"]) == 4
