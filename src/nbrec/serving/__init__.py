"""Serving: answer requests from the feature store (the request path and its HTTP face).

``RecommendationService`` (plain Python: route, look up, filter, fall back, log, measure),
``ServingApp`` (its HTTP face, mounted by the BentoML service in bentos/recommender). What it
plugs in (experiments, monitoring, the RR log writer) comes through small interfaces
(``routing.Router``, ``routing.PolicyHook``, callables), wired by ``nbrec.wiring``; publishing
is the pipeline's (``nbrec.pipeline.publish``). Import the submodules directly; this package
imports nothing heavy.
"""
