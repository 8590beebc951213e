"""How long one fit of a model takes, estimated from the data's shape before fitting.

A model class may give ``fit_flops(shape, params)``: the floating-point operations its
``fit`` does at the dominant step (dense factorisations). ``fit_seconds`` divides that by
``FLOPS_PER_SECOND``, what one core sustains in LAPACK on a loaded 2-core machine (measured:
``time_ease`` on 9.7k items, about 9e11 flops, took 60 s at load 5-10, i.e. 1.5e10/s; its
quiet-machine speed is higher, so the estimate errs on the slow side). Models without
``fit_flops`` (iterative or sparse ones, bounded by their own trial budgets) have no estimate.
The leaderboard uses this to skip, with the reason, a model whose fits would not fit in its
share of ``--time-budget`` (``nbrec.evaluation.leaderboard``).
"""

from __future__ import annotations

from nbrec.models.memory import DataShape

FLOPS_PER_SECOND = 1.5e10


def fit_seconds(model_cls, shape: DataShape, params: dict | None = None) -> float | None:
    """Estimated seconds of one ``model_cls(**params).fit`` on data of ``shape``, or None."""
    flops = getattr(model_cls, "fit_flops", None)
    if flops is None:
        return None
    return float(flops(shape, params or {})) / FLOPS_PER_SECOND
