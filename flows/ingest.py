"""Deployable entry point of the ingestion flow (defined in ``nbrec.flows.ingest``).

``python flows/ingest.py --once`` runs one pass; without ``--once`` it serves the flow on its
schedule (every minute; ``--cron`` to change it).
"""

from nbrec.flows.ingest import ingest, main

__all__ = ["ingest"]

if __name__ == "__main__":
    main()
