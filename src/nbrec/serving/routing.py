"""The routing seam: which experiment, variant and model version serve a user, and by what policy.

``nbrec.experiments.assignment.ExperimentRouter`` implements ``Router``; ``LiveRouter`` is the
default when no experiment runs. ``Route``, ``NO_EXPERIMENT`` and ``Slate`` are defined here
only: the experiments package uses these types. A variant may be
answered by an online policy (a bandit) instead of a model's precomputed lists: a
``PolicyHook`` (``nbrec.experiments.hooks.BanditVariants``) names that policy for a route.
A route may also be answered by an ``Interleaver``: one answer blending two model versions'
lists (the service looks both up as usual, the interleaver picks and names each item's team).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Route(NamedTuple):
    """Where a request goes. ``model_version=None`` means the live version."""

    experiment: str | None
    variant: str | None
    model_version: str | None


NO_EXPERIMENT = Route(None, None, None)


class Router(Protocol):
    """Maps a user to (experiment, variant, model_version); the experiments seam."""

    def route(self, user_id: str) -> Route: ...


class LiveRouter:
    """The default: everyone gets the live version, no experiment."""

    def route(self, user_id: str) -> Route:
        return NO_EXPERIMENT


class Slate(NamedTuple):
    """A policy's answer: items, their scores and the probability each was shown (or None)."""

    items: list[str]
    scores: list[float]
    propensities: list[float] | None


class VariantPolicy(Protocol):
    """An online policy answering one variant from a candidate pool, learning from feedback.

    The service builds the pool (the served version's most popular items the user may see) and
    logs the slate; the policy picks from it and counts what it showed and what was rewarded.
    Both methods may raise ``nbrec.store.StoreError`` (the service then falls back).
    """

    name: str  # logged as the RR line's ``policy``
    pool_size: int

    def recommend(self, pool: list[str], k: int) -> Slate: ...

    def feedback(self, item_id: str, event: str) -> bool: ...


class PolicyHook(Protocol):
    """The policy that answers a route, or None for a model-version route (the common case)."""

    def policy(self, route: Route) -> VariantPolicy | None: ...

    def interleaver(self, route: Route) -> Interleaver | None:
        """The blend answering ``route`` (an interleaving experiment's users), else None."""
        ...


class Interleaver(Protocol):
    """Blends two model versions' lists into one answer (an interleaving experiment).

    ``versions``: (a, b), None meaning the live version. ``interleave`` gets both versions'
    filtered lists (best first) and a key (the request id) that makes the blend reproducible;
    it returns the items and each one's team (``"a"``/``"b"``), logged as the RR line's ``teams``.
    """

    name: str  # logged as the RR line's ``policy``
    versions: tuple[str | None, str | None]

    def interleave(
        self, list_a: list[str], list_b: list[str], k: int, key: str
    ) -> tuple[list[str], list[str]]: ...
