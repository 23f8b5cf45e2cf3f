"""Tests for winnow.curation.extract: bounded trafilatura extraction and the benchmark metric."""
from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from winnow.curation.extract import (
    EXTRACTION_CRASHED,
    EXTRACTION_TIMEOUT,
    HTML_TOO_LARGE,
    NO_MAIN_TEXT,
    STAGE_EXTRACT,
    ExtractConfig,
    Extractor,
    extraction_f1,
    trafilatura_kwargs,
)
from winnow.curation.extract_pool import (
    FORKSERVER, ISOLATION_ENV, SUBPROCESS, WALL_BACKSTOP_MIN_S, choose_isolation, wall_backstop_s,
)
from winnow.curation.extract_worker import function_spec, resolve_function
from winnow.curation.triage import Rejection

from tests.cpu_load import HANG_GUARD_S, cpu_hogs

from .extract_fakes import (
    chatty, cpu_marked, explode, hang, in_daemon, pathological, segfault, sleep_forever, sleepy,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# Both kinds of extraction child must behave the same (extract_pool.py).
ISOLATIONS = [FORKSERVER, SUBPROCESS]

ARTICLE = (
    "<html><head><title>Rivers of the north</title></head><body>"
    "<nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
    "<article><h1>Rivers of the north</h1>"
    + "".join(
        f"<p>Paragraph {i}: the river carries cold water from the mountains to the sea, "
        f"feeding the forests and the towns along its banks during the long summer months.</p>"
        for i in range(8)
    )
    + "</article><footer>Copyright 2024 Example News. All rights reserved.</footer></body></html>"
)


def rejection(result, reason: str) -> Rejection:
    assert isinstance(result, Rejection), result
    assert (result.stage, result.reason) == (STAGE_EXTRACT, reason), result
    return result


@pytest.fixture(scope="module", params=ISOLATIONS)
def child_extractor(request):
    extractor = Extractor(ExtractConfig(timeout_s=5.0), isolation=request.param)
    assert extractor.isolation == request.param
    yield extractor
    extractor.close()


def test_settings_live_in_one_place():
    kwargs = trafilatura_kwargs(ExtractConfig())
    assert kwargs["favor_precision"] is True and kwargs["include_comments"] is False
    assert kwargs["include_tables"] is True and kwargs["output_format"] == "txt"


def test_in_process_and_child_give_the_same_text(child_extractor):
    in_process = Extractor(ExtractConfig(timeout_s=None))
    text = in_process.extract(ARTICLE, url="http://example.com/rivers")
    assert isinstance(text, str)
    assert "Paragraph 7: the river carries cold water" in text
    assert "All rights reserved" not in text
    assert child_extractor.extract(ARTICLE, url="http://example.com/rivers") == text


def test_page_without_main_text_is_rejected(child_extractor):
    rejection(Extractor(ExtractConfig(timeout_s=None)).extract("<html><body></body></html>"), NO_MAIN_TEXT)
    rejection(child_extractor.extract("<html><body></body></html>"), NO_MAIN_TEXT)


def test_min_text_chars_is_applied():
    extractor = Extractor(ExtractConfig(timeout_s=None, min_text_chars=100_000))
    result = rejection(extractor.extract(ARTICLE), NO_MAIN_TEXT)
    assert "100000" in result.detail


def test_large_html_is_rejected_before_parsing():
    extractor = Extractor(ExtractConfig(timeout_s=None, max_html_bytes=1000), extract_fn=hang)
    result = rejection(extractor.extract("<html>" + "é" * 600 + "</html>"), HTML_TOO_LARGE)
    assert "1000" in result.detail


def test_config_is_validated():
    with pytest.raises(ValueError, match="timeout_s"):
        ExtractConfig(timeout_s=0)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_timeout_kills_the_child_and_the_next_page_works(isolation):
    with Extractor(ExtractConfig(timeout_s=0.5), extract_fn=pathological, isolation=isolation) as extractor:
        result = rejection(extractor.extract("<html>PATHOLOGICAL</html>"), EXTRACTION_TIMEOUT)
        # The detail names the configured bound only, so the row is the same on any machine.
        assert result.detail == "extraction ran longer than 0.5 CPU seconds"
        assert isinstance(extractor.extract(ARTICLE), str)
        assert extractor.restarts == 1


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_every_timeout_replaces_the_child(isolation):
    with Extractor(ExtractConfig(timeout_s=0.2), extract_fn=hang, isolation=isolation) as extractor:
        for _ in range(5):
            assert "CPU seconds" in rejection(extractor.extract(ARTICLE), EXTRACTION_TIMEOUT).detail
        assert extractor.restarts == 5


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_wall_clock_time_without_cpu_does_not_count_against_the_bound(isolation):
    # 1.5 s asleep is three times the bound in wall-clock time but almost no CPU time:
    # what a page costs on a busy machine, where it waits for a core, looks like this.
    with Extractor(ExtractConfig(timeout_s=0.5), extract_fn=sleepy, isolation=isolation) as extractor:
        assert extractor.extract(ARTICLE, url="http://a.example/slow") == "slept: http://a.example/slow"
        assert extractor.restarts == 0


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_wedged_child_is_ended_by_the_wall_clock_backstop(isolation):
    config = ExtractConfig(timeout_s=0.5)
    with Extractor(config, extract_fn=sleep_forever, isolation=isolation, wall_backstop_s=1.0) as extractor:
        result = rejection(extractor.extract(ARTICLE), EXTRACTION_TIMEOUT)
        assert "1.0 s wall-clock backstop" in result.detail and "wedged" in result.detail
        assert extractor.restarts == 1
    with Extractor(config, extract_fn=chatty, isolation=isolation, wall_backstop_s=1.0) as extractor:
        assert extractor.extract(ARTICLE, url="u") == "extracted: u", "the replacement child works"


def test_wall_clock_backstop_is_generous_by_default():
    assert wall_backstop_s(1.0) == WALL_BACKSTOP_MIN_S >= 30
    assert wall_backstop_s(10.0) == 300
    assert Extractor(ExtractConfig(timeout_s=2.0), extract_fn=chatty).wall_backstop_s == 60
    assert Extractor(ExtractConfig(timeout_s=None)).wall_backstop_s is None


def _spin_pages() -> list[str]:
    # Pages far below the 0.5 CPU-second bound and far above it.
    return [ARTICLE.replace("<nav>", f"<nav>SPIN={seconds}<br>") for seconds in (0.05, 3, 0.02, 0.1, 2, 0.05)]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_same_pages_are_rejected_alone_and_with_a_cpu_hog_per_core(isolation):
    def run() -> list:
        with Extractor(ExtractConfig(timeout_s=0.5), extract_fn=cpu_marked, isolation=isolation) as extractor:
            return [extractor.extract(page) for page in _spin_pages()]

    alone = run()
    with cpu_hogs():
        loaded = run()
    assert loaded == alone
    assert [isinstance(r, Rejection) for r in alone] == [False, True, False, False, True, False]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_crashed_child_is_reported_and_replaced(isolation):
    with Extractor(ExtractConfig(timeout_s=5.0), extract_fn=segfault, isolation=isolation) as extractor:
        result = rejection(extractor.extract(ARTICLE), EXTRACTION_CRASHED)
        assert "died (killed by SIGSEGV)" in result.detail
        # The replacement child crashes too, and is replaced again: no call ever raises.
        rejection(extractor.extract(ARTICLE), EXTRACTION_CRASHED)
        assert extractor.restarts == 2


@pytest.mark.parametrize("timeout_s,isolation", [(None, None), (5.0, FORKSERVER), (5.0, SUBPROCESS)])
def test_exception_in_extraction_is_a_crash_rejection(timeout_s, isolation):
    with Extractor(ExtractConfig(timeout_s=timeout_s), extract_fn=explode, isolation=isolation or "auto") as extractor:
        result = rejection(extractor.extract(ARTICLE), EXTRACTION_CRASHED)
        assert "MemoryError" in result.detail


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_close_then_reuse(isolation):
    extractor = Extractor(ExtractConfig(timeout_s=5.0), isolation=isolation)
    extractor.close()
    assert isinstance(extractor.extract(ARTICLE), str)
    extractor.close()


def test_non_utf8_text_survives_the_pipe(child_extractor):
    page = ARTICLE.replace("cold water", "eau froide 水 🌊")
    assert "eau froide 水 🌊" in child_extractor.extract(page)


def test_lone_surrogates_become_replacement_characters_on_both_paths(child_extractor):
    # A surrogate cannot cross the pipe as UTF-8, and lxml stops parsing at one; either way
    # the rest of the page must survive, and both paths must agree.
    page = ARTICLE.replace("cold water", "cold \ud800 water")
    in_process = Extractor(ExtractConfig(timeout_s=None)).extract(page)
    assert isinstance(in_process, str) and "Paragraph 7: the river carries cold \ufffd water" in in_process
    assert child_extractor.extract(page) == in_process


# ----------------------------------------------------------------------------- isolation


def test_isolation_is_chosen_automatically_and_can_be_forced(monkeypatch):
    monkeypatch.delenv(ISOLATION_ENV, raising=False)
    assert choose_isolation() == FORKSERVER
    monkeypatch.setenv(ISOLATION_ENV, "subprocess")
    assert choose_isolation() == SUBPROCESS
    assert choose_isolation(FORKSERVER) == FORKSERVER  # an explicit choice beats the environment
    monkeypatch.setenv(ISOLATION_ENV, "threads")
    with pytest.raises(ValueError, match=f"threads.*{ISOLATION_ENV}"):
        choose_isolation()


def test_daemonic_process_gets_subprocess_isolation_with_hang_and_crash_protection():
    # A Dask worker under a nanny is a daemonic process: it may not start a
    # multiprocessing child, even when forkserver isolation is asked for.
    ctx = multiprocessing.get_context("spawn")
    for requested in ("auto", FORKSERVER):
        queue = ctx.Queue()
        daemon = ctx.Process(target=in_daemon, args=(requested, queue), daemon=True)
        daemon.start()
        results = queue.get(timeout=HANG_GUARD_S)
        daemon.join(HANG_GUARD_S)
        assert daemon.exitcode == 0
        assert results["daemon"] is True and results["chosen"] == SUBPROCESS == results["isolation"]
        rejection(results["hang"], EXTRACTION_TIMEOUT)
        assert isinstance(results["after"], str) and "rivers and the sea" in results["after"]
        assert "killed by SIGSEGV" in rejection(results["crash"], EXTRACTION_CRASHED).detail


def test_stdout_noise_from_the_extractor_does_not_break_the_subprocess_protocol(capfd):
    with Extractor(ExtractConfig(timeout_s=5.0), extract_fn=chatty, isolation=SUBPROCESS) as extractor:
        assert extractor.extract(ARTICLE, url="http://a.example/1") == "extracted: http://a.example/1"
        assert extractor.extract(ARTICLE, url="http://a.example/2") == "extracted: http://a.example/2"
    assert "debug output from the extractor" in capfd.readouterr().err


def test_extract_fn_must_be_importable_by_name():
    assert resolve_function(function_spec(hang)) is hang
    with pytest.raises(ValueError, match="module-level"):
        function_spec(lambda html, url, kwargs: html)


def test_a_child_that_cannot_start_is_a_crash_rejection_not_an_exception(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with Extractor(ExtractConfig(timeout_s=5.0), isolation=SUBPROCESS) as extractor:
        for _ in range(2):
            result = rejection(extractor.extract(ARTICLE), EXTRACTION_CRASHED)
            assert "cannot start the extraction process '/nonexistent/python'" in result.detail
    monkeypatch.undo()
    assert isinstance(extractor.extract(ARTICLE), str), "a later page retries and works"
    extractor.close()


def test_subprocess_child_exits_when_its_parent_is_killed_mid_page(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from winnow.curation.extract import ExtractConfig, Extractor
        from tests.curation.extract_fakes import sleep_forever
        extractor = Extractor(ExtractConfig(timeout_s=600), extract_fn=sleep_forever, isolation="subprocess")
        print(extractor._child.process.pid, flush=True)
        extractor.extract("<html>hang</html>")
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    time.sleep(1.0)  # the child is inside the hanging page now
    parent.kill()
    parent.wait(HANG_GUARD_S)
    deadline = time.monotonic() + HANG_GUARD_S  # the loop ends as soon as the child is gone
    while time.monotonic() < deadline and _alive(child_pid):
        time.sleep(0.2)
    assert not _alive(child_pid), "an orphaned extraction process must exit by itself"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# ----------------------------------------------------------------------------- metric


def test_f1_identical_and_disjoint():
    text = "one two three four five six"
    assert extraction_f1(text, text) == (1.0, 1.0, 1.0)
    assert extraction_f1(text, "alpha beta gamma delta epsilon") == (0.0, 0.0, 0.0)
    assert extraction_f1("", "") == (1.0, 1.0, 1.0)
    assert extraction_f1("", text) == (0.0, 0.0, 0.0)


def test_f1_partial_overlap_by_hand():
    # predicted shingles: (a b c d), (b c d e); truth: (a b c d)
    precision, recall, f1 = extraction_f1("a b c d e", "a  b\nc d")
    assert (precision, recall) == (0.5, 1.0)
    assert f1 == pytest.approx(2 / 3)


def test_f1_counts_repeated_shingles_as_a_multiset():
    precision, recall, _ = extraction_f1("a b c d a b c d", "a b c d")
    # 5 predicted shingles, 2 of which are "a b c d" but the truth has it once.
    assert precision == pytest.approx(1 / 5)
    assert recall == 1.0


@pytest.mark.slow
def test_article_extraction_benchmark_f1(shared_data):
    root = shared_data / "extraction" / "article-extraction-benchmark"
    if not (root / "ground-truth.json").exists():
        pytest.skip(f"{root} is absent")
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    # All 181 pages, through the child-process path that the pipeline uses,
    # with the default CPU-time bound (which machine load does not move).
    with Extractor(ExtractConfig()) as extractor:
        scores = []
        for page_id, entry in sorted(truth.items()):
            html = gzip.decompress((root / "html" / f"{page_id}.html.gz").read_bytes()).decode("utf-8", "replace")
            result = extractor.extract(html, url=entry["url"])
            predicted = "" if isinstance(result, Rejection) else result
            scores.append(extraction_f1(predicted, entry["articleBody"])[2])
    mean_f1 = sum(scores) / len(scores)
    assert len(scores) == 181
    assert mean_f1 >= 0.90, f"mean F1 {mean_f1:.4f}"
