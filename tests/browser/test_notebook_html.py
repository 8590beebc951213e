"""A notebook rendered by nbrec works offline in a real browser: math is typeset by the
inlined MathJax, nothing is fetched from a CDN, no stderr box, no raw dict."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nbrec.notebooks import record_results, render_html
from tests.browser.test_pages import Watched, artifacts, browser  # noqa: F401  (fixture)

MATH = r"The problem: $L_u^* = \arg\max_{L \subset I,\,|L| = k} \sum_{i \in L} P(r_{ui} = 1)$."


def test_record_results_shows_no_raw_dict(tmp_path):
    assert record_results(tmp_path / "r.json", a=1) is None  # a notebook's last cell shows nothing


def test_math_renders_offline_and_stderr_is_not_shown(tmp_path, browser):  # noqa: F811
    notebook = new_notebook(
        cells=[
            new_markdown_cell(f"# Framing\n\n{MATH}"),
            new_code_cell(
                "import tqdm.auto",
                outputs=[
                    new_output("stream", name="stderr", text="TqdmWarning: IProgress not found")
                ],
            ),
            new_code_cell(
                "1 + 1",
                outputs=[new_output("execute_result", data={"text/plain": "2"}, execution_count=1)],
            ),  # fmt: skip
        ]
    )
    path = tmp_path / "framing.ipynb"
    nbformat.write(notebook, path)
    html = render_html(path)
    text = html.read_text()
    assert "cdnjs" not in text and "require.min.js" not in text
    assert "TqdmWarning" not in text
    page = Watched(browser)
    try:
        page.page.goto(html.as_uri())
        page.page.wait_for_selector("mjx-container svg", timeout=60_000)  # typeset by MathJax
        assert "\\arg\\max" not in page.page.inner_text("body")  # no raw LaTeX left
        page.page.screenshot(path=artifacts() / "notebook-math.png", full_page=True)
        assert not page.errors, page.errors
        assert not [u for u in page.requests if not u.startswith(("file:", "data:"))]
    finally:
        page.close()
