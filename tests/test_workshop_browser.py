"""The workshop app in a real browser: Voila serves notebooks/07_workshop.ipynb, Playwright drives
Debian's chromium, selects a persona and checks that the page shows the new curve.

Needs chromium (``apt-get install chromium``; .ci/run installs it) and the ``playwright`` Python
package (its driver only: the browser is the system's). Skipped, with the reason, when either is
missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def voila_url():
    pytest.importorskip("voila")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", "07_workshop.ipynb", "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", "--ServerApp.log_level=WARN"],
        cwd=ROOT / "notebooks", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("voila exited: " + proc.stdout.read().decode(errors="replace")[-2000:])
            time.sleep(0.3)
    yield f"http://127.0.0.1:{port}/"
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()


def test_selecting_a_persona_shows_its_curve(voila_url):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(voila_url, timeout=60_000)
            caption = page.locator(".parcours-curve-caption").first
            caption.wait_for(timeout=180_000)
            everyone = caption.get_attribute("data-personas")
            assert everyone.split() == ["connecte", "prudent", "senior", "explorateur"]
            img = page.locator("img").first
            img.wait_for(timeout=60_000)
            before = img.get_attribute("src")
            assert before and before.startswith(("blob:", "data:"))
            # the persona picker is the first multiple select of the page
            page.locator("select[multiple]").first.select_option(label="Senior attentif")
            page.wait_for_selector(".parcours-curve-caption[data-personas='senior']", timeout=120_000)
            assert "Senior attentif" in page.locator(".parcours-curve-caption").first.inner_text()
            page.wait_for_function(
                "(before) => { const i = document.querySelector('img'); return i && i.src !== before; }",
                arg=before, timeout=60_000)
            after = page.locator("img").first.get_attribute("src")
            assert after != before  # a new curve was drawn
            # the friction table shows the planted friction for this persona
            assert "id_verification" in page.locator(".parcours-friction").first.inner_text()
        finally:
            browser.close()
