"""Deployable entry point of the product report flow (defined in ``nbrec.flows.report``).

``python flows/report.py --once`` rebuilds the dashboard now; without ``--once`` it serves the
flow on its schedule (hourly; ``--cron`` to change it).
"""

from nbrec.flows.report import main, performance_report

__all__ = ["performance_report"]

if __name__ == "__main__":
    main()
