"""Product metrics from the RR logs (requests + feedback), computed with DuckDB.

Everything is keyed by ``(model_version, variant)``, so a new model or experiment arm shows up
without changing a line here or in the dashboard notebook. Definitions (one place, documented):

- **requests / users**: answered requests (status < 400) and distinct users in the group;
  refused requests only count in ``error_rate``.
- **CTR**: requests with at least one ``click`` feedback event / requests.
- **engagement**: feedback events per active user per day (active = sent a request that day),
  averaged over the group's days.
- **retention d-N**: a user's cohort is the group and day of their first request; they are
  retained on day N if they sent a request or feedback event exactly N days later. Only cohorts
  whose day N lies inside the logs count (no censoring).
- **churn**: among users first seen at least ``churn_days`` before the end of the logs, the share
  with no activity in the last ``churn_days`` days.
- **coverage / novelty**: the offline definitions (``nbrec.evaluation.metrics``) applied to the
  items the group served; novelty's popularity is the share of users with feedback on the item.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd

from nbrec.rrlog.reader import log_files
from nbrec.rrlog.schema import COLUMNS, LOG_PATTERN

GROUP = ["model_version", "variant"]
NO_VARIANT = "(none)"


def open_logs(log_dir: str | Path, pattern: str = LOG_PATTERN) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with ``events`` (table), ``requests`` and ``feedback`` (views).

    The lines are the warehouse's archived RR logs plus the JSONL tail not archived yet
    (``nbrec.events.reader``).
    """
    from nbrec.events.reader import rr_table

    lines = rr_table(log_dir, pattern=pattern)
    if lines.num_rows == 0:
        log_files(log_dir, pattern)  # raises, saying where it looked and what to do
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # days are UTC days whatever the machine's zone
    con.register("rr_lines", lines)
    source = f"(SELECT {', '.join(COLUMNS)} FROM rr_lines)"
    # Parsed once into an in-memory table: every metric below reads it again.
    con.execute(f"""
        CREATE TABLE events AS
        SELECT * EXCLUDE (model_version, variant),
               coalesce(model_version, 'unknown') AS model_version,
               coalesce(variant, '{NO_VARIANT}') AS variant,
               CAST(ts AS DATE) AS day
        FROM {source}""")
    # Refused requests (4xx/5xx) are logged too, with no items: they count as errors, not as
    # empty answers.
    con.execute("CREATE VIEW attempts AS SELECT * FROM events WHERE kind = 'request'")
    con.execute("CREATE VIEW requests AS SELECT * FROM attempts WHERE coalesce(status, 200) < 400")
    con.execute("CREATE VIEW feedback AS SELECT * FROM events WHERE kind = 'feedback'")
    return con


