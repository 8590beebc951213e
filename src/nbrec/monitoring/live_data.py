"""The figures of the live product dashboard (``GET /dashboard``), for a date range, a model
version and an experiment variant.

RR lines are read through ``nbrec.events.reader.connect``: the warehouse's archived Parquet
(``$NBREC_WAREHOUSE/rr``, a pyarrow dataset DuckDB scans with the filters pushed down) plus the
log files not archived yet. The filters become views in a schema of their own (``dash``) that
shadows the reader's names, so the metric definitions of ``nbrec.monitoring.product_metrics`` (one
home) run unchanged on the filtered lines and nothing is copied into memory first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from nbrec.monitoring import product_metrics as report

ALL = ""  # the "every version / variant" choice


@dataclass(frozen=True)
class Filters:
    """What the page's form chooses; every field optional."""

    start: date | None = None
    end: date | None = None
    version: str = ALL
    variant: str = ALL

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Filters:
        """From the page's query string; a bad date raises ValueError naming it."""

        def day(name: str) -> date | None:
            text = (query.get(name) or "").strip()
            if not text:
                return None
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"{name}={text!r} is not a date (YYYY-MM-DD)") from None

        start, end = day("start"), day("end")
        if start and end and start > end:
            raise ValueError(f"start {start} is after end {end}")
        return cls(
            start, end, (query.get("version") or "").strip(), (query.get("variant") or "").strip()
        )


@dataclass
class DashboardData:
    filters: Filters
    choices: pd.DataFrame  # model_version, variant, first, last, lines: over every line
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    daily: pd.DataFrame = field(default_factory=pd.DataFrame)
    offline: pd.DataFrame = field(default_factory=pd.DataFrame)
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)
    feedback_events: int = 0

    @property
    def has_traffic(self) -> bool:
        return not self.summary.empty


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _where(filters: Filters) -> str:
    clauses = ["true"]
    if filters.start:
        clauses.append(f"CAST(ts AS DATE) >= DATE '{filters.start.isoformat()}'")
    if filters.end:
        clauses.append(f"CAST(ts AS DATE) <= DATE '{filters.end.isoformat()}'")
    if filters.version:
        clauses.append(f"coalesce(model_version, 'unknown') = {_quote(filters.version)}")
    if filters.variant:
        clauses.append(f"coalesce(variant, '{report.NO_VARIANT}') = {_quote(filters.variant)}")
    return " AND ".join(clauses)


def connect_filtered(filters: Filters, log_dir: str | Path | None = None, warehouse=None):
    """A DuckDB connection whose ``events``/``attempts``/``requests``/``feedback`` are the
    filtered RR lines (views: DuckDB reads the sources when a metric asks)."""
    from nbrec.events.reader import connect

    con = connect(log_dir, warehouse)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA dash")
    con.execute(f"""
        CREATE VIEW dash.events AS
        SELECT * EXCLUDE (model_version, variant),
               coalesce(model_version, 'unknown') AS model_version,
               coalesce(variant, '{report.NO_VARIANT}') AS variant,
               CAST(ts AS DATE) AS day
        FROM main.rr WHERE {_where(filters)}""")
    con.execute("CREATE VIEW dash.attempts AS SELECT * FROM dash.events WHERE kind = 'request'")
    con.execute(
        "CREATE VIEW dash.requests AS SELECT * FROM dash.attempts WHERE coalesce(status, 200) < 400"
    )
    con.execute("CREATE VIEW dash.feedback AS SELECT * FROM dash.events WHERE kind = 'feedback'")
    con.execute("SET search_path = 'dash,main'")
    return con


def choices(con) -> pd.DataFrame:
    """Every (version, variant) in the logs with its first and last day, before filtering."""
    return con.sql(f"""
        SELECT coalesce(model_version, 'unknown') AS model_version,
               coalesce(variant, '{report.NO_VARIANT}') AS variant,
               CAST(min(ts) AS DATE) AS first, CAST(max(ts) AS DATE) AS last, count(*) AS lines
        FROM main.rr WHERE kind = 'request' GROUP BY ALL ORDER BY ALL""").df()


def offline_by_version() -> pd.DataFrame:
    """The offline (validation) figures the registry recorded for each version it holds."""
    try:
        from nbrec.pipeline import model_store

        versions = model_store.list_model_versions()
    except Exception:  # no registry yet: the online figures stand alone
        versions = []
    rows = [
        {
            "model_version": v.version,
            "model": v.model,
            "created": v.created[:16].replace("T", " "),
            "metric": v.metrics.get("metric"),
            "offline": v.metrics.get("candidate"),
            "popularity": v.metrics.get("popularity"),
        }
        for v in versions
    ]
    return pd.DataFrame(
        rows, columns=["model_version", "model", "created", "metric", "offline", "popularity"]
    )


def collect(filters: Filters, log_dir: str | Path | None = None, warehouse=None) -> DashboardData:
    """Every figure the page shows, for ``filters``."""
    con = connect_filtered(filters, log_dir, warehouse)
    try:
        data = DashboardData(filters, choices(con), offline=offline_by_version())
        ((requests,),) = con.sql("SELECT count(*) FROM requests").fetchall()
        ((data.feedback_events,),) = con.sql("SELECT count(*) FROM feedback").fetchall()
        if requests:
            data.summary = report.summary(con)
            data.daily = report.daily(con)
            metric = data.offline["metric"].dropna()
            name = f"offline_{metric.iloc[0]}" if len(metric) else "offline"
            data.comparison = data.summary.merge(
                data.offline[["model_version", "model", "offline"]].rename(
                    columns={"offline": name}
                ),
                on="model_version",
                how="left",
            )
        return data
    finally:
        con.close()
