"""The BI tool in a real browser: Superset, installed and provisioned by the code ``make bi``
runs (its virtualenv cached under ``var/bi``), over a warehouse holding archived RR logs plus
the log files not archived yet. A person logs in, opens nbrec's dashboard and sees every chart
drawn with data; nothing is fetched off the machine, the console stays clean.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from nbrec.bi import superset as bi
from nbrec.events.rr_archive import archive_file
from nbrec.events.warehouse import Warehouse
from nbrec.lifetime import wait_ready
from nbrec.monitoring import product_metrics
from nbrec.monitoring.fake_logs import write_fake_logs
from nbrec.settings import get_settings
from tests.browser.test_pages import ROOT, Watched, artifacts, browser  # noqa: F401 (fixture)
from tests.serving.server import free_port

CHARTS = 10  # deploy/superset/charts/


@pytest.fixture(scope="module")
def superset(tmp_path_factory):
    """Superset on a free port, provisioned from deploy/superset; its timings are recorded."""
    work = tmp_path_factory.mktemp("superset")
    logs = work / "logs"
    paths = write_fake_logs(logs, users=120, days=10)
    for path in paths[: len(paths) // 2]:  # half in the warehouse, half still JSONL
        archive_file(path, Warehouse(work / "warehouse"))
    cached = bi.BiHome(ROOT / "var" / "bi")  # the virtualenv `make bi` uses
    timings: dict[str, float] = {}
    began = time.monotonic()
    timings["install (0: cached)"] = bi.install(cached) and round(time.monotonic() - began, 1)
    home = bi.BiHome(work / "bi")
    home.path.mkdir()
    home.venv.symlink_to(cached.venv)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NBREC_WAREHOUSE", str(work / "warehouse"))
        patch.setenv("NBREC_LOG_DIR", str(logs))
        patch.setenv("NBREC_BI_PASSWORD", "a-test-password")
        get_settings.cache_clear()
        try:
            _, steps = bi.prepare(home, source=ROOT / bi.BUNDLE)
            expected = product_metrics.summary(product_metrics.open_logs(logs))
        finally:
            get_settings.cache_clear()
    timings.update(steps)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (work / "superset.log").open("w")
    process = subprocess.Popen(bi.serve_command(home, port), env=home.env(), stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    try:
        began = time.monotonic()
        wait_ready(f"{url}/health", "Superset", 300, process, work / "superset.log", 1)
        timings["first start to /health"] = round(time.monotonic() - began, 1)
        (artifacts() / "superset-timings.json").write_text(json.dumps(timings, indent=1))
        yield url, expected
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# Installing Superset (~700 MB) and its first start: ~4 min; nightly (`make test-all`) only.
@pytest.mark.slow
def test_product_dashboard_draws_every_chart_with_data(browser, superset):  # noqa: F811
    url, expected = superset
    watched = Watched(browser)
    page = watched.page
    page.set_viewport_size({"width": 1400, "height": 1800})
    try:
        page.goto(f"{url}/login/")
        page.fill("#username", "admin")
        page.fill("#password", "a-test-password")
        page.click("[type=submit]")
        page.wait_for_url("**/superset/welcome/**", timeout=60_000)
        page.goto(f"{url}/superset/dashboard/nbrec-product/")
        page.get_by_text("nbrec product metrics").first.wait_for(timeout=120_000)
        charts = page.locator("[data-test-viz-type]")
        charts.nth(CHARTS - 1).wait_for(timeout=120_000)
        assert charts.count() == CHARTS
        page.locator("canvas").nth(3).wait_for(timeout=120_000)  # 2 lines, 2 bar charts
        page.wait_for_load_state("networkidle", timeout=120_000)
        numbers = page.locator(".header-line").all_inner_texts()
        total = int(expected["requests"].sum())
        assert numbers[0].replace(",", "") == str(total), numbers  # "Requests", as /dashboard
        ctr = (expected["ctr"] * expected["requests"]).sum() / total
        assert numbers[1] == f"{ctr:.2%}", numbers
        rows = page.locator("table tbody tr").all_inner_texts()
        assert any("lightfm-v2" in r and "treatment" in r for r in rows), rows
        assert page.get_by_text("No results").count() == 0
        for name in ("Date", "Model version", "Experiment variant"):  # native filters
            assert page.get_by_text(name, exact=True).count() >= 1, name
        page.screenshot(path=artifacts() / "superset-dashboard.png")
        # The variant filter cuts every chart, whatever its dataset: treatment's own figures.
        page.locator(".ant-select").nth(1).click()  # Model version, then Experiment variant
        page.locator(".ant-select-item-option", has_text="treatment").click()
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Apply filters").click()
        arm = expected.set_index("variant").loc["treatment"]
        want = [str(int(arm["requests"])), f"{arm['ctr']:.2%}"]

        def filtered() -> bool:  # the charts reload one by one
            rows = page.locator("table tbody tr").all_inner_texts()
            return (page.locator(".header-line").all_inner_texts()[:2] == want and len(rows) == 2
                    and all("treatment" in r and "control" not in r for r in rows)
                    and page.get_by_text("Waiting on").count() == 0
                    and page.locator("canvas").count() >= 4)  # fmt: skip

        deadline = time.monotonic() + 120
        while not filtered() and time.monotonic() < deadline:
            page.wait_for_timeout(500)
        assert filtered(), (page.locator(".header-line").all_inner_texts(), want)
        page.screenshot(path=artifacts() / "superset-dashboard-treatment.png")
        assert not watched.off_machine(), watched.off_machine()
        assert not watched.errors, watched.errors
    finally:
        watched.close()


def test_bundle_fills_in_the_views_path(tmp_path):
    """The committed YAML names no machine's path: the ZIP gets this machine's."""
    home = bi.BiHome(tmp_path)
    text = "".join(p.read_text() for p in (ROOT / bi.BUNDLE).rglob("*.yaml"))
    assert "${NBREC_BI_DUCKDB}" in text and "/work/" not in text and "/tmp/" not in text
    import zipfile

    with zipfile.ZipFile(bi.bundle(home, ROOT / bi.BUNDLE)) as archive:
        names = archive.namelist()
        database = archive.read(f"{bi.ROOT_FOLDER}/databases/nbrec_warehouse.yaml").decode()
    assert f"duckdb:///{tmp_path}/nbrec.duckdb?access_mode=read_only" in database
    assert f"{bi.ROOT_FOLDER}/metadata.yaml" in names
    assert sum(n.startswith(f"{bi.ROOT_FOLDER}/charts/") for n in names) == CHARTS


def test_secret_key_is_generated_once_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("NBREC_BI_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    home = bi.BiHome(tmp_path)
    first = bi.secret_key(home)
    assert len(first) > 40 and bi.secret_key(home) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    config = bi.write_config(home).read_text()
    assert first not in config  # read from the file at start, never written into the config
    get_settings.cache_clear()


def test_the_cli_target_exists():
    assert "\nbi: install" in (ROOT / "Makefile").read_text()
    assert Path(ROOT / bi.CONSTRAINTS).is_file()