def traffic(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Requests, users, CTR, fallback, empty-answer and error rates, latency per group."""
    return con.sql("""
        WITH clicked AS (
            SELECT DISTINCT request_id FROM feedback WHERE event = 'click'
        ), errors AS (
            SELECT model_version, variant, avg((coalesce(status, 200) >= 400)::INT) AS error_rate
            FROM attempts GROUP BY ALL
        )
        SELECT model_version, variant, any_value(error_rate) AS error_rate,
               count(*) AS requests,
               count(DISTINCT user_id) AS users,
               avg(CASE WHEN c.request_id IS NULL THEN 0 ELSE 1 END) AS ctr,
               avg(CASE WHEN coalesce(fallback, 'none') = 'none' THEN 0 ELSE 1 END) AS fallback_rate,
               avg(CASE WHEN coalesce(len(items), 0) = 0 THEN 1 ELSE 0 END) AS empty_rate,
               quantile_cont(latency_ms, 0.5) AS latency_p50_ms,
               quantile_cont(latency_ms, 0.99) AS latency_p99_ms
        FROM requests r LEFT JOIN clicked c USING (request_id)
        LEFT JOIN errors USING (model_version, variant)
        GROUP BY model_version, variant ORDER BY model_version, variant""").df()


# Per group and UTC day: requests and active users (req), feedback events and clicked requests
# (fb). The embedded dashboard and the BI tool's views (nbrec.bi.views) both count from it.
DAILY_COUNTS = """
WITH req AS (
    SELECT model_version, variant, day, count(*) AS requests,
           count(DISTINCT user_id) AS active_users
    FROM requests GROUP BY ALL
), fb AS (
    SELECT model_version, variant, day, count(*) AS feedback_events,
           count(DISTINCT CASE WHEN event = 'click' THEN request_id END) AS clicked_requests
    FROM feedback GROUP BY ALL
)"""


def daily(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per group and UTC day: requests, active users, CTR and engagement."""
    return con.sql(f"""{DAILY_COUNTS}
        SELECT req.*, coalesce(feedback_events, 0) AS feedback_events,
               coalesce(clicked_requests, 0) / requests AS ctr,
               coalesce(feedback_events, 0) / active_users AS engagement
        FROM req LEFT JOIN fb USING (model_version, variant, day)
        ORDER BY ALL""").df()


def retention(con: duckdb.DuckDBPyConnection, days: tuple[int, ...] = (1, 7)) -> pd.DataFrame:
    """Share of each group's first-day cohort active again exactly N days later."""
    parts = [
        f"""avg(CASE WHEN first_day + {n} <= last_day
                     THEN (EXISTS (SELECT 1 FROM events e WHERE e.user_id = c.user_id
                                   AND e.day = c.first_day + {n}))::INT END) AS retention_d{n},
            count(CASE WHEN first_day + {n} <= last_day THEN 1 END) AS cohort_d{n}"""
        for n in days
    ]
    return con.sql(f"""
        WITH c AS (
            SELECT user_id, arg_min(model_version, ts) AS model_version,
                   arg_min(variant, ts) AS variant, min(day) AS first_day,
                   (SELECT max(day) FROM events) AS last_day
            FROM requests GROUP BY user_id
        )
        SELECT model_version, variant, {", ".join(parts)}
        FROM c GROUP BY ALL ORDER BY ALL""").df()


def churn(con: duckdb.DuckDBPyConnection, churn_days: int = 7) -> pd.DataFrame:
    """Share of eligible users with no activity in the last ``churn_days`` days of the logs."""
    return con.sql(f"""
        WITH u AS (
            SELECT user_id, arg_min(model_version, ts) FILTER (WHERE kind = 'request') AS model_version,
                   arg_min(variant, ts) FILTER (WHERE kind = 'request') AS variant,
                   min(day) AS first_day, max(day) AS last_active
            FROM events GROUP BY user_id
        ), edge AS (SELECT max(day) - {churn_days} AS cutoff FROM events)
        SELECT model_version, variant,
               avg((last_active <= cutoff)::INT) AS churn, count(*) AS churn_eligible
        FROM u, edge
        WHERE first_day <= cutoff AND model_version IS NOT NULL
        GROUP BY ALL ORDER BY ALL""").df()


def coverage_novelty(
    con: duckdb.DuckDBPyConnection, catalog_size: int | None = None
) -> pd.DataFrame:
    """Catalog coverage and novelty of the served items per group.

    The offline definitions (``nbrec.evaluation.metrics.catalog_coverage`` / ``novelty``, which
    the tests compare against), computed inside DuckDB: millions of served items never become
    a pandas frame. Popularity p(i) = share of users with feedback on i (1 user if none).
    """
    if not catalog_size:  # every item the logs mention stands in for the catalogue
        ((catalog_size,),) = con.sql("""
            SELECT count(DISTINCT item_id) FROM (
                SELECT unnest(items) AS item_id FROM requests
                UNION ALL SELECT item_id FROM feedback WHERE item_id IS NOT NULL)""").fetchall()
    return con.sql(f"""
        WITH fb AS (SELECT DISTINCT user_id, item_id FROM feedback WHERE item_id IS NOT NULL),
        total AS (SELECT greatest(count(DISTINCT user_id), 1) AS users FROM fb),
        pop AS (SELECT item_id, count(*) AS users FROM fb GROUP BY item_id),
        served AS (SELECT model_version, variant, unnest(items) AS item_id FROM requests)
        SELECT model_version, variant,
               count(DISTINCT item_id) / {max(int(catalog_size), 1)} AS coverage,
               avg(-log2(least(greatest(coalesce(pop.users, 1) / total.users, 1e-12), 1)))
                   AS novelty
        FROM served LEFT JOIN pop USING (item_id), total
        GROUP BY ALL ORDER BY ALL""").df()


def engagement(daily_frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over days of feedback events per active user, per group."""
    return daily_frame.groupby(GROUP, as_index=False)["engagement"].mean()


def summary(
    con: duckdb.DuckDBPyConnection, catalog_size: int | None = None, churn_days: int = 7
) -> pd.DataFrame:
    """One row per (model_version, variant) with every product metric of the dashboard."""
    frame = traffic(con)
    for part in (
        engagement(daily(con)),
        retention(con),
        churn(con, churn_days),
        coverage_novelty(con, catalog_size),
    ):
        frame = frame.merge(part, on=GROUP, how="left")
    return frame


def read_leaderboard(path: str | Path | None) -> pd.DataFrame:
    """The offline leaderboard (``nbrec leaderboard --format json``); empty if no path/file."""
    if not path or not Path(path).is_file():
        return pd.DataFrame(columns=["model"])
    return pd.DataFrame(json.loads(Path(path).read_text()))


def model_names() -> dict[str, str]:
    """``{version: model name}`` from the model store; empty if it cannot be read."""
    try:
        from nbrec.pipeline import model_store

        return {entry.version: entry.model for entry in model_store.list_model_versions()}
    except Exception:  # a dashboard without the model store still shows the online figures
        return {}


def validation_figures() -> pd.DataFrame:
    """Per registered version, the validation figure ``nbrec train`` recorded, as the column
    ``offline_<metric>`` (``offline_ndcg@10``); empty without a model store."""
    try:
        from nbrec.pipeline import model_store

        versions = model_store.list_model_versions()
    except Exception:  # no model store: the leaderboard file (if any) stands alone
        return pd.DataFrame(columns=["model_version"])
    rows = [
        {"model_version": v.version, f"offline_{v.metrics['metric']}": v.metrics.get("candidate")}
        for v in versions
        if v.metrics.get("metric")
    ]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["model_version"])


def offline_vs_online(
    online: pd.DataFrame,
    leaderboard: pd.DataFrame,
    models: dict[str, str] | None = None,
    validation: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Online figures next to the offline ones of the model each version was trained from.

    A version's model comes from ``models`` (the model store: pipeline versions are hashes), else
    from the longest leaderboard ``model`` name the version contains (``popularity-20260101``);
    ``validation`` (``validation_figures()``) fills in each version's own validation figure;
    unmatched versions keep NaN offline figures.
    """
    names = sorted(
        leaderboard.get("model", pd.Series(dtype=str)).astype(str), key=len, reverse=True
    )
    models = models or {}

    def model_of(version: str) -> str | None:
        if version in models:
            return models[version]
        return next((name for name in names if name in version), None)

    frame = online.assign(model=online["model_version"].map(model_of))
    offline = leaderboard.rename(
        columns={c: f"offline_{c}" for c in leaderboard.columns if c != "model"}
    )
    frame = frame.merge(offline, on="model", how="left") if names else frame
    # ``validation``: a version's own validation figure (from the model store) wherever the
    # leaderboard has none for it.
    for column in (validation if validation is not None else pd.DataFrame()).columns:
        if column == "model_version":
            continue
        own = frame["model_version"].map(validation.set_index("model_version")[column])
        frame[column] = frame[column].fillna(own) if column in frame else own
    return frame
