"""The sample's report in a real browser at 1,280 px: nothing wider than the page, no broken
image, no request leaving the machine.

Playwright drives Debian's chromium (launch flags as in ``tests/test_workshop_browser.py``);
skipped, with the reason, without chromium or the ``playwright`` package. Tables wider than the
page are allowed inside their scrolling wrapper (``.table-wrap``), which is what keeps the page
itself from overflowing.
"""

from __future__ import annotations

import json
import shutil

import pytest

from parcours_research.report import build_report

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH = 1280

OVERFLOWING = """() => {
  const w = document.documentElement.clientWidth;
  return [...document.querySelectorAll('body *')]
    .filter(e => !e.closest('.table-wrap'))
    .filter(e => e.getBoundingClientRect().right > w + 1)
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))
    .slice(0, 10);
}"""


@pytest.fixture(scope="module")
def report_pages(sample_study, tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    out = {}
    for lang in ("fr", "en"):
        res = build_report(
            sample_study,
            tmp_path_factory.mktemp(f"browser-{lang}"),
            lang=lang,
            n_boot=50,
            progress=False,
            pdf=lang == "fr",  # the French one is also printed by chromium
        )
        out[lang] = res.path
        out[f"{lang}-result"] = res
    return out


def test_pdf_is_printed_inside_the_report_folder(report_pages):
    res = report_pages["fr-result"]
    assert res.pdf == res.path.parent / "report.pdf", res.pdf_message
    assert res.pdf.read_bytes()[:4] == b"%PDF" and res.pdf.stat().st_size > 100_000
    marker = json.loads((res.path.parent / ".parcours-report.json").read_text(encoding="utf-8"))
    assert "report.pdf" in json.dumps(marker)  # a later report replaces it, never leaves it stale
    assert report_pages["en-result"].pdf is None and report_pages["en-result"].pdf_message == ""


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_report_fits_the_page_loads_its_images_and_stays_offline(report_pages, lang):
    from playwright.sync_api import sync_playwright

    outside: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:")):
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.route("**/*", route)
            page.goto(report_pages[lang].as_uri(), wait_until="load", timeout=120_000)
            scroll, inner = page.evaluate("[document.body.scrollWidth, window.innerWidth]")
            assert scroll <= inner, f"the page is {scroll} px wide in a {inner} px window"
            assert page.evaluate(OVERFLOWING) == []
            images = page.evaluate(
                "[...document.images].map(i => [i.alt, i.complete, i.naturalWidth])"
            )
            assert len(images) == len(list((report_pages[lang].parent / "figures").glob("*.png")))
            broken = [alt for alt, complete, width in images if not complete or width == 0]
            assert broken == []
            # every summary link lands on an element of the page
            anchors = page.evaluate(
                "[...document.querySelectorAll('#summary a')].map(a => a.hash.slice(1))"
            )
            assert anchors and all(page.locator(f"#{a}").count() == 1 for a in anchors)
            # the wide tables scroll inside their wrapper instead of widening the page
            wraps = page.evaluate(
                "[...document.querySelectorAll('.table-wrap')].map(d => d.clientWidth)"
            )
            assert wraps and max(wraps) <= inner
        finally:
            browser.close()
    assert outside == []
