"""The review page's first screen at 1280 x 800 in headless Debian chromium: the document, its
verdict, the label buttons and the key legend are all on it, with 60 signals folded away below."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.review.helpers import write
from tests.review.test_browser import _browser_or_skip, _Server
from winnow import schemas
from winnow.review.app import ReviewSession, create_review_app
from winnow.review.sample import draw_sample
from winnow.review.source import load_index, load_texts

WIDTH, HEIGHT = 1280, 800
SIGNALS = [(f"gopher_repetition_top_{i}gram_char_frac", "float") for i in range(60)]


def _output_with_many_signals(root: Path) -> Path:
    """Long documents with 60 signal columns, as an annotate-mode fineweb+gopher output has."""
    def row(i: int, **extra) -> dict:
        return {"id": f"d{i:03d}", "url": f"https://example.org/{i}", "domain": "example.org", "warc_record_id": None,
                "warc_date": "2024-01-01", "source": "a.warc.gz", "text": "A long line of page text. " * 400,
                "language": "en", "language_score": 0.97, **{name: i / 100 for name, _ in SIGNALS}, **extra}

    write(root / "documents" / "part-0.parquet", schemas.document_schema(SIGNALS), [row(i) for i in range(4)])
    rejected = [row(10 + i, stage="gopher_repetition", reason="gopher_repetition_top_4gram", detail="0.3 > 0.2")
                for i in range(4)]
    write(root / "rejected" / "part-0.parquet", schemas.rejected_schema(SIGNALS), rejected)
    write(root / "errors" / "part-0.parquet", schemas.error_schema(), [])
    (root / "stats.json").write_text("{}")
    return root


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _box(driver, selector: str) -> dict:
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {top: r.top + window.scrollY, bottom: r.bottom + window.scrollY, height: r.height};", selector)


@pytest.mark.slow
def test_first_screen_has_document_verdict_buttons_and_legend(tmp_path):
    driver = _browser_or_skip(tmp_path)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out = _output_with_many_signals(tmp_path / "out")
    items = draw_sample(load_index(out), 6, seed=0)
    session = ReviewSession(out, items, load_texts(i.record for i in items), "screen")
    wait = WebDriverWait(driver, 15)
    try:
        driver.set_window_size(WIDTH, HEIGHT)
        with _Server(create_review_app(session)) as server:
            driver.get(server.url)
            wait.until(lambda d: d.find_element(By.ID, "text").text.startswith("A long line"))
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#signals tbody tr"))
            viewport = driver.execute_script("return window.innerHeight")
            assert viewport <= HEIGHT
            screenshot = driver.get_screenshot_as_png()
            (tmp_path / "first-screen.png").write_bytes(screenshot)
            assert _png_size(screenshot)[0] == WIDTH
            buttons = driver.find_elements(By.CSS_SELECTOR, "#labels button[data-label]")
            assert [b.get_attribute("data-label") for b in buttons] == ["good", "bad", "skip"]
            for selector in ('button[data-label="good"]', 'button[data-label="bad"]', 'button[data-label="skip"]',
                             ".help", "#meta", "#current-label", "#prev", "#next"):
                box = _box(driver, selector)
                assert box["height"] > 0 and box["bottom"] <= viewport, (selector, box, viewport)
            assert "Keys: g good, b bad, s skip" in driver.find_element(By.CSS_SELECTOR, ".help").text
            assert driver.find_element(By.CSS_SELECTOR, "#meta dd").text.startswith(("kept", "rejected by"))
            assert _box(driver, "#text")["top"] < viewport / 2  # the document starts in the upper half
            # 60 signal rows are folded away below, and open on demand.
            signals_box = driver.find_element(By.ID, "signals-box")
            assert signals_box.get_attribute("open") is None and not driver.find_element(By.ID, "signals").is_displayed()
            assert _box(driver, "#signals-box")["top"] > _box(driver, "#text")["bottom"]
            assert "Signals and scores (60)" in signals_box.text
            signals_box.find_element(By.TAG_NAME, "summary").click()
            wait.until(lambda d: d.find_element(By.ID, "signals").is_displayed())
            assert len(driver.find_elements(By.CSS_SELECTOR, "#signals tbody tr")) == 60
            # The keys still label from this layout.
            ActionChains(driver).send_keys("g").perform()
            wait.until(lambda d: d.find_element(By.ID, "progress").text == f"1 / {len(items)} labelled")
    finally:
        driver.quit()
