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
def served_study(tmp_path_factory):
    """A copy of the sample study: the workshop's shared rating store is written inside it."""
    study = tmp_path_factory.mktemp("workshop") / "study"
    shutil.copytree(ROOT / "data" / "sample", study, ignore=shutil.ignore_patterns("workshop"))
    return study


@pytest.fixture(scope="module")
def voila_url(served_study):
    pytest.importorskip("voila")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PARCOURS_STUDY": str(served_study)}
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
            requested = []
            page.on("request", lambda r: requested.append(r.url))
            page.goto(voila_url, timeout=240_000)
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
            # the friction table shows the planted friction for this persona, by its label
            assert "Vérification d'identité" in page.locator(".parcours-friction").first.inner_text()
            # offline: the page asked nothing of any other machine (no CDN stylesheet or script)
            outside = [u for u in requested if not u.startswith((voila_url, "data:", "blob:"))]
            assert outside == [], outside[:5]
        finally:
            browser.close()


def _rate(page, participant: str, role: str, score: int) -> None:
    page.get_by_placeholder("initiales ou code").fill(participant)
    page.get_by_role("button", name=role, exact=True).click()
    page.get_by_role("button", name=str(score), exact=True).click()
    page.get_by_role("button", name="Enregistrer").click()


def test_a_rating_saved_in_one_page_appears_in_another_within_5_s(voila_url, served_study):
    """Two participants on two devices: two pages, two Voila kernels, one shared store."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            one, two = (browser.new_context().new_page() for _ in range(2))
            for page in (one, two):
                page.goto(voila_url, timeout=240_000)
                page.get_by_role("button", name="Enregistrer").wait_for(timeout=180_000)
            _rate(one, "AB", "Personnel", 2)
            one.get_by_text("✓").first.wait_for(timeout=30_000)
            start = time.time()
            # the board's table of running means in the other page now counts one rating
            two.wait_for_function(
                "() => [...document.querySelectorAll('h4')].some(h => h.textContent.includes(\"Notes de l'atelier\")"
                " && h.nextElementSibling && /\\b2,00\\b/.test(h.nextElementSibling.textContent))",
                timeout=5_000)
            assert time.time() - start < 5
        finally:
            browser.close()
    from parcours_research.ratings import read_ratings

    stored = read_ratings(served_study / "workshop" / "ratings.sqlite")
    assert stored[["participant", "role", "score"]].values.tolist() == [["AB", "staff", 2]]
