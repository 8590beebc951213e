"""Sticky assignment of users to variants by hashing, and the service's experiment router.

``bucket(salt, user)`` is a 64-bit blake2b hash of ``salt:user`` mapped to [0, 1): the same on
every replica and in every process (unlike Python's salted ``hash``), with no shared state.
A user's variant depends only on the experiment's salt and allocation, so changing the salt
reshuffles users and changing nothing keeps them sticky.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable
from datetime import datetime
from hashlib import blake2b
from itertools import accumulate

from nbrec.experiments.config import (
    HOLDOUT,
    INTERLEAVED,
    INTERLEAVING,
    LIVE,
    Experiment,
    Variant,
    check_layers,
)
from nbrec.serving.routing import NO_EXPERIMENT, Route

_SCALE = 1.0 / 2**64


def bucket(salt: str, user_id: str) -> float:
    """Uniform position in [0, 1) of ``user_id`` under ``salt``."""
    digest = blake2b(f"{salt}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") * _SCALE


class Allocator:
    """Variant of a user in one experiment: holdout first, then cumulative allocation bounds."""

    def __init__(self, experiment: Experiment):
        self.experiment = experiment
        share = 1.0 - experiment.holdout
        cuts = accumulate(v.allocation * share for v in experiment.variants)
        self._bounds = [experiment.holdout, *(experiment.holdout + c for c in cuts)]
        self._bounds[-1] = 1.0  # float sums may fall short of 1 by an ulp
        self._names = [v.name for v in experiment.variants]
        self._interleaving = experiment.type == INTERLEAVING

    def variant(self, user_id: str) -> str:
        position = bucket(self.experiment.salt, user_id)
        if position < self._bounds[0]:
            return HOLDOUT
        if self._interleaving:
            return INTERLEAVED
        return self._names[bisect.bisect_right(self._bounds, position) - 1]


class Layer:
    """Mutually exclusive experiments: each owns a slice of the layer's hash space."""

    def __init__(self, name: str, experiments: list[Experiment]):
        self.name = name
        self.salt = f"layer:{name}"
        # Order by start then name, so adding a later experiment does not move earlier ones' users.
        ordered = sorted(experiments, key=lambda e: (e.start is None, e.start or 0, e.name))
        self._slices: list[tuple[float, float, Allocator, float, float]] = []
        low = 0.0
        for exp in ordered:
            # Schedules as epoch seconds: comparing floats per request is cheaper than datetimes.
            start = exp.start.timestamp() if exp.start else -math.inf
            end = exp.end.timestamp() if exp.end else math.inf
            self._slices.append((low, low + exp.traffic, Allocator(exp), start, end))
            low += exp.traffic

    def experiment_for(self, user_id: str, now: float) -> Allocator | None:
        """The running experiment of this layer that owns ``user_id`` at ``now`` (epoch s), if any."""
        position = bucket(self.salt, user_id)
        for low, high, allocator, start, end in self._slices:
            if low <= position < high:
                return allocator if start <= now < end else None
        return None


def _precedence(experiment: Experiment) -> tuple:
    """Sort key: which of a user's experiments (one per layer) picks the model; first wins."""
    start = experiment.start.timestamp() if experiment.start else -math.inf
    return (-experiment.priority, start, experiment.layer, experiment.name)


class ExperimentRouter:
    """Maps a user to (experiment, variant, model_version) for the service's routing seam.

    Only running experiments count. A user may be in one experiment per layer; nbrec varies one
    thing per request, the model, so when several of them route the user, one picks the model:
    the highest ``priority``, then the one that started first (no ``start`` counts as earliest),
    then by layer and experiment name. So a newly started experiment in another layer never takes
    a running experiment's users away mid-experiment (their treatment would change and both
    read-outs would mix), and renaming a layer changes nothing. The request is logged under the
    experiment that picked the model only; the others lose those users, which is unbiased
    because layers hash independently (their read-outs cover the users not taken).
    ``live_version`` resolves variants whose model_version is ``live``; ``clock`` is for tests.
    """

    def __init__(
        self,
        experiments: list[Experiment],
        live_version: Callable[[], str | None] = lambda: None,
        clock: Callable[[], datetime] | None = None,
    ):
        check_layers(experiments)
        self.experiments = {e.name: e for e in experiments}
        names = sorted({e.layer for e in experiments})
        self.layers = [Layer(n, [e for e in experiments if e.layer == n]) for n in names]
        self.live_version = live_version
        self.clock = clock

    def _now(self) -> float:
        return self.clock().timestamp() if self.clock else time.time()

    def _assigned(self, user_id: str) -> list[tuple[Experiment, str]]:
        now = self._now()
        found = []
        for layer in self.layers:
            allocator = layer.experiment_for(user_id, now)
            if allocator is not None:
                found.append((allocator.experiment, allocator.variant(user_id)))
        return sorted(found, key=lambda pair: _precedence(pair[0]))

    def assign(self, user_id: str) -> list[tuple[Experiment, str]]:
        """Every (experiment, variant) the user is in right now, one per layer at most, the one
        that picks the model first."""
        return self._assigned(user_id)

    def route(self, user_id: str) -> Route:
        found = self._assigned(user_id)
        if not found:
            return NO_EXPERIMENT
        experiment, variant = found[0]
        if variant == HOLDOUT:
            return Route(experiment.name, HOLDOUT, self.live_version())
        if variant == INTERLEAVED:  # served from team a's version, blended with b's (hooks)
            return Route(experiment.name, variant, self.version_of(experiment.variants[0]))
        return Route(experiment.name, variant, self.version_of(experiment.variant(variant)))

    __call__ = route

    def variant_config(self, experiment: str | None, variant: str | None) -> Variant | None:
        """The variant's config (e.g. to see that it is a bandit policy), None outside experiments."""
        if experiment is None or variant in (None, HOLDOUT, INTERLEAVED):
            return None
        return self.experiments[experiment].variant(variant)

    def version_of(self, variant: Variant) -> str | None:
        """A pinned version, or the live one (None when the caller resolves "live" itself)."""
        if variant.model_version in (None, LIVE):
            return self.live_version()
        return variant.model_version
