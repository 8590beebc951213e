"""Experiments: config, sticky assignment, online bandits, simulator and analysis.

Modules: ``config`` (experiments/*.yaml), ``assignment`` (hashing, ``ExperimentRouter``),
``online`` (bandit variants on feature-store counters), ``simulator`` (users with known
preferences, in process), ``http_sim`` (the same over HTTP), ``logs`` (RR logs -> frames),
``analysis`` (tests, SRM, power, guardrails, verdict).
"""
