"""RP3beta and the blend: the contract, the walk against a dense computation, the weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from nbrec.models import make_model
from nbrec.models.blend import simplex, standardised
from nbrec.models.rp3beta import rp3beta_weights
from tests.conftest import checkerboard
from tests.models.contract import PersonalisedContract


class TestRP3beta(PersonalisedContract):
    def make_model(self):
        return make_model("rp3beta", alpha=1.0, beta=0.3, neighbours=10)


class TestBlend(PersonalisedContract):
    def make_model(self):
        return make_model("blend", members="ease,rp3beta", member_params={"ease": {"l2": 10.0}})


def test_rp3beta_matches_the_dense_walk():
    rng = np.random.default_rng(3)
    x = sp.csr_matrix((rng.random((30, 12)) < 0.4).astype(np.float32))
    dense = x.toarray().astype(float)
    n_i, n_u = dense.sum(0), dense.sum(1)
    p_iu = (dense / np.maximum(n_i, 1)).T ** 0.7
    p_ui = (dense / np.maximum(n_u, 1)[:, None]) ** 0.7
    w = p_iu @ p_ui / np.maximum(n_i, 1) ** 0.4
    np.fill_diagonal(w, 0)
    np.testing.assert_allclose(rp3beta_weights(x, 0.7, 0.4, 12).toarray(), w, rtol=1e-5)
    top3 = rp3beta_weights(x, 0.7, 0.4, 3).toarray()
    assert ((top3 > 0).sum(axis=1) <= 3).all()
    np.testing.assert_allclose(top3.max(axis=1), w.max(axis=1), rtol=1e-5)


def test_standardised_ignores_seen_items():
    scores = np.array([[100.0, 1.0, 2.0, 3.0]])
    z = standardised(scores, sp.csr_matrix([[1, 0, 0, 0]]))
    np.testing.assert_allclose(z[0, 1:], [-1.2247449, 0.0, 1.2247449], rtol=1e-5)
    assert z[0, 0] == 0


def test_simplex_grid():
    points = simplex(3, 5)
    assert len(points) == 21 and all(abs(p.sum() - 1) < 1e-12 for p in points)


def test_blend_learns_to_drop_a_useless_member():
    """Random scores never help: the learned weight of `random` is 0 and it is not refitted."""
    model = make_model("blend", members="ease,random", member_params={"ease": {"l2": 10.0}}).fit(
        checkerboard()
    )
    assert model.weights_ == {"ease": 1.0}
    assert list(model.members_) == ["ease"]


def test_fixed_weights_skip_learning():
    model = make_model("blend", members="ease,rp3beta", weights={"ease": 0.5, "rp3beta": 0.5})
    model.fit(checkerboard())
    assert model.weights_ == {"ease": 0.5, "rp3beta": 0.5}
    assert not hasattr(model, "validation_curve_")


def test_weights_on_a_given_validation_split_score_like_the_leaderboard(board):
    """weights_on's NDCG at a corner of the simplex is the member's own validation NDCG."""
    from nbrec.data.splits import stratified_split
    from nbrec.evaluation.metrics import accuracy

    train, validation = stratified_split(board, 0.25, 1)
    blend = make_model("blend", members="ease,rp3beta", member_params={"ease": {"l2": 10.0}})
    weights, score = blend.weights_on(train, validation)
    ease = make_model("ease", l2=10.0).fit(train)
    direct = accuracy(ease.recommend(validation["user_id"].unique(), k=10), validation, 10)
    curve = {tuple(w): s for w, s in blend.validation_curve_}
    assert curve[(1.0, 0.0)] == pytest.approx(direct["ndcg@10"], abs=1e-6)
    assert score == max(curve.values()) and abs(sum(weights.values()) - 1) < 1e-9


def test_blend_reuses_members_fitted_on_the_same_data_only(board):
    """Given models fitted on the same data with the member's parameters, the blend uses
    them as they are (no second fit) and recommends as a blend fitted from scratch; a model
    with other parameters or other data is fitted again."""
    weights = {"ease": 0.5, "rp3beta": 0.5}
    params = {"ease": {"l2": 10.0}}
    ease, rp3 = make_model("ease", l2=10.0).fit(board), make_model("rp3beta").fit(board)
    reused = make_model("blend", members="ease,rp3beta", member_params=params, weights=weights)
    reused.fit(board, fitted={"ease": ease, "rp3beta": rp3})
    assert reused.members_["ease"] is ease and reused.members_["rp3beta"] is rp3
    fresh = make_model("blend", members="ease,rp3beta", member_params=params, weights=weights)
    users = board["user_id"].unique()[:5]
    pd.testing.assert_frame_equal(reused.recommend(users), fresh.fit(board).recommend(users))
    other_l2 = make_model("ease", l2=20.0).fit(board)
    other_data = make_model("rp3beta").fit(board.iloc[5:])
    again = make_model("blend", members="ease,rp3beta", member_params=params, weights=weights)
    again.fit(board, fitted={"ease": other_l2, "rp3beta": other_data})
    assert again.members_["ease"] is not other_l2 and again.members_["rp3beta"] is not other_data
