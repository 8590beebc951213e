"""/docs and /dashboard in a real browser (Debian's chromium, headless, driven by Playwright)
against the real service: the operations are listed and can be tried, the charts are drawn, no
request leaves the machine and the console stays clean. Screenshots go to
``var/test-artifacts/browser/`` (``NBREC_TEST_ARTIFACTS`` to change) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.serving.server import NBREC, rr_lines, running_service

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("NBREC_CHROMIUM", "/usr/bin/chromium")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
API = ("/recommend", "/similar_items", "/feedback")


def artifacts() -> Path:
    folder = Path(os.environ.get("NBREC_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts"))
    folder = folder / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not found: `apt-get install chromium`")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """popularity on the default synthetic data set, live, served with an empty RR log."""
    work = tmp_path_factory.mktemp("browser")
    env = {**os.environ, "NBREC_VAR_DIR": str(work / "var"), "NBREC_STORE_URL": "",
           "BENTOML_HOME": str(work / "bentoml")}  # fmt: skip
    done = subprocess.run([NBREC, "publish", "--dataset", "synthetic", "--model", "popularity",
                           "--version", "pop-v1"], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with running_service(work, "") as url:
        yield url, work


def on_machine(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("file", "data", "about") or parts.hostname in LOCAL_HOSTS


class Watched:
    """A page that records every request, console error and page error."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        # Anything off the machine is refused (and recorded above, so the test fails on it).
        self.context.route(
            "**/*",
            lambda route: route.continue_() if on_machine(route.request.url) else route.abort(),
        )

    def off_machine(self) -> list[str]:
        return [u for u in self.requests if not on_machine(u)]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser):
    page = Watched(browser)
    yield page
    assert not page.off_machine(), f"requests off the machine: {page.off_machine()}"
    assert not page.errors, page.errors
    page.close()


def test_dashboard_from_the_first_start(service, watched):
    url, _ = service
    page = watched.page
    response = page.goto(f"{url}/dashboard")
    assert response.status == 200
    # computed in the background: "preparing" reloads itself until the page is ready
    page.get_by_role("heading", name="No traffic yet").wait_for(timeout=120_000)
    for control in ("from", "to", "model version", "experiment variant"):
        assert page.get_by_label(control).count() == 1, control
    page.screenshot(path=artifacts() / "dashboard-empty.png", full_page=True)


def test_docs_lists_every_operation_and_try_it_out_works(service, watched):
    url, _ = service
    page = watched.page
    assert page.goto(f"{url}/").url.endswith("/docs")  # BentoML's UI is replaced by ours
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = set(page.locator(".opblock-summary-path").all_inner_texts())
    paths = {p.replace("\u200b", "").strip() for p in paths}
    expected = {*API, "/healthz", "/readyz", "/metrics", "/dashboard", "/openapi.json", "/docs",
                "/admin/reload", "/admin/promote", "/admin/rollback"}  # fmt: skip
    assert expected <= paths, expected - paths
    page.screenshot(path=artifacts() / "docs.png", full_page=True)
    # Try the first operation (/recommend) with its first example, as a user would.
    block = page.locator(".opblock-post").filter(has_text="/recommend").first
    block.locator(".opblock-summary").click()
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=30_000)
    assert status.inner_text().strip() == "200"
    assert '"model_version": "pop-v1"' in block.locator(".live-responses-table").inner_text()
    block.screenshot(path=artifacts() / "docs-try-recommend.png")


def test_dashboard_draws_charts_from_traffic(service, watched):
    url, work = service
    with httpx.Client(base_url=url, timeout=10) as client:
        for n in range(60):
            user = f"u{n:04d}"
            answer = client.post("/recommend", json={"user_id": user, "k": 5}).json()
            if n % 3 == 0:
                item = answer["items"][0]["item_id"]
                sent = client.post("/feedback", json={"user_id": user, "item_id": item,
                                                      "event": "click",
                                                      "request_id": answer["request_id"]})  # fmt: skip
                assert sent.status_code == 200, sent.text
    # The service writes its RR log in the background (every 50 ms): wait for the 20 clicks.
    deadline = time.monotonic() + 30
    while sum(x["kind"] == "feedback" for x in rr_lines(work / "var" / "logs")) < 20:
        assert time.monotonic() < deadline, "the RR log misses feedback after 30 s"
        time.sleep(0.1)
    page = watched.page
    assert page.goto(f"{url}/dashboard?refresh=1").status == 200
    # The figures are computed in the background; until they are ready the answer is the page
    # before the traffic (it reloads itself in a minute) or "preparing": look again each second.
    deadline = time.monotonic() + 180
    while page.locator(".tile b").count() == 0:
        assert time.monotonic() < deadline, "no figures after 180 s"
        page.wait_for_timeout(1_000)
        assert page.goto(f"{url}/dashboard").status == 200
    # requests: these 60, and the one /docs tried when that test ran first
    assert int(page.locator(".tile b").first.inner_text().replace(",", "")) in (60, 61)
    charts = page.locator(".chart svg")
    assert charts.count() >= 4
    for i in range(charts.count()):  # drawn: each chart has bars or lines in it
        assert charts.nth(i).locator("path").count() > 5, f"chart {i} is empty"
    assert page.locator("select[name=version] option", has_text="pop-v1").count() == 1
    page.screenshot(path=artifacts() / "dashboard.png", full_page=True)
    # A filter that matches nothing says so.
    page.goto(f"{url}/dashboard?start=2001-01-01&end=2001-01-02")
    page.get_by_role("heading", name="No requests match these filters").wait_for(timeout=120_000)
    bad = httpx.get(f"{url}/dashboard", params={"start": "yesterday"}, timeout=30)
    assert bad.status_code == 400 and "start=&#x27;yesterday&#x27; is not a date" in bad.text


def test_docs_assets_are_served_by_the_service(service):
    url, _ = service
    for name, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css")):
        answer = httpx.get(f"{url}/docs/assets/{name}")
        assert answer.status_code == 200 and kind in answer.headers["content-type"]
    assert httpx.get(f"{url}/docs/assets/nope.js").status_code == 404
    assert shutil.which("chromium") or Path(CHROMIUM).is_file() or not os.environ.get("CI")


def test_every_example_in_the_docs_works(service):
    """Each request example /docs offers answers 200 on the demo's data (admin ones need the
    token and a registered version: they are documented, not tried here)."""
    url, _ = service
    document = httpx.get(f"{url}/openapi.json").json()
    tried = 0
    for path, item in document["paths"].items():
        body = item.get("post", {}).get("requestBody")
        if body is None or path.startswith("/admin"):
            continue
        for name, example in body["content"]["application/json"]["examples"].items():
            answer = httpx.post(f"{url}{path}", json=example["value"], timeout=10)
            assert answer.status_code == 200, f"{path} example {name!r}: {answer.text}"
            tried += 1
    assert tried >= 7
    for path, item in document["paths"].items():
        if "get" in item and path != "/dashboard":  # the dashboard has its own tests
            assert httpx.get(f"{url}{path}", timeout=10).status_code == 200, path
