"""A real browser (headless Debian chromium through selenium) labels three documents with the
keyboard, reloads, sees the progress kept, and the planted script never runs."""
from __future__ import annotations

import dataclasses
import shutil
import threading
import time

import pytest

from tests.review.helpers import PLANTED, PLANTED_ID, make_output
from winnow.review.app import ReviewSession, create_review_app
from winnow.review.labels import read_labels
from winnow.review.sample import draw_sample
from winnow.review.server import bind, url_of
from winnow.review.source import load_index, load_texts
from tests.cpu_load import HANG_GUARD_S

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)


def _browser_or_skip(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[dev]')")
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(service=Service(driver_path), options=options)


class _Server:
    """uvicorn on a free loopback port, in a thread, for the length of the test."""

    def __init__(self, app):
        import uvicorn

        self.sock = bind("127.0.0.1", 0)
        self.url = url_of(self.sock, "127.0.0.1")
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        # The loop ends as soon as the server is up.
        deadline = time.monotonic() + HANG_GUARD_S
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.mark.slow
def test_keyboard_labelling_survives_reload_and_planted_script_stays_text(tmp_path):
    driver = _browser_or_skip(tmp_path)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out = make_output(tmp_path / "out")
    items = draw_sample(load_index(out), 8, seed=0)
    planted = [i for i in items if i.record.id == PLANTED_ID] or [
        dataclasses.replace(items[0], record=load_index(out).by_id[PLANTED_ID], stratum="kept")]
    items = [*planted, *(i for i in items if i.record.id != PLANTED_ID)][:8]
    items = [dataclasses.replace(item, index=k) for k, item in enumerate(items)]  # the planted page first
    session = ReviewSession(out, items, load_texts(i.record for i in items), "browser")
    wait = WebDriverWait(driver, 15)

    def progress_is(text):
        wait.until(lambda d: d.find_element(By.ID, "progress").text == text)

    try:
        with _Server(create_review_app(session)) as server:
            driver.get(server.url)
            wait.until(lambda d: d.find_element(By.ID, "text").text.startswith("Before"))
            shown = driver.find_element(By.ID, "text").text
            assert PLANTED in shown  # the markup shows as text...
            assert driver.find_elements(By.CSS_SELECTOR, "#text script, #text img") == []  # ...and made no elements
            assert driver.execute_script("return window.__xss === undefined") is True
            progress_is("0 / 8 labelled")
            for count, key in enumerate("gbs", start=1):
                ActionChains(driver).send_keys(key).perform()
                progress_is(f"{count} / 8 labelled")
            wait.until(lambda d: d.find_element(By.ID, "position").text == "item 4 of 8")
            driver.refresh()
            progress_is("3 / 8 labelled")
            wait.until(lambda d: d.find_element(By.ID, "position").text == "item 4 of 8")  # resumes at the next one
            ActionChains(driver).send_keys("p").perform()  # back to the third: its label is shown
            wait.until(lambda d: d.find_element(By.ID, "current-label").text == "your label: skip")
            assert driver.execute_script("return window.__xss === undefined") is True
            logs = [e for e in driver.get_log("browser") if "Content Security Policy" in e.get("message", "")]
            assert logs == []  # the page itself needs nothing the policy forbids
    finally:
        driver.quit()
    labels = {r["id"]: r["label"] for r in read_labels(out).to_pylist()}
    assert [labels[i.record.id] for i in items[:3]] == ["good", "bad", "skip"]


@pytest.mark.slow
def test_blind_comparison_reveals_names_only_at_the_end(tmp_path):
    pytest.importorskip("torch")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.training.evaluate_helpers import make_model, make_tokenizer, write_run
    from winnow.review.compare import CompareSession, create_compare_app, generate_items, plan_items

    driver = _browser_or_skip(tmp_path)
    tokenizer, path = make_tokenizer(tmp_path)
    a = write_run(tmp_path / "run-alpha", make_model(tokenizer.get_vocab_size(), seed=1), path)
    b = write_run(tmp_path / "run-beta", make_model(tokenizer.get_vocab_size(), seed=2), path)
    items = generate_items(a, b, plan_items(["<script>window.__xss = 1</script>"], 3, seed=0), 5, 0.8, None, "cpu")
    session = CompareSession(a, b, items, "browser")
    wait = WebDriverWait(driver, 15)
    try:
        with _Server(create_compare_app(session)) as server:
            driver.get(server.url)
            wait.until(lambda d: d.find_element(By.ID, "progress").text == "0 / 3 voted")
            assert driver.find_element(By.ID, "prompt").text == "<script>window.__xss = 1</script>"
            assert "run-alpha" not in driver.page_source and not driver.find_element(By.ID, "reveal").is_displayed()
            for count, key in enumerate("120", start=1):
                ActionChains(driver).send_keys(key).perform()
                wait.until(lambda d: d.find_element(By.ID, "progress").text == f"{count} / 3 voted")
            wait.until(lambda d: d.find_element(By.ID, "reveal").is_displayed())
            result = driver.find_element(By.ID, "result").text
            assert "A = run-alpha, B = run-beta" in result and "1 tie(s)" in result
            assert driver.execute_script("return window.__xss === undefined") is True
    finally:
        driver.quit()
    assert len(session.votes) == 3
