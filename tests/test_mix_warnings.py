"""Share warnings of a mix reach the user everywhere the mix does: `winnow run`'s output and the
report's mix section, not only the manifest."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.report.mixture import build_mixture, html_mixture
from winnow.run_state import RunContext
from winnow.runner import stage_mix

BIG_DOC = "word " * 8_000  # one document of about 10,000 estimated tokens


def _corpus(documents: Path) -> None:
    """One large `big` document and one small `small` one: a 2:1 target no cut can reach."""
    documents.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["b", "s"], "text": [BIG_DOC, "a small document of a few words"],
                             "source_name": ["big", "small"]}), documents / "part-00000.parquet")


def _context(run_dir: Path) -> RunContext:
    return RunContext(recipe_spec="r.yaml", run_dir=run_dir, beam_args=[], recipe_name="r", recipe_fingerprint="f",
                      sections={"mix": {"weights": {"big": 2, "small": 1}}}, progress=False)


def test_run_prints_mix_share_warnings_even_without_progress(tmp_path, capsys):
    _corpus(tmp_path / "curate" / "documents")
    outputs, counts = stage_mix(_context(tmp_path))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("warning: [mix] ")]
    assert len(lines) == 2, err
    assert "source 'big': realized share 0.000 is 66.7 points below its target 0.667" in lines[0]
    assert counts["documents"] >= 1


def test_report_mix_section_shows_the_warnings(tmp_path, capsys):
    _corpus(tmp_path / "curate" / "documents")
    stage_mix(_context(tmp_path))
    section = build_mixture(tmp_path)
    assert len(section["warnings"]) == 2
    html = html_mixture(section)
    assert "2 source share(s) more than 1 point(s) off target" in html
    assert "source &#x27;big&#x27;: realized share 0.000" in html or "source 'big': realized share 0.000" in html


def test_report_mix_section_without_warnings_has_no_warning_block(tmp_path):
    documents = tmp_path / "curate" / "documents"
    documents.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["one text here", "two text here"], "source_name": ["x", "y"]}),
                   documents / "part-00000.parquet")
    ctx = _context(tmp_path)
    ctx.sections["mix"] = {"weights": {"x": 1, "y": 1}, "by": "documents"}
    stage_mix(ctx)
    section = build_mixture(tmp_path)
    assert section["warnings"] == [] and "off target" not in html_mixture(section)
