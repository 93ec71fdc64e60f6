"""mstr serve in a real browser: the server on 127.0.0.1 (a free port) with the shipped model,
the page opened in headless Chromium (Debian's chromium + chromedriver, driven by Selenium; no
driver or browser is downloaded), a sample photo uploaded and the words shown checked; then each
bad upload (empty, corrupt, text file, 20000 × 20000 PNG, too large) shows its message."""
from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import png

pytest.importorskip("fastapi", reason="the serve extra is not installed: make setup")
pytest.importorskip("selenium", reason="selenium is not installed: make setup")

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
SAMPLE = ROOT / "samples" / "photos" / "sign_en_hi_ta.jpg"
MAX_BYTES = 2 * 2**20

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                 reason="chromium and chromium-driver are not installed (make setup installs them)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    import uvicorn

    import mstr
    from mstr.serve import create_app

    app = create_app(mstr.load(), max_bytes=MAX_BYTES, max_pixels=40_000_000)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not srv.started:
        assert time.time() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch anything
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _upload(driver, base: str, path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/")
    driver.find_element(By.ID, "file").send_keys(str(path))


def _wait(driver, condition, timeout: float = 120.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def test_page_reads_an_uploaded_photo(server, browser):
    from selenium.webdriver.common.by import By

    truth = [w["text"] for w in json.loads(SAMPLE.with_suffix(".json").read_text(encoding="utf-8"))["words"]]
    _upload(browser, server, SAMPLE)
    _wait(browser, lambda d: d.find_element(By.ID, "status").get_attribute("data-done") == "1"
          or d.find_element(By.ID, "error").text)
    assert browser.find_element(By.ID, "error").text == ""
    shown = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#words tbody td.text")]
    confs = [float(td.text) for td in browser.find_elements(By.CSS_SELECTOR, "#words tbody td.conf")]
    assert len(confs) == len(shown) and all(0 <= c <= 1 for c in confs)
    right = sum(a == b for a, b in zip(shown, truth))
    assert len(shown) == len(truth) and right >= 0.9 * len(truth), (shown, truth)
    assert "read as a photo" in browser.find_element(By.ID, "status").text
    overlay = browser.find_element(By.ID, "overlay")
    assert overlay.is_displayed() and overlay.get_attribute("src").startswith("data:image/png;base64,")
    assert browser.execute_script("return arguments[0].naturalWidth", overlay) == 960


BAD = [("empty.png", b"", "is empty"),
       ("corrupt.png", png(255, (300, 100), "L")[:60], "corrupt"),
       ("notes.txt", b"a text file, not an image\n", "not an image"),
       ("giant.png", png(255, (20000, 20000), "L"), "20000 × 20000"),
       ("large.bmp", b"BM" + b"\0" * (MAX_BYTES + 10), "over the 2 MiB limit")]


@pytest.mark.parametrize("name,data,phrase", BAD, ids=[b[0] for b in BAD])
def test_page_shows_why_an_upload_is_refused(server, browser, tmp_path, name, data, phrase):
    from selenium.webdriver.common.by import By

    path = tmp_path / name
    path.write_bytes(data)
    _upload(browser, server, path)
    message = _wait(browser, lambda d: d.find_element(By.ID, "error").text, timeout=60)
    assert phrase in message and "\n" not in message
    assert browser.find_element(By.ID, "error").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#words tbody tr") == []
