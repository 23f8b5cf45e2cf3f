"""Import path and folder agree: `winnow.curation` is winnow/curation, a link to ../curation.

Static tools (type checkers, IDEs, import graphs) resolve imports by path, so
these tests pin the links, what packaging discovers through them, and that
mypy really follows `winnow.curation.types` to its source.
"""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cpu_load import HANG_GUARD_S

REPO = Path(__file__).resolve().parents[1]
LINKED = ("core", "curation", "pipelines", "training", "schemas", "recipes")


@pytest.mark.parametrize("name", LINKED)
def test_each_top_level_folder_is_linked_under_winnow(name: str):
    link = REPO / "winnow" / name
    assert link.is_symlink(), f"{link} must be a symlink to ../{name}"
    assert os.readlink(link) == f"../{name}", "relative, so the link works in any clone or container"
    assert link.resolve() == (REPO / name).resolve()
    assert (REPO / name).is_dir() and not (REPO / name).is_symlink(), "the real folder stays at the top"


@pytest.mark.parametrize("name", LINKED)
def test_the_imported_module_is_the_top_level_folder(name: str):
    module = importlib.import_module(f"winnow.{name}")
    assert Path(module.__file__).resolve() == (REPO / name / "__init__.py").resolve()


def test_packaging_discovers_every_package_once_through_the_links():
    from setuptools import find_packages

    found = find_packages(str(REPO), include=["winnow", "winnow.*"])
    assert len(found) == len(set(found))
    for name in LINKED:
        assert f"winnow.{name}" in found
        for sub in find_packages(str(REPO / name)):
            assert f"winnow.{name}.{sub}" in found
    # Nothing outside winnow/ is a package of the distribution (tests, benchmarks, the real folders by their own names).
    assert all(p == "winnow" or p.startswith("winnow.") for p in found)


def test_mypy_follows_winnow_curation_to_its_source(tmp_path: Path):
    pytest.importorskip("mypy", reason="mypy is not installed (it comes with the dev extra)")
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from winnow.curation.types import StepResult\n"
        "from winnow.summaries import curation_funnel\n"
        "reveal_type(StepResult)\n"
        "wrong: int = curation_funnel({}, 'stats.json')\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports",
         "--cache-dir", str(tmp_path / "cache"), str(probe)],
        cwd=REPO, capture_output=True, text=True, timeout=HANG_GUARD_S,
    )
    out = result.stdout + result.stderr
    # Resolved, not Any: the checker read curation/types.py through the link.
    assert 'Revealed type is "def (signals:' in out or "winnow.curation.types.StepResult" in out, out
    assert 'expression has type "list[FunnelStage]", variable has type "int"' in out, out
