"""The Prefect flows, shipped with the package: ``training``, ``monitoring`` (hourly check of
what is live), ``report`` (the product dashboard) and ``schedules`` (their deployments).

The top-level ``flows/*.py`` are the deployable entry points and import these. Every task is
one call into the layers below (``nbrec.pipeline``, ``nbrec.monitoring``). Import the
submodules directly: importing this package does not import Prefect.
"""
