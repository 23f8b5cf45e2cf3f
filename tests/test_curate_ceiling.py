"""benchmarks/curate_ceiling.py: the arithmetic behind its ratios (the runs themselves take minutes)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "curate_ceiling.py"


@pytest.fixture(scope="module")
def ceiling():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("curate_ceiling", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(SCRIPT.parent))


def runs(pages: int, trafilatura: list[float], bare: list[float], winnow: list[float]) -> dict[str, list[dict]]:
    def side(walls):
        return [{"records": pages, "wall_s": wall, "cpu_s": 2 * wall} for wall in walls]

    return {"trafilatura": side(trafilatura), "bare steps": side(bare), "winnow": side(winnow)}


def test_fit_recovers_fixed_and_per_page_costs(ceiling):
    fixed, per_page = ceiling.fit([(1000, 3.0 + 1000 * 0.004), (4000, 3.0 + 4000 * 0.004), (2000, 3.0 + 2000 * 0.004)])
    assert fixed == pytest.approx(3.0) and per_page == pytest.approx(0.004)


def test_report_gives_target_ceiling_and_overhead_ratios_per_size_and_at_the_margin(ceiling, capsys):
    # trafilatura: 1 s + 9 ms a page; bare steps: 1.5 s + 2.5 ms; winnow: 3 s + 3 ms (medians of 3).
    results = {
        1: runs(1000, [9.0, 10.0, 12.0], [4.0, 3.9, 4.2], [6.0, 5.0, 7.0]),
        4: runs(4000, [37.0, 36.0, 37.5], [11.5, 11.4, 11.6], [15.0, 16.0, 14.0]),
    }
    summary = ceiling.report(results, repeats=3)
    small, large = summary["sizes"]
    assert small["pages"] == 1000 and small["winnow_s"] == 6.0 and small["trafilatura_s"] == 10.0
    assert small["target_ratio"] == pytest.approx(10.0 / 6.0)
    assert small["ceiling_ratio"] == pytest.approx(10.0 / 4.0)
    assert large["overhead_ratio"] == pytest.approx(11.5 / 15.0)
    fit = summary["fit"]
    assert fit["winnow"]["fixed_s"] == pytest.approx(3.0) and fit["winnow"]["per_page_ms"] == pytest.approx(3.0)
    assert summary["margin"]["ceiling_ratio"] == pytest.approx(9.0 / 2.5)
    assert summary["margin"]["target_ratio"] == pytest.approx(9.0 / 3.0)
    out = capsys.readouterr().out
    assert "| 1,000 | 10.0 s | 4.0 s | 6.0 s | 1.67x | 2.50x | 0.67x |" in out
    assert "at the margin: winnow / trafilatura 3.00x; ceiling 3.60x; winnow / bare steps 0.83x" in out


def test_one_size_gives_no_fit(ceiling, capsys):
    summary = ceiling.report({1: runs(1000, [10.0], [4.0], [6.0])}, repeats=1)
    assert "fit" not in summary and "margin" not in summary
    assert "at the margin" not in capsys.readouterr().out


def test_the_engine_is_the_recipes_own(ceiling):
    assert ceiling.recipe_engine("fineweb-fast") == "resiliparse"
    assert ceiling.recipe_engine("fineweb") == "trafilatura"
