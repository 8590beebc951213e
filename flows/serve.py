"""Serve the scheduled deployments (``make schedule``): daily retraining, hourly monitoring and
report, defined in ``nbrec.flows.schedules``; ``--train-cron`` / ``--monitor-cron`` to change them.
"""

from nbrec.flows.schedules import deployments, main

__all__ = ["deployments"]

if __name__ == "__main__":
    main()
