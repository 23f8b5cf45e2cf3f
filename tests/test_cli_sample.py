"""`winnow sample-warc`: writes the WARC and labels, prints them, refuses bad output."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from winnow.cli import main
from winnow.demo.sample_warc import SampleSpec, read_labels, write_sample_warc


def test_writes_warc_and_labels_and_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nested" / "demo.warc.gz"
    assert main(["sample-warc", "--output", str(out), "--pages", "12", "--seed", "4"]) == 0
    printed = capsys.readouterr().out.splitlines()
    labels_path = tmp_path / "nested" / "demo.labels.jsonl"
    assert printed[0] == f"warc: {out}"
    assert printed[1] == f"labels: {labels_path}"
    counts = Counter(label["category"] for label in read_labels(labels_path))
    assert printed[2].startswith(f"{sum(counts.values())} records: ")
    for category, n in counts.items():
        assert f"{category} {n}" in printed[2]
    # Same bytes as the library call with the same spec.
    write_sample_warc(tmp_path / "lib.warc.gz", SampleSpec(pages=12, seed=4))
    assert out.read_bytes() == (tmp_path / "lib.warc.gz").read_bytes()


def test_refuses_existing_output_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.warc.gz"
    assert main(["sample-warc", "--output", str(out), "--pages", "3"]) == 0
    before = out.read_bytes()
    assert main(["sample-warc", "--output", str(out), "--pages", "5"]) == 2
    assert "already exist" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["sample-warc", "--output", str(out), "--pages", "5", "--force"]) == 0
    assert out.read_bytes() != before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--output", "{dir}/x.warc"], "must end in .warc.gz"),
        (["--output", "{dir}/x.warc.gz", "--pages", "0"], "pages"),
        (["--output", "{dir}/x.warc.gz", "--seed", "-2"], "seed"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [a.format(dir=tmp_path) for a in argv]
    assert main(["sample-warc", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("winnow sample-warc: error:") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_commands_module_does_not_import_beam_or_torch() -> None:
    # Only winnow.cli.tools is checked: other command modules are other owners' concern.
    code = "import sys, winnow.cli.tools; print(sorted(m for m in ('apache_beam', 'torch') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
