"""Linear autoencoders solved in closed form: EASE and EDLAE.

- EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW): a ridge
  regression of every item on all the others, ``B = I - P diagMat(1/diag(P))``,
  ``P = (X'X + l2 I)^-1``.
- EDLAE (Steck 2020, "Autoencoders that don't overfit towards the Identity", NeurIPS): the
  emphasized denoising (dropout) variant; its full-rank solution is EASE's with the
  regulariser ``Lambda = l2 + p / (1 - p) diag(X'X)``: popular items are shrunk harder, which
  stops the model from learning the identity through them.

How it is solved (``nbrec.models.linear``): with fewer users than items (most real
catalogues) through a users x users eigendecomposition and kept factored, so neither memory
nor time is items x items; otherwise a Cholesky inverse of the dense Gram matrix. Tuning EASE
costs one eigendecomposition for every ``l2``, an EDLAE trial one users x users inverse
(``tuning_session``, ``LinearSession``).

Memory: the dense route needs about ``EASE_COPIES * n_items**2 * 8`` bytes (2.3 GB for 10k
items), the factored route ``FACTORED_COPIES * n_items * n_users * 8``. ``fit`` checks that
against ``max_memory_gb`` (default: what the run has left, ``nbrec.models.memory``) and raises
``CatalogueTooLargeError`` or, with ``on_too_large="knn"``, switches to item-kNN.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nbrec.models.base import Recommender, TrainingData
from nbrec.models.item2item import ItemKNN, binary, knn_weights
from nbrec.models.linear import (
    CholeskyScores,
    Factored,
    Spectrum,
    cholesky_solution,
    ridge_weights,
)
from nbrec.models.registry import register
from nbrec.models.similarity import positive
from nbrec.models.space import FloatRange

EASE_COPIES = 3  # dense n x n float64 arrays alive at once on the dense route
FACTORED_COPIES = 4  # items x rank float64 arrays alive at once on the factored route
TUNING_FLOAT64_RANK = 1000  # tuning sessions factorise in float32 above this rank


class CatalogueTooLargeError(MemoryError):
    """EASE would need more memory than allowed for this catalogue."""


def ease_bytes(n_items: int, n_users: int | None = None) -> int:
    """Peak bytes EASE/EDLAE need to fit (see module docstring); dense route without users."""
    if n_users is not None and n_users < n_items:
        return FACTORED_COPIES * n_items * n_users * 8 + 2 * n_users * n_users * 8
    return EASE_COPIES * n_items * n_items * 8


def ease_weights(x: sp.csr_matrix, l2: float) -> np.ndarray:
    """EASE's dense B for a binary matrix ``x`` (float32, zero diagonal)."""
    return ridge_weights(x, np.full(x.shape[1], float(l2)))


