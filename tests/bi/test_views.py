"""The BI views give the embedded dashboard's figures: the same lines, aggregated by Superset's
metrics (AVG(clicked), AVG(engagement), ...), match ``nbrec.monitoring.product_metrics``."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from nbrec.bi.views import local_globs, views_sql
from nbrec.events.rr_archive import archive_file
from nbrec.events.warehouse import Warehouse
from nbrec.monitoring import product_metrics
from nbrec.monitoring.fake_logs import write_fake_logs
from nbrec.settings import get_settings

GROUP = ["model_version", "variant"]
# Superset's metrics as the dashboard-as-code defines them (deploy/superset/datasets/)
SUPERSET = {
    "bi_requests": "COUNT(*) AS requests, COUNT(DISTINCT user_id) AS users, AVG(clicked) AS ctr",
    "bi_daily": "AVG(engagement) AS engagement",
    "bi_users": "AVG(retained_d1) AS retention_d1, AVG(retained_d7) AS retention_d7, "
    "AVG(churned) AS churn",
    "bi_served": "COUNT(DISTINCT item_id) / MAX(catalog_size) AS coverage",
}


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bi")
    paths = write_fake_logs(root / "logs", users=150, days=12)
    warehouse = Warehouse(root / "warehouse")
    for path in paths[: len(paths) // 2]:  # half archived (and deleted), half still JSONL
        archive_file(path, warehouse)
    return root


def superset_figures(con) -> pd.DataFrame:
    frame = None
    for view, metrics in SUPERSET.items():
        part = con.sql(f"SELECT model_version, variant, {metrics} FROM {view} GROUP BY ALL").df()
        frame = part if frame is None else frame.merge(part, on=GROUP, how="outer")
    return frame.sort_values(GROUP).reset_index(drop=True)


def test_views_match_the_embedded_dashboards_definitions(logs, monkeypatch):
    rr_glob, log_glob = local_globs(str(logs / "warehouse"), str(logs / "logs"))
    assert rr_glob and log_glob  # both sources are read
    con = duckdb.connect()
    con.execute(views_sql(rr_glob, log_glob))
    con.execute("SET TimeZone = 'America/New_York'")  # Superset's sessions: days stay UTC days
    ours = superset_figures(con)
    # open_logs reads the warehouse of the settings: the one the logs were archived to
    monkeypatch.setenv("NBREC_WAREHOUSE", str(logs / "warehouse"))
    get_settings.cache_clear()
    try:
        reference = product_metrics.summary(product_metrics.open_logs(logs / "logs"))
    finally:
        get_settings.cache_clear()
    assert len(ours) == len(reference) == 2
    reference = reference.sort_values(GROUP).reset_index(drop=True)
    for column in ("requests", "users", "ctr", "engagement", "retention_d1", "retention_d7",
                   "churn", "coverage"):  # fmt: skip
        assert ours[column].to_numpy() == pytest.approx(reference[column].to_numpy()), column
    assert (ours["requests"] > 100).all() and (ours["ctr"] > 0).all()


def test_views_are_empty_but_typed_without_logs(tmp_path):
    con = duckdb.connect()
    con.execute(views_sql(*local_globs(str(tmp_path / "w"), str(tmp_path / "logs"))))
    for view in SUPERSET:
        assert con.sql(f"SELECT count(*) FROM {view}").fetchall() == [(0,)]
    assert "clicked" in con.sql("SELECT * FROM bi_requests").columns
