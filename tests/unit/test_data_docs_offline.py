"""The validation report renders with the network off: headless Chromium (Debian's, driven by Playwright) with
every request that is not a local file or localhost aborted.  The offline pages load their own stylesheet and
show the expectations; GX's own pages, under the same block, are shown to depend on CDNs (why we render ours)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from trainset.expectations import validate_dataframe

CHROMIUM = Path("/usr/bin/chromium")
SUITE = {"name": "offline_docs_test", "expectations": [
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "sharpness", "min_value": 10},
     "meta": {"reason_code": "blurry", "description": "sharpness at least 10"}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "fmt", "value_set": ["jpeg", "png"]},
     "meta": {"reason_code": "unsupported_format"}},
]}


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not installed (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


def _offline_page(browser):
    """A page whose every request off this machine is aborted (and recorded)."""
    blocked: list[str] = []
    context = browser.new_context()

    def route(r):
        url = r.request.url
        if url.startswith(("file://", "http://127.0.0.1", "http://localhost", "data:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    context.route("**/*", route)
    return context, context.new_page(), blocked


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("offline_docs")
    (tmp / "suites").mkdir()
    (tmp / "suites" / "offline_docs_test.json").write_text(json.dumps(SUITE), encoding="utf-8")
    df = pd.DataFrame({"image_id": [1, 2, 3, 4], "sharpness": [1.0, 50.0, 80.0, 3.0],
                       "fmt": ["jpeg", "gif", "png", "jpeg"]})
    first = validate_dataframe(df, "offline_docs_test", id_column="image_id", docs_dir=tmp / "docs",
                               run_name="run-1", suite_dir=tmp / "suites")
    second = validate_dataframe(df.iloc[:2], "offline_docs_test", id_column="image_id", docs_dir=tmp / "docs",
                                run_name="run-2", suite_dir=tmp / "suites")
    return first, second


def test_offline_report_is_styled_and_lists_every_run_without_network(browser, validated):
    first, second = validated
    assert first.report_path == second.report_path and first.report_page != second.report_page
    context, page, blocked = _offline_page(browser)
    try:
        page.goto(first.report_path.as_uri())
        rows = page.locator("#runs tbody tr")
        assert rows.count() == 2
        assert "run-2" in rows.nth(0).inner_text() and "run-1" in rows.nth(1).inner_text()  # newest first
        # Styled by the bundled report.css: the header cells' background and the failed badge's colour.
        assert page.eval_on_selector("#runs th", "e => getComputedStyle(e).backgroundColor") == "rgb(240, 243, 246)"
        assert page.eval_on_selector(".badge.fail", "e => getComputedStyle(e).backgroundColor") == "rgb(179, 38, 30)"

        rows.nth(1).locator("a").click()
        page.wait_for_load_state()
        assert Path(page.url.removeprefix("file://")) == first.report_page
        assert page.locator("#evaluated").inner_text() == "4" and page.locator("#failing").inner_text() == "3"
        expectations = page.locator("#expectations tbody tr")
        assert expectations.count() == 2
        text = page.locator("#expectations").inner_text()
        assert "blurry" in text and "expect_column_values_to_be_between" in text and "sharpness at least 10" in text
        assert "unsupported_format" in text
        assert expectations.nth(0).locator("td").nth(7).inner_text() == "2"  # rows 1 and 4 are blurry
        failing = page.locator("#failing-rows").inner_text()
        assert "blurry" in failing and "unsupported_format" in failing
        assert page.eval_on_selector("table", "e => getComputedStyle(e).borderCollapse") == "collapse"
        assert blocked == [], blocked  # nothing was even asked of the internet
    finally:
        context.close()


def test_gx_pages_ask_cdns_for_their_styles_so_the_block_is_real(browser, validated):
    first, _ = validated
    context, page, blocked = _offline_page(browser)
    try:
        page.goto(first.validation_page.as_uri())
        assert any("bootstrap" in url for url in blocked), blocked
        # GX's index (the page a PM may have bookmarked) links to the pages that do render offline.
        page.goto(first.docs_path.as_uri())
        page.locator("#trainset-offline-report a").click()
        page.wait_for_load_state()
        assert Path(page.url.removeprefix("file://")) == first.report_path
        assert page.locator("#runs tbody tr").count() == 2
    finally:
        context.close()
