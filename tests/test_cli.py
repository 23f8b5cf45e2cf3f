"""The `winnow` command: subcommands, lazy imports, user errors."""
from __future__ import annotations

import subprocess
import sys

from winnow.cli import main


def test_help_lists_every_subcommand(capsys):
    assert main([]) == 2
    text = capsys.readouterr().out
    for command in ("curate", "dedup", "sample-warc", "inspect", "recipes", "tokenizer", "tokenize", "train",
                    "evaluate", "generate", "export", "run", "ablate", "report"):
        assert command in text


def test_training_commands_do_not_import_beam():
    code = (
        "import sys\n"
        "from winnow.cli import main\n"
        "for argv in (['train', '--help'], ['evaluate', '--help'], ['run', '--help'], ['inspect', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'apache_beam' not in sys.modules, 'Beam was imported'\n"
        "assert 'torch' not in sys.modules, 'torch was imported for --help'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_recipes_list_and_show(capsys):
    assert main(["recipes"]) == 0
    listing = capsys.readouterr().out
    assert "fineweb" in listing and "c4" in listing and "gopher" in listing and "extract" in listing
    assert main(["recipes", "show", "fineweb"]) == 0
    assert "gopher_quality" in capsys.readouterr().out
    assert main(["recipes", "show", "nope"]) == 2


def test_curate_user_errors(tmp_path, capsys):
    assert main(["curate", "--input", str(tmp_path / "none-*.warc.gz"), "--output", str(tmp_path / "o")]) == 2
    assert "matches no file" in capsys.readouterr().err
    assert main(["curate", "--input", "x.warc.gz", "--output", str(tmp_path / "o"), "--recipe", "nope"]) == 2
    assert "unknown recipe" in capsys.readouterr().err