class LinearAutoencoder(Recommender):
    """Shared fitting, scoring, ``similar_items`` and saving for EASE and EDLAE.

    Subclasses give ``regulariser(gram_diagonal)``: the diagonal Lambda of their problem.
    """

    on_too_large: str
    max_memory_gb: float | None

    def regulariser(self, gram_diagonal: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def memory_limit_bytes(self) -> int:
        """``max_memory_gb``, or what the run has left now (``nbrec.models.memory``)."""
        if self.max_memory_gb is not None:
            return int(self.max_memory_gb * 2**30)
        from nbrec.models.memory import MemoryBudget

        return MemoryBudget().left()

    @classmethod
    def memory_bytes(cls, shape, params: dict) -> int:
        """``ease_bytes`` of the route the data takes (for the pipeline's budget)."""
        return ease_bytes(shape.n_items, shape.n_users)

    @classmethod
    def fit_flops(cls, shape, params: dict) -> float:
        """The dominant step (``nbrec.models.cost``): ``users**2 x items`` on the factored
        route (Cholesky and triangular solve), ``items**3`` on the dense one."""
        if shape.n_users < shape.n_items:
            return float(shape.n_users) ** 2 * shape.n_items + float(shape.n_users) ** 3 / 3
        return float(shape.n_items) ** 3

    def _fit(self, data: TrainingData) -> None:
        if self.on_too_large not in ("raise", "knn"):
            raise ValueError(f"on_too_large must be 'raise' or 'knn', got {self.on_too_large!r}")
        self.history_ = binary(data.matrix)
        n_users, n_items = self.history_.shape
        need, limit = ease_bytes(n_items, n_users), self.memory_limit_bytes()
        self.dense_, self.factored_, self.tuned_, self.method_ = None, None, None, self.name
        if need > limit:
            if self.on_too_large == "raise":
                raise CatalogueTooLargeError(
                    f"EASE on {n_items:,} items needs about {need / 2**30:.1f} GiB "
                    f"({n_users:,} users) but the limit is {limit / 2**30:.1f} GiB "
                    f"(max_memory_gb={self.max_memory_gb}). Use the 'item_knn' or 'rp3beta' "
                    "model, filter rare items, or pass on_too_large='knn'."
                )
            knn = ItemKNN()
            self.method_ = "knn"
            self.dense_ = knn_weights(self.history_, knn.neighbours, knn.shrink, knn.alpha)
            return
        if self.__dict__.pop("_template", False):  # an EASESession factorises the data once
            return
        lam = self.regulariser(np.asarray(self.history_.sum(axis=0)).ravel().astype(np.float64))
        if n_users < n_items:
            self.factored_ = cholesky_solution(self.history_, lam)
        else:
            self.dense_ = ridge_weights(self.history_, lam)

    def _use_spectrum(self, spectrum: Spectrum) -> None:
        """B at this ``l2`` from a shared factorisation: ``ShiftScores`` scores the training
        users without a rows x users x items product (users < items)."""
        solution = spectrum.shift_scores(float(self.l2))
        self.dense_, self.factored_, self.tuned_, self.method_ = None, None, None, self.name
        if isinstance(solution, Factored):
            self.factored_ = solution
        else:
            self.tuned_ = solution

    def _solved(self) -> None:
        """A tuning model asked for more than scores: its ``Factored`` form, built once."""
        if getattr(self, "tuned_", None) is not None and self.factored_ is None:
            self.factored_ = self.tuned_.solution()

    def _score(self, rows: np.ndarray) -> np.ndarray:
        if getattr(self, "tuned_", None) is not None:
            return self.tuned_.scores(rows, self.history_[rows])
        if self.factored_ is not None:
            return self.factored_.scores(self.history_[rows])
        scores = self.history_[rows] @ self.dense_
        return scores.toarray() if sp.issparse(scores) else np.asarray(scores)

    def _item_similarity(self, codes: np.ndarray) -> np.ndarray:
        """Rows of ``B``: how much each item raises every other item's score."""
        self._solved()
        if self.factored_ is not None:
            return positive(np.vstack([self.factored_.row(code) for code in codes]))
        return positive(self.dense_[codes])

    def _state(self) -> dict[str, np.ndarray]:
        self._solved()
        if self.factored_ is not None:
            return self.factored_.state()
        if sp.issparse(self.dense_):
            w = self.dense_.tocsr()
            return {"w_data": w.data, "w_indices": w.indices, "w_indptr": w.indptr}
        return {"w_dense": self.dense_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        n = len(self.item_ids_)
        self.dense_ = self.factored_ = self.tuned_ = None
        if "f_a" in state:
            self.factored_ = Factored.from_state(state)
        elif "w_dense" in state:
            self.dense_ = state["w_dense"]
        else:
            self.dense_ = sp.csr_matrix(
                (state["w_data"], state["w_indices"], state["w_indptr"]), shape=(n, n)
            )
        self.history_ = binary(self.seen_)


@register
class EASE(LinearAutoencoder):
    """EASE (Steck 2019): closed-form item-to-item ridge regression with a zero diagonal.

    Accurate and quick on catalogues up to tens of thousands of items when users are fewer
    than items (factored route); tune ``l2`` (cheap: ``tuning_session``).
    """

    name = "ease"
    search_space: ClassVar[dict] = {"l2": FloatRange(20.0, 5000.0, log=True)}

    def __init__(
        self,
        l2: float = 400.0,
        max_memory_gb: float | None = None,
        on_too_large: Literal["raise", "knn"] = "raise",
    ):
        self.l2, self.max_memory_gb, self.on_too_large = l2, max_memory_gb, on_too_large

    def regulariser(self, gram_diagonal: np.ndarray) -> np.ndarray:
        return np.full(len(gram_diagonal), float(self.l2))

    @classmethod
    def tuning_session(cls, interactions: pd.DataFrame, **_side) -> LinearSession:
        """Every ``l2`` from one eigendecomposition: ``session.model(l2=...)`` is a fitted EASE."""
        return LinearSession(interactions, cls)


class LinearSession:
    """Fitted EASE/EDLAE models for many hyperparameters without a fit per trial.

    The data are prepared once (memory guard, history); a trial copies that template. EASE:
    one factorisation, every ``l2`` scored through ``ShiftScores`` (users < items) or the
    item-space ``Factored``. EDLAE (its regulariser changes with ``dropout``), users < items:
    one users x users Cholesky inverse per trial (``CholeskyScores``). No items x items matrix,
    no ``rows x users x items`` product; otherwise a normal fit per trial.
    """

    def __init__(self, interactions: pd.DataFrame, model_cls: type[LinearAutoencoder]):
        self.cls, self.interactions = model_cls, interactions
        self.template = model_cls()
        self.template._template = True  # fit checks memory and keeps the history, no solve
        self.template.fit(interactions)
        history = self.template.history_
        usable = self.template.method_ == model_cls.name
        self.cheap = usable and (model_cls is EASE or history.shape[0] < history.shape[1])
        self.spectrum = None
        if usable and model_cls is EASE:
            # float32 above TUNING_FLOAT64_RANK: half the eigendecomposition's time; the
            # chosen l2 gets a normal fit, so only the ranking of l2 values sees the rounding.
            dtype = np.float32 if min(history.shape) > TUNING_FLOAT64_RANK else np.float64
            self.spectrum = Spectrum(history, dtype=dtype)

    def model(self, **params) -> LinearAutoencoder:
        model = self.cls(**params)
        if not self.cheap:  # the template fell back to kNN, or EDLAE's dense route
            return model.fit(self.interactions)
        model.__dict__.update({k: v for k, v in self.template.__dict__.items() if k.endswith("_")})
        if self.spectrum is not None:
            model._use_spectrum(self.spectrum)
            return model
        history = model.history_
        lam = model.regulariser(np.asarray(history.sum(axis=0)).ravel().astype(np.float64))
        model.dense_, model.factored_ = None, None
        model.tuned_ = CholeskyScores(history, lam)
        return model


EASESession = LinearSession


@register
class EDLAE(LinearAutoencoder):
    """EDLAE (Steck 2020): EASE trained as a dropout-denoising autoencoder.

    ``dropout`` p adds ``p / (1 - p)`` times each item's count to its regulariser; ``l2`` is
    the constant part. Usually at least as accurate as EASE; one factorisation per trial.
    """

    name = "edlae"
    search_space: ClassVar[dict] = {
        "l2": FloatRange(5.0, 3000.0, log=True),
        "dropout": FloatRange(0.05, 0.95),
    }

    def __init__(
        self,
        l2: float = 200.0,
        dropout: float = 0.8,
        max_memory_gb: float | None = None,
        on_too_large: Literal["raise", "knn"] = "raise",
    ):
        self.l2, self.dropout = l2, dropout
        self.max_memory_gb, self.on_too_large = max_memory_gb, on_too_large

    @classmethod
    def tuning_session(cls, interactions: pd.DataFrame, **_side) -> LinearSession:
        """Trials without a fit each (``LinearSession``): one Cholesky inverse per trial."""
        return LinearSession(interactions, cls)

    def regulariser(self, gram_diagonal: np.ndarray) -> np.ndarray:
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        return float(self.l2) + self.dropout / (1 - self.dropout) * gram_diagonal
