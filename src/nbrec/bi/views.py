"""The DuckDB views nbrec's Superset dashboard reads, as SQL text.

The SQL runs in Superset's own virtualenv (its DuckDB writes the database file), so this module
only builds text. Sources: the warehouse's archived RR lines (``$NBREC_WAREHOUSE/rr``, Parquet)
and the JSONL log files not archived yet (a file whose stem is in ``rr/`` is skipped, as
``nbrec.events.reader`` does); with neither, the views are empty with the right columns.

``events``, ``attempts``, ``requests`` and ``feedback`` are the views
``nbrec.monitoring.product_metrics`` reads, defined the same way; the ``bi_*`` views hold one
row per request, group-day, user or served item, so each metric of the embedded dashboard is an
aggregate Superset computes after its native filters (date, version, variant) cut the rows:

- ``bi_requests``: CTR = ``AVG(clicked)``, requests = ``COUNT(*)``, users =
  ``COUNT(DISTINCT user_id)``;
- ``bi_daily``: engagement = ``AVG(engagement)`` (feedback events per active user and day,
  averaged over days);
- ``bi_users``: retention d1/d7 = ``AVG(retained_d1)``/``AVG(retained_d7)`` (NULL where day N
  lies past the logs: no censoring), churn = ``AVG(churned)`` (NULL for users first seen less
  than ``CHURN_DAYS`` before the end of the logs); filtered by the cohort's first day;
- ``bi_served``: coverage = ``COUNT(DISTINCT item_id) / MAX(catalog_size)``.
"""

from __future__ import annotations

from nbrec.monitoring.product_metrics import DAILY_COUNTS, NO_VARIANT
from nbrec.rrlog.schema import COLUMNS, LOG_PATTERN

CHURN_DAYS = 7
RETENTION_DAYS = (1, 7)


def _quote(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _columns() -> str:
    return ", ".join(COLUMNS)


def source_sql(rr_glob: str | None, log_glob: str | None) -> str:
    """Every RR line: the archived Parquet (if any) plus the log files not archived yet."""
    typed = ", ".join(f"{name}: {_quote(kind)}" for name, kind in COLUMNS.items())
    parts = []
    if rr_glob:
        parts.append(
            f"SELECT {_columns()} FROM read_parquet({_quote(rr_glob)}, union_by_name = true)"
        )
    if log_glob:
        archived = (
            f"SELECT parse_filename(filename, true) FROM read_parquet({_quote(rr_glob)}, "
            "filename = true)"
            if rr_glob
            else "SELECT NULL WHERE false"
        )
        parts.append(
            f"SELECT {_columns()} FROM read_json({_quote(log_glob)}, "
            f"format = 'newline_delimited', columns = {{{typed}}}, filename = true, "
            f"ignore_errors = true) WHERE parse_filename(filename, true) NOT IN ({archived})"
        )
    if not parts:
        nulls = ", ".join(f"NULL::{kind} AS {name}" for name, kind in COLUMNS.items())
        parts.append(f"SELECT {nulls} WHERE false")
    return "\nUNION ALL BY NAME\n".join(parts)


def views_sql(rr_glob: str | None, log_glob: str | None) -> str:
    """The statements that (re)create every view, in order."""
    retained = ",\n".join(
        f"""    CASE WHEN first_day + {n} <= last_day THEN (EXISTS (SELECT 1 FROM events e
             WHERE e.user_id = c.user_id AND e.day = c.first_day + {n}))::INT END
             AS retained_d{n}"""
        for n in RETENTION_DAYS
    )
    return f"""
SET TimeZone = 'UTC';
CREATE OR REPLACE VIEW rr AS
{source_sql(rr_glob, log_glob)};
CREATE OR REPLACE VIEW events AS
SELECT * EXCLUDE (model_version, variant),
       coalesce(model_version, 'unknown') AS model_version,
       coalesce(variant, '{NO_VARIANT}') AS variant,
       CAST(timezone('UTC', ts) AS DATE) AS day
FROM rr;
CREATE OR REPLACE VIEW attempts AS SELECT * FROM events WHERE kind = 'request';
CREATE OR REPLACE VIEW requests AS SELECT * FROM attempts WHERE coalesce(status, 200) < 400;
CREATE OR REPLACE VIEW feedback AS SELECT * FROM events WHERE kind = 'feedback';
CREATE OR REPLACE VIEW bi_requests AS
SELECT CAST(r.day AS TIMESTAMP) AS day, r.model_version, r.variant, r.user_id, r.request_id,
       CASE WHEN r.request_id IN (SELECT request_id FROM feedback WHERE event = 'click')
            THEN 1 ELSE 0 END AS clicked,
       coalesce(len(r.items), 0) AS items_served, r.fallback, r.latency_ms
FROM requests r;
CREATE OR REPLACE VIEW bi_daily AS{DAILY_COUNTS}
SELECT CAST(req.day AS TIMESTAMP) AS day, req.model_version, req.variant, requests,
       active_users, coalesce(feedback_events, 0) AS feedback_events,
       coalesce(clicked_requests, 0) AS clicked_requests,
       coalesce(clicked_requests, 0) / requests AS ctr,
       coalesce(feedback_events, 0) / active_users AS engagement
FROM req LEFT JOIN fb USING (model_version, variant, day);
CREATE OR REPLACE VIEW bi_users AS
WITH c AS (
    SELECT user_id, arg_min(model_version, ts) AS model_version,
           arg_min(variant, ts) AS variant, min(day) AS first_day,
           (SELECT max(day) FROM events) AS last_day
    FROM requests GROUP BY user_id
), activity AS (
    SELECT user_id, min(day) AS first_seen, max(day) AS last_active FROM events GROUP BY user_id
)
SELECT CAST(first_day AS TIMESTAMP) AS first_day, c.model_version, c.variant, c.user_id,
{retained},
    CASE WHEN a.first_seen <= last_day - {CHURN_DAYS}
         THEN (a.last_active <= last_day - {CHURN_DAYS})::INT END AS churned
FROM c JOIN activity a USING (user_id);
CREATE OR REPLACE VIEW bi_served AS
WITH catalog AS (
    SELECT greatest(count(DISTINCT item_id), 1) AS catalog_size FROM (
        SELECT unnest(items) AS item_id FROM requests
        UNION ALL SELECT item_id FROM feedback WHERE item_id IS NOT NULL)
)
SELECT CAST(day AS TIMESTAMP) AS day, model_version, variant, unnest(items) AS item_id,
       (SELECT catalog_size FROM catalog) AS catalog_size
FROM requests;
"""


def local_globs(warehouse: str, log_dir: str) -> tuple[str | None, str | None]:
    """The Parquet and JSONL globs of what exists now (a local warehouse; an object-store URL
    is taken as it is: DuckDB reads ``s3://`` through its ``httpfs`` extension)."""
    from pathlib import Path

    rr_glob: str | None = f"{warehouse.rstrip('/')}/rr/*/*.parquet"
    if "://" not in warehouse:
        root = Path(warehouse).resolve()
        rr_glob = str(root / "rr" / "*" / "*.parquet") if any(root.glob("rr/*/*.parquet")) else None
    logs = Path(log_dir).resolve()
    log_glob = str(logs / LOG_PATTERN) if any(logs.glob(LOG_PATTERN)) else None
    return rr_glob, log_glob
