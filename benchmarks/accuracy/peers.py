"""Peer libraries on nbrec's identical split, each tuned on the same validation split.

Benchmark-only code (the ``bench`` extra): Cornac EASE and BPR, implicit ALS and BPR, and
LightFM used directly (ids only, WARP). Every peer is fitted on the binary user x item matrix
of the same training frame, its top-k (training items excluded) is scored by nbrec's own
metrics, and its hyperparameters are chosen like nbrec's: Optuna TPE on sub_train ->
validation, the library's documented defaults tried first, the same trial count and time
budget per model. The test split is scored once, with the chosen parameters fitted on train.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import optuna
import pandas as pd
import scipy.sparse as sp

from nbrec.constants import DEFAULT_SEED, ITEM_COL, RANK_COL, SCORE_COL, USER_COL
from nbrec.data.splits import Split
from nbrec.evaluation.metrics import accuracy
from nbrec.evaluation.tuning import distributions, suggest
from nbrec.models import TrainingData, top_k
from nbrec.models.base import exclude
from nbrec.models.space import FloatRange, IntRange

Scorer = Callable[[np.ndarray], np.ndarray]  # user rows -> scores (rows x items)
THREADS = 2


def cornac_ease(x: sp.csr_matrix, p: dict, seed: int) -> Scorer:
    import cornac

    model = cornac.models.EASE(lamb=p["lamb"], posB=p["posB"], seed=seed, verbose=False)
    data, perm = _cornac_data(x, seed)
    model.fit(data)
    return lambda rows: np.asarray(model.U[rows] @ model.B)[:, perm]


def cornac_bpr(x: sp.csr_matrix, p: dict, seed: int) -> Scorer:
    import cornac

    model = cornac.models.BPR(k=p["k"], max_iter=p["max_iter"], learning_rate=p["learning_rate"],
                              lambda_reg=p["lambda_reg"], seed=seed, num_threads=THREADS)  # fmt: skip
    data, perm = _cornac_data(x, seed)
    model.fit(data)
    return lambda rows: (model.u_factors[rows] @ model.i_factors.T + model.i_biases)[:, perm]


def implicit_als(x: sp.csr_matrix, p: dict, seed: int) -> Scorer:
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(factors=p["factors"], regularization=p["regularization"],
                                    alpha=p["alpha"], iterations=p["iterations"],
                                    num_threads=THREADS, random_state=seed)  # fmt: skip
    model.fit(x, show_progress=False)
    return lambda rows: model.user_factors[rows] @ model.item_factors.T


def implicit_bpr(x: sp.csr_matrix, p: dict, seed: int) -> Scorer:
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    model = BayesianPersonalizedRanking(factors=p["factors"], learning_rate=p["learning_rate"],
                                        regularization=p["regularization"],
                                        iterations=p["iterations"], num_threads=THREADS,
                                        random_state=seed)  # fmt: skip
    model.fit(x, show_progress=False)
    return lambda rows: model.user_factors[rows] @ model.item_factors.T


def lightfm_warp(x: sp.csr_matrix, p: dict, seed: int) -> Scorer:
    from lightfm import LightFM

    model = LightFM(no_components=p["no_components"], loss="warp",
                    learning_rate=p["learning_rate"], item_alpha=p["item_alpha"],
                    random_state=seed)  # fmt: skip
    model.fit(x.tocoo(), epochs=p["epochs"], num_threads=THREADS)
    bias, vectors = model.get_item_representations()
    _, users = model.get_user_representations()
    return lambda rows: users[rows] @ vectors.T + bias


# name -> (fit, search space, defaults tried first: the library's own or its published ones)
PEERS = {
    "cornac_ease": (cornac_ease, {"lamb": FloatRange(20.0, 5000.0, log=True),
                                  "posB": [False, True]}, {"lamb": 500.0, "posB": True}),
    "cornac_bpr": (cornac_bpr, {"k": IntRange(16, 256, log=True),
                                "max_iter": IntRange(50, 400, log=True),
                                "learning_rate": FloatRange(1e-3, 0.1, log=True),
                                "lambda_reg": FloatRange(1e-4, 0.1, log=True)},
                   {"k": 200, "max_iter": 100, "learning_rate": 0.01, "lambda_reg": 0.001}),
    "implicit_als": (implicit_als, {"factors": IntRange(16, 256, log=True),
                                    "regularization": FloatRange(1e-3, 10.0, log=True),
                                    "alpha": FloatRange(0.5, 50.0, log=True),
                                    "iterations": IntRange(5, 50)},
                     {"factors": 100, "regularization": 0.01, "alpha": 1.0, "iterations": 15}),
    "implicit_bpr": (implicit_bpr, {"factors": IntRange(16, 256, log=True),
                                    "learning_rate": FloatRange(1e-3, 0.1, log=True),
                                    "regularization": FloatRange(1e-4, 0.1, log=True),
                                    "iterations": IntRange(50, 400, log=True)},
                     {"factors": 100, "learning_rate": 0.01, "regularization": 0.01,
                      "iterations": 100}),
    "lightfm_warp": (lightfm_warp, {"no_components": IntRange(16, 128, log=True),
                                    "learning_rate": FloatRange(0.01, 0.1, log=True),
                                    "item_alpha": FloatRange(1e-8, 1e-3, log=True),
                                    "epochs": IntRange(10, 80)},
                     {"no_components": 64, "learning_rate": 0.05, "item_alpha": 1e-6,
                      "epochs": 30}),
}  # fmt: skip


def _cornac_data(x: sp.csr_matrix, seed: int):
    """A Cornac Dataset of ``x`` and ``perm``: our column c is Cornac's item ``perm[c]``."""
    import cornac

    coo = x.tocoo()
    triples = list(zip(coo.row.astype(str), coo.col.astype(str), np.ones(coo.nnz), strict=True))
    data = cornac.data.Dataset.from_uir(triples, seed=seed)
    users = np.array([data.uid_map[str(u)] for u in range(x.shape[0])])
    if not (users == np.arange(x.shape[0])).all():  # rows come in order: Cornac keeps them
        raise RuntimeError("Cornac renumbered users")
    return data, np.array([data.iid_map[str(i)] for i in range(x.shape[1])])


