"""Serving: publish a model to the feature store and answer requests from it.

``publish`` (the pipeline's hand-off), ``RecommendationService`` (the request path, plain
Python), ``ServingApp`` (its HTTP face, mounted by the BentoML service in bentos/recommender).
Import the submodules directly; this package imports nothing heavy.
"""
