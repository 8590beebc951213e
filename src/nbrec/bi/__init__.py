"""The BI tool (Apache Superset) over nbrec's warehouse: views, provisioning, start.

``nbrec.bi.views`` writes the DuckDB views the dashboard reads (the product metric definitions
of ``nbrec.monitoring.product_metrics``, one row per request/user/served item so Superset's
filters for date, version and variant cut them as ``/dashboard`` does); ``nbrec.bi.superset``
installs Superset in its own virtualenv, provisions the dashboard from ``deploy/superset/`` and
starts it (``make bi``).
"""
