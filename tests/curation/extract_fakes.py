"""Stand-ins for trafilatura used by test_extract.py.

They live in their own light module because the extraction child process
imports them by name: importing the test module would pull pytest and
hypothesis into every restarted child.
"""
from __future__ import annotations

import os
import signal
import time


def spin(seconds: float) -> None:
    """Burn CPU for `seconds` of this process's CPU time (a pathological page does)."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def hang(html: str, url: str, kwargs: dict) -> str | None:
    """Loops on the CPU, as a pathological page does, until the CPU bound ends the process."""
    spin(600)
    return "never"


def sleep_forever(html: str, url: str, kwargs: dict) -> str | None:
    """Wedged without using CPU (blocked or asleep): only the wall-clock backstop ends it."""
    time.sleep(600)
    return "never"


def sleepy(html: str, url: str, kwargs: dict) -> str | None:
    """Takes over a second of wall-clock time but almost no CPU: must not count against the CPU bound."""
    time.sleep(1.5)
    return "slept: " + url


def cpu_marked(html: str, url: str, kwargs: dict) -> str | None:
    """Spins for the CPU seconds a page asks for in a `SPIN=<seconds>` marker, then extracts it."""
    if "SPIN=" in html:
        spin(float(html.split("SPIN=", 1)[1].split("<", 1)[0]))
    import trafilatura

    return trafilatura.extract(html, url=url or None, **kwargs)


def segfault(html: str, url: str, kwargs: dict) -> str | None:
    os.kill(os.getpid(), signal.SIGSEGV)
    return None


def explode(html: str, url: str, kwargs: dict) -> str | None:
    raise MemoryError("simulated")


def pathological(html: str, url: str, kwargs: dict) -> str | None:
    """Loops on pages marked as pathological, extracts the others normally."""
    if "PATHOLOGICAL" in html:
        spin(600)
    import trafilatura

    return trafilatura.extract(html, url=url or None, **kwargs)


def chatty(html: str, url: str, kwargs: dict) -> str | None:
    """Prints to stdout, as careless library code does; must not corrupt the child's protocol."""
    print("debug output from the extractor " * 50)
    return "extracted: " + url


def in_daemon(isolation: str, queue) -> None:
    """Runs in a daemonic multiprocessing process (like a Dask worker under a nanny)."""
    import multiprocessing

    from winnow.curation.extract import ExtractConfig, Extractor
    from winnow.curation.extract_pool import choose_isolation

    results = {"daemon": multiprocessing.current_process().daemon, "chosen": choose_isolation(isolation)}
    with Extractor(ExtractConfig(timeout_s=0.5), extract_fn=pathological, isolation=isolation) as extractor:
        results["isolation"] = extractor.isolation
        results["hang"] = extractor.extract("<html>PATHOLOGICAL</html>")
        results["after"] = extractor.extract(
            "<html><body><article><p>" + "A sentence about rivers and the sea. " * 20 + "</p></article></body></html>"
        )
    with Extractor(ExtractConfig(timeout_s=5.0), extract_fn=segfault, isolation=isolation) as extractor:
        results["crash"] = extractor.extract("<html></html>")
    queue.put(results)


def _after_extraction(action) -> None:
    """In a chain child: make the steps after this extraction run `action` first (the child's
    handler looks `record_path.run_per_document` up on each call, after the extraction)."""
    from winnow.curation import record_path

    if getattr(record_path, "_test_action", None) is None:
        original = record_path.run_per_document

        def patched(state, group, mode):
            action()
            return original(state, group, mode)

        record_path._test_action = action
        record_path.run_per_document = patched


def then_slow_steps(html: str, url: str, kwargs: dict) -> str | None:
    """Extracts at once (the page is its own text); the steps after it then take 4 s of wall-clock time."""
    _after_extraction(lambda: time.sleep(4.0))
    return html


def then_crash_in_steps(html: str, url: str, kwargs: dict) -> str | None:
    """Extracts at once; the process then dies in the steps after extraction."""
    _after_extraction(lambda: os.kill(os.getpid(), signal.SIGSEGV))
    return html