class Fitted:
    """A peer fitted on a frame: codes from nbrec's TrainingData, recommendations as a frame."""

    def __init__(self, name: str, params: dict, frame: pd.DataFrame, seed: int):
        fit = PEERS[name][0]
        data = TrainingData.build(frame)
        self.x = data.matrix.copy()
        self.x.data[:] = 1.0
        self.user_ids, self.item_ids = data.user_ids, data.item_ids
        start = time.perf_counter()
        self.scorer = fit(self.x.astype(np.float32), params, seed)
        self.fit_seconds = time.perf_counter() - start

    def recommend(self, users, k: int) -> pd.DataFrame:
        rows = self.user_ids.get_indexer(pd.Index(np.asarray(users).astype(str)))
        rows = rows[rows >= 0]
        parts = []
        for lo in range(0, len(rows), 1024):
            chunk = rows[lo : lo + 1024]
            scores = np.array(self.scorer(chunk), dtype=np.float32)
            exclude(scores, self.x[chunk])
            idx, vals = top_k(scores, k)
            parts.append(pd.DataFrame({
                USER_COL: np.repeat(self.user_ids.to_numpy()[chunk], idx.shape[1]),
                ITEM_COL: self.item_ids.to_numpy()[idx.ravel()], SCORE_COL: vals.ravel(),
                RANK_COL: np.tile(np.arange(1, idx.shape[1] + 1), len(chunk)),
            }))  # fmt: skip
        return pd.concat(parts, ignore_index=True)


def tune_peer(name: str, data_split: Split, k: int, max_trials: int, time_budget: float | None,
              seed: int = DEFAULT_SEED, say=print) -> tuple[dict, float, int, float]:  # fmt: skip
    """(best params, best validation ndcg@k, trials run, tuning seconds) on sub_train -> validation."""
    _, space, defaults = PEERS[name]
    tuning = data_split.tuning()
    dists = distributions(space)
    val_users = tuning.test[USER_COL].unique()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, max_trials // 3)),
    )
    study.enqueue_trial(defaults)

    def objective(trial):
        params = {n: suggest(trial, n, d) for n, d in dists.items()}
        model = Fitted(name, params, tuning.train, seed)
        value = accuracy(model.recommend(val_users, k), tuning.test, k)[f"ndcg@{k}"]
        say(f"peer {name} trial {trial.number + 1}/{max_trials}: {params} -> ndcg@{k} {value:.4f}")
        return value

    start = time.perf_counter()
    study.optimize(objective, n_trials=max_trials, timeout=time_budget)
    return study.best_params, study.best_value, len(study.trials), time.perf_counter() - start
