"""The ``Recommender`` interface every model implements, and the data it is fitted on.

A model implements ``_fit(data)`` and ``_score(rows)`` (scores of all catalogue items for a
batch of known users); the base class does the rest the same way for everyone: id mapping,
batching, removal of items seen in training, top-k, unknown users, save and load.

Models take data, not paths: ``fit`` receives frames, ``_fit`` a ``TrainingData`` with the
user x item sparse matrix already built.
"""

from __future__ import annotations

import inspect
import json
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Literal, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nbrec.constants import DEFAULT_K, ITEM_COL, RANK_COL, SCORE_COL, USER_COL
from nbrec.embeddings import Embeddings

# TrainingData and top_k live beside this module; importable from here as before.
from nbrec.models.ranking import _frame, exclude, top_k, top_k_sparse  # noqa: F401
from nbrec.models.similarity import SimilarItems
from nbrec.models.training_data import TrainingData

Unknown = Literal["popular", "drop", "raise"]
FORMAT_VERSION = 1
# A batch of users is scored at once: at most this many floats (batch x catalogue).
SCORE_BUFFER = 1 << 24


class UnknownUserError(KeyError):
    """``recommend(..., unknown="raise")`` met users the model was not fitted on."""


class Recommender(SimilarItems, ABC):
    """Top-k recommendations per user. Subclasses set ``name`` and implement two methods.

    Hyperparameters are the ``__init__`` keyword arguments (sklearn style), stored as
    attributes of the same names. ``search_space`` lists values to try on validation.
    """

    name: ClassVar[str] = "base"
    search_space: ClassVar[dict[str, list]] = {}

    # -- to implement -----------------------------------------------------------------------
    @abstractmethod
    def _fit(self, data: TrainingData) -> None:
        """Learn from ``data``."""

    @abstractmethod
    def _score(self, rows: np.ndarray) -> np.ndarray:
        """Scores (len(rows) x n_items, higher is better) for user codes ``rows``."""

    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (no pickles). Override along with ``_set_state``."""
        return {}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:  # noqa: B027 (optional hook)
        """Restore what ``_state`` returned."""

    def embeddings(self) -> Embeddings | None:
        """Request-time scoring vectors (hybrid models such as LightFM); None if the model has none."""
        return None

    def _cold_scores(self) -> np.ndarray:
        """Scores for a user the model has not seen: popularity in training by default."""
        return self.item_popularity_.astype(np.float32)

    # -- the shared machinery ---------------------------------------------------------------
    def get_params(self) -> dict:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def fit(
        self, interactions: pd.DataFrame, items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
    ) -> Self:  # fmt: skip
        """Fit on an interactions frame (canonical columns) with optional side tables."""
        start = time.perf_counter()
        data = TrainingData.build(interactions, items, users)
        self.user_ids_, self.item_ids_ = data.user_ids, data.item_ids
        self.seen_ = data.matrix
        self.item_popularity_ = np.asarray((data.matrix > 0).sum(axis=0)).ravel().astype(np.float32)
        self._fit(data)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "item_ids_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(...) first")

    def user_rows(self, user_ids) -> np.ndarray:
        """Codes of ``user_ids`` (-1 for unknown users)."""
        self._check_fitted()
        return self.user_ids_.get_indexer(pd.Index(np.asarray(user_ids).astype(str)))

    def recommend(
        self,
        user_ids,
        k: int = DEFAULT_K,
        exclude_seen: bool = True,
        unknown: Unknown = "popular",
    ) -> pd.DataFrame:
        """Top-``k`` items per user as a frame ``user_id, item_id, score, rank`` (rank 1 = best).

        Items the user interacted with in training are excluded unless ``exclude_seen=False``.
        Users not seen in training get the model's cold-start scores (``unknown="popular"``),
        are left out (``"drop"``) or raise ``UnknownUserError`` (``"raise"``).
        """
        self._check_fitted()
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        users = pd.unique(pd.Series(np.asarray(user_ids).astype(str)))
        rows = self.user_ids_.get_indexer(pd.Index(users))
        known = rows >= 0
        if not known.all() and unknown == "raise":
            raise UnknownUserError(
                f"{int((~known).sum())} unknown user(s), e.g. {users[~known][:3].tolist()}"
            )
        k = min(k, len(self.item_ids_))
        parts = []
        if known.any():
            items, scores = self.top_k_rows(rows[known], k, exclude_seen)
            parts.append(_frame(users[known], self.item_ids_, items, scores))
        if (~known).any() and unknown == "popular":
            cold = np.broadcast_to(self._cold_scores(), (1, len(self.item_ids_)))
            items, scores = top_k(cold, k)
            n = int((~known).sum())
            parts.append(
                _frame(
                    users[~known], self.item_ids_, np.repeat(items, n, 0), np.repeat(scores, n, 0)
                )
            )
        if not parts:
            return pd.DataFrame({USER_COL: [], ITEM_COL: [], SCORE_COL: [], RANK_COL: []})
        return pd.concat(parts, ignore_index=True)

    def top_k_rows(self, rows: np.ndarray, k: int, exclude_seen: bool = True):
        """Item codes and scores (len(rows) x k) for known user codes, in batches."""
        batch = max(1, SCORE_BUFFER // max(len(self.item_ids_), 1))
        items_out = np.empty((len(rows), k), dtype=np.int64)
        scores_out = np.empty((len(rows), k), dtype=np.float32)
        sparse = getattr(self, "_score_sparse", None)  # item-to-item models: no dense rows
        for lo in range(0, len(rows), batch):
            chunk = rows[lo : lo + batch]
            if sparse is not None:
                seen = self.seen_[chunk] if exclude_seen else None
                found = top_k_sparse(sparse(chunk), seen, k)
                if found is not None:
                    items_out[lo : lo + batch], scores_out[lo : lo + batch] = found
                    continue
            scores = np.array(self._score(chunk), dtype=np.float32, copy=True)
            if exclude_seen:
                exclude(scores, self.seen_[chunk])
            items_out[lo : lo + batch], scores_out[lo : lo + batch] = top_k(scores, k)
        return items_out, scores_out

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``model.json`` (class, params) and ``state.npz`` (arrays only) into ``path``."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "model": self.name,
            "params": self.get_params(),
            "fit_seconds": getattr(self, "fit_seconds_", None),
        }
        (path / "model.json").write_text(json.dumps(meta, indent=2, default=_jsonable))
        seen = self.seen_
        arrays = {
            "user_ids": self.user_ids_.to_numpy(dtype=str),
            "item_ids": self.item_ids_.to_numpy(dtype=str),
            "item_popularity": self.item_popularity_,
            "seen_indptr": seen.indptr, "seen_indices": seen.indices, "seen_data": seen.data,
        }  # fmt: skip
        state = self._state()
        clash = set(arrays) & set(state)
        if clash:
            raise ValueError(f"{self.name}: state keys {clash} are reserved")
        np.savez(path / "state.npz", **arrays, **{f"m_{key}": v for key, v in state.items()})
        return path

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load any saved model (the class is looked up by name in the model registry)."""
        from nbrec.models.registry import get_model_class

        path = Path(path)
        meta = json.loads((path / "model.json").read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported model format {meta.get('format')!r}")
        model_cls = get_model_class(meta["model"])
        if cls is not Recommender and not issubclass(model_cls, cls):
            raise TypeError(f"{path} holds a {model_cls.__name__}, not a {cls.__name__}")
        model = model_cls(**meta["params"])
        with np.load(path / "state.npz", allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        model.user_ids_ = pd.Index(arrays["user_ids"], name=USER_COL)
        model.item_ids_ = pd.Index(arrays["item_ids"], name=ITEM_COL)
        model.item_popularity_ = arrays["item_popularity"]
        model.seen_ = sp.csr_matrix(
            (arrays["seen_data"], arrays["seen_indices"], arrays["seen_indptr"]),
            shape=(len(model.user_ids_), len(model.item_ids_)),
        )
        model._set_state({key[2:]: v for key, v in arrays.items() if key.startswith("m_")})
        model.fit_seconds_ = meta.get("fit_seconds")
        return model

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} as a model parameter")
