"""The routing seam: which experiment, variant and model version serve a user.

``nbrec.experiments.assignment.ExperimentRouter`` implements ``Router`` (its ``Assignment`` has
the same three fields); ``LiveRouter`` is the default when no experiment runs.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Route(NamedTuple):
    """Where a request goes. ``model_version=None`` means the live version."""

    experiment: str | None
    variant: str | None
    model_version: str | None


class Router(Protocol):
    """Maps a user to (experiment, variant, model_version); the experiments seam."""

    def route(self, user_id: str) -> Route: ...


class LiveRouter:
    """The default: everyone gets the live version, no experiment."""

    NO_EXPERIMENT = Route(None, None, None)

    def route(self, user_id: str) -> Route:
        return self.NO_EXPERIMENT
