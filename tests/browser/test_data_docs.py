"""Data Docs (GX's HTML) work offline: every script and style sheet is a local copy, the page
renders its tables with bootstrap-table, and nothing is requested off the machine."""

from __future__ import annotations

from nbrec.data.synthetic import generate
from nbrec.validation import interactions_frame, interactions_parameters, validate
from nbrec.validation.offline import make_offline, remote_assets
from tests.browser.test_pages import Watched, artifacts, browser  # noqa: F401  (fixture)


def test_data_docs_render_offline(tmp_path, browser):  # noqa: F811
    data = generate(users=60, items=30, interactions=600, seed=3)
    report = validate(interactions_frame(data.interactions), "interactions",
                      interactions_parameters(), out_dir=tmp_path)  # fmt: skip
    pages = sorted((tmp_path / "docs").rglob("*.html"))
    assert report.docs_path in pages and len(pages) >= 3
    for page in pages:
        assert not remote_assets(page), (page, remote_assets(page))
    assert make_offline(tmp_path / "docs") == 0  # a second pass has nothing left to change
    for page, name in ((report.docs_path, "data-docs-validation.png"),
                       (tmp_path / "docs" / "index.html", "data-docs-index.png")):  # fmt: skip
        watched = Watched(browser)
        try:
            watched.page.goto(page.as_uri())
            watched.page.wait_for_load_state("load")
            assert watched.page.evaluate("typeof jQuery") == "function"
            assert watched.page.locator(".bootstrap-table").count() >= 1  # the tables' JS ran
            font = watched.page.evaluate("getComputedStyle(document.body).fontFamily")
            assert "Segoe UI" in font or "HKGrotesk" in font  # Bootstrap's (or GX's) styles
            watched.page.screenshot(path=artifacts() / name, full_page=True)
            assert not watched.off_machine(), watched.off_machine()
            assert not watched.errors, watched.errors
        finally:
            watched.close()
