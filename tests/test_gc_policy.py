"""The `winnow` command line freezes the collector's long-lived objects; in-process callers never see it."""
from __future__ import annotations

import gc
import subprocess
import sys

from winnow import gc_policy
from winnow.cli import main


def test_an_in_process_caller_keeps_its_collector_unfrozen(capsys):
    before = gc.get_freeze_count()
    assert main(["recipes"]) == 0
    gc_policy.freeze_long_lived()  # what a local pipeline run calls
    assert gc.get_freeze_count() == before
    assert "fineweb" in capsys.readouterr().out


def test_the_command_line_freezes_before_it_exits():
    script = (
        "import gc, sys\n"
        "from winnow.cli import main\n"
        "sys.argv = ['winnow', 'recipes']\n"
        "status = main()\n"
        "print('frozen', gc.get_freeze_count(), 'status', status, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    frozen = int(done.stderr.split("frozen ")[1].split()[0])
    assert frozen > 1000 and "status 0" in done.stderr  # every module object the command imported
