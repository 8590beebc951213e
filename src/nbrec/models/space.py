"""Search spaces: what a model's ``search_space`` maps each hyperparameter to.

A list is a categorical choice (tried as given); ``FloatRange`` / ``IntRange`` are intervals,
sampled uniformly or on a log scale. ``nbrec.evaluation.tuning`` turns them into Optuna
distributions; nothing here imports Optuna.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    def __post_init__(self):
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(f"bad range {self}: need low < high (and low > 0 on a log scale)")


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False

    def __post_init__(self):
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(f"bad range {self}: need low < high (and low > 0 on a log scale)")


def default_point(space: dict) -> dict:
    """A representative point: the middle of each range (geometric on a log scale), the
    first choice of each list."""
    point = {}
    for name, dim in space.items():
        if isinstance(dim, FloatRange | IntRange):
            mid = (dim.low * dim.high) ** 0.5 if dim.log else (dim.low + dim.high) / 2
            point[name] = int(round(mid)) if isinstance(dim, IntRange) else float(mid)
        else:
            point[name] = list(dim)[0]
    return point
