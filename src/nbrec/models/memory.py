"""How much memory fitting a model takes, and the budget a run has to stay within.

Every model's estimate is an upper bound on the bytes its ``fit`` (and scoring a batch) adds
to the process at its peak, from the shape of the data alone, so the pipeline can refuse or
skip a model *before* it allocates anything:

- ``common_bytes``: what ``Recommender.fit`` builds for every model (codes, the sparse
  matrix, the seen-items copy) and the scoring buffers of ``top_k_rows``;
- ``Model.memory_bytes(shape, params)``: what the model itself adds (a classmethod; models
  without one add nothing measurable: popularity, bandits).

``MemoryBudget`` says what is left: the machine's available memory (psutil), a configured
ceiling for the whole run (``NBREC_MEMORY_BUDGET_GB``) and an address-space limit the process
runs under (``ulimit -v`` / ``prlimit --as``), whichever is smallest.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psutil

from nbrec.constants import ITEM_COL, USER_COL
from nbrec.models.base import SCORE_BUFFER

GIB = 2**30
# Bytes per interaction that Recommender.fit holds besides the model: factorised codes (int64
# x2), weights, COO and CSR copies of the matrix, the seen matrix kept for scoring.
FIT_BYTES_PER_INTERACTION = 64
SCORE_COPIES = 4  # scores, their copy, argpartition indices and values per scoring batch


class MemoryBudgetError(MemoryError):
    """A step would need more memory than the run has left: refused before allocating."""


@dataclass(frozen=True)
class DataShape:
    """What memory estimates depend on: users, items, interactions and the co-occurrence bound.

    ``cooccurrence`` bounds the non-zeros of the item x item product X'X: the sum over users of
    their number of items squared, capped at n_items**2.
    """

    n_users: int
    n_items: int
    nnz: int
    cooccurrence: int

    @classmethod
    def of(cls, interactions: pd.DataFrame) -> DataShape:
        """The shape of an interactions frame (rows count as distinct pairs: an upper bound)."""
        per_user = interactions[USER_COL].value_counts(sort=False).to_numpy()
        n_items = int(interactions[ITEM_COL].nunique())
        pairs = int(np.sum(per_user.astype(np.int64) ** 2))
        return cls(len(per_user), n_items, int(per_user.sum()), min(pairs, n_items**2))


def common_bytes(shape: DataShape) -> int:
    """Bytes every model's ``fit`` and batched scoring hold, whatever the model."""
    return shape.nnz * FIT_BYTES_PER_INTERACTION + SCORE_BUFFER * 4 * SCORE_COPIES


def fit_bytes(model_cls, shape: DataShape, params: dict | None = None) -> int:
    """Upper bound of the bytes fitting ``model_cls(**params)`` on data of ``shape`` adds."""
    own = getattr(model_cls, "memory_bytes", None)
    return common_bytes(shape) + (int(own(shape, params or {})) if own else 0)


def gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


@dataclass
class MemoryBudget:
    """The memory a run may still take: the smallest of what the machine has available (less
    ``reserve``), ``limit_bytes`` minus the process's resident memory, and the address-space
    limit minus its virtual size."""

    limit_bytes: int | None = None
    reserve: float = 0.1

    @classmethod
    def from_gb(cls, gb: float | None) -> MemoryBudget:
        return cls(int(gb * GIB) if gb else None)

    def left(self) -> int:
        process = psutil.Process().memory_info()
        left = psutil.virtual_memory().available * (1 - self.reserve)
        if self.limit_bytes is not None:
            left = min(left, self.limit_bytes - process.rss)
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            left = min(left, soft * (1 - self.reserve) - process.vms)
        return max(0, int(left))

    def describe(self) -> str:
        parts = [f"available on the machine {gib(psutil.virtual_memory().available)}",
                 f"this process holds {gib(psutil.Process().memory_info().rss)}"]  # fmt: skip
        if self.limit_bytes is not None:
            parts.append(f"budget NBREC_MEMORY_BUDGET_GB={self.limit_bytes / GIB:g}")
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            parts.append(f"address-space limit {gib(soft)}")
        return ", ".join(parts)

    def fits(self, need: int) -> bool:
        return need <= self.left()

    def check(self, what: str, need: int, hint: str = "") -> None:
        """Raise ``MemoryBudgetError`` with the figures when ``need`` bytes are not left."""
        left = self.left()
        if need > left:
            raise MemoryBudgetError(
                f"{what} needs about {gib(need)} but only {gib(left)} is left "
                f"({self.describe()}). {hint}".strip()
            )
