"""The `winnow` command line freezes the collector's long-lived objects; in-process callers never see it."""
from __future__ import annotations

import gc
import subprocess
import sys

from winnow import gc_policy
from winnow.cli import main


def run_script(script: str) -> subprocess.CompletedProcess:
    """`script` in a fresh interpreter (the collector's state is per process); it must succeed."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_an_in_process_caller_keeps_its_collector_unfrozen(capsys):
    before = gc.get_freeze_count()
    assert main(["recipes"]) == 0
    gc_policy.before_pipeline()  # what a local pipeline run calls
    gc_policy.freeze_long_lived()  # what the command line calls before it exits
    assert gc.get_freeze_count() == before
    assert "fineweb" in capsys.readouterr().out


def test_the_command_line_freezes_before_it_exits():
    script = (
        "import gc, sys\n"
        "from winnow.cli import main\n"
        "sys.argv = ['winnow', 'recipes']\n"
        "status = main()\n"
        "print('frozen', gc.get_freeze_count(), 'status', status, 'enabled', gc.isenabled(), file=sys.stderr)\n"
    )
    done = run_script(script)
    frozen = int(done.stderr.split("frozen ")[1].split()[0])
    assert frozen > 1000 and "status 0" in done.stderr  # every module object the command imported
    assert "enabled True" in done.stderr  # the pause for imports ended


def test_the_pause_for_imports_ends_when_they_fail():
    script = (
        "import gc\n"
        "from winnow import gc_policy\n"
        "gc_policy.command_line()\n"
        "try:\n"
        "    with gc_policy.paused_for_imports():\n"
        "        assert not gc.isenabled()\n"
        "        raise ImportError('no such module')\n"
        "except ImportError:\n"
        "    pass\n"
        "print('enabled', gc.isenabled())\n"
    )
    assert "enabled True" in run_script(script).stdout


def test_an_in_process_caller_is_never_paused():
    with gc_policy.paused_for_imports():
        assert gc.isenabled()


def test_a_later_pipeline_of_the_command_collects_what_the_earlier_one_left():
    """Frozen garbage is never collected: a batched curate or `winnow run` would keep every earlier
    pipeline's leftovers (about 20,000 objects per curate run) for the rest of the process."""
    script = (
        "import gc, weakref\n"
        "from winnow import gc_policy\n"
        "gc_policy.command_line()\n"
        "class Node: pass\n"
        "gc_policy.before_pipeline()\n"
        "a, b = Node(), Node()\n"
        "a.other, b.other = b, a  # a cycle: only the collector frees it\n"
        "alive = weakref.ref(a)\n"
        "gc_policy.freeze_long_lived()  # frozen while in use, as a running pipeline's objects are\n"
        "del a, b\n"
        "gc_policy.before_pipeline()  # the next pipeline\n"
        "print('left', alive() is not None, 'frozen', gc.get_freeze_count() > 0)\n"
    )
    done = run_script(script)
    assert done.stdout.split() == ["left", "False", "frozen", "True"]
