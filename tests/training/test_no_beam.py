"""The training side must never pull in Apache Beam: a trainer machine need not install it."""
from __future__ import annotations

import subprocess
import sys

from tests.cpu_load import HANG_GUARD_S

CHECK = """
import sys
import winnow.training.parquet_text, winnow.training.tokenizer, winnow.training.tokens, winnow.cli.tokens
from winnow.cli import main
for argv in (["tokenizer", "--help"], ["tokenizer", "train", "--help"], ["tokenize", "--help"], ["tokenize", "merge", "--help"]):
    try:
        main(argv)
    except SystemExit as exit:
        assert exit.code == 0, (argv, exit.code)
loaded = sorted(m for m in sys.modules if m == "apache_beam" or m.startswith("apache_beam."))
print("BEAM_MODULES", len(loaded), loaded[:3])
"""


def test_data_commands_never_import_beam():
    # A fresh interpreter: this test process may have imported Beam for other tests.
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert result.returncode == 0, result.stderr
    assert "usage: winnow tokenize merge" in result.stdout
    assert "BEAM_MODULES 0 []" in result.stdout, result.stdout[-500:]
