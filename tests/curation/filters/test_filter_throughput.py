"""Smoke test of benchmarks/filter_throughput.py on a few real pages (keeps the script from rotting)."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "filter_throughput.py"


def test_benchmark_runs_on_three_pages(shared_data, tmp_path, capsys):
    pytest.importorskip("trafilatura")
    pages = sorted((shared_data / "extraction" / "article-extraction-benchmark" / "html").glob("*.html.gz"))[:3]
    if not pages:
        pytest.skip("article-extraction-benchmark pages not found in the shared data")
    for page in pages:
        shutil.copy(page, tmp_path / page.name)
    spec = importlib.util.spec_from_file_location("filter_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--data", str(tmp_path), "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "pages: 3" in out
    assert "chain time / extraction time per document" in out
