from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbrec.constants import ITEM_COL, USER_COL
from nbrec.models import Recommender, make_model
from nbrec.models.lightfm_model import holdout, ndcg_at_k
from tests.conftest import checkerboard
from tests.models.contract import PersonalisedContract

FAST = {"no_components": 16, "max_epochs": 40, "patience": 5, "learning_rate": 0.05, "seed": 1}


def side_tables(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The checkerboard's hidden groups as side features: users' taste, items' genre."""
    users = pd.DataFrame({USER_COL: frame[USER_COL].unique()})
    users["taste"] = np.where(users[USER_COL].str[1:].astype(int) % 2 == 0, "even", "odd")
    users["region"] = "north"  # an uninformative feature
    items = pd.DataFrame({ITEM_COL: frame[ITEM_COL].unique()})
    items["genres"] = np.where(items[ITEM_COL].str[1:].astype(int) % 2 == 0, "Even", "Odd")
    return users, items


class TestLightFMWarp(PersonalisedContract):
    def make_model(self):
        return make_model("lightfm", loss="warp", **FAST)


class TestLightFMBPRHybrid(PersonalisedContract):
    """BPR with side features on both sides."""

    def make_model(self):
        return make_model("lightfm", loss="bpr", **FAST)

    @pytest.fixture
    def fitted(self):
        data = checkerboard()
        users, items = side_tables(data)
        return self.make_model().fit(data, items, users)


@pytest.fixture(scope="module")
def hybrid():
    data = checkerboard(n_users=60, n_items=30)
    users, items = side_tables(data)
    return make_model("lightfm", loss="warp", **FAST).fit(data, items, users)


def test_cold_start_user_with_only_features_via_embeddings(hybrid):
    """The service's dot product on ``embeddings()`` ranks the new user's group first."""
    emb = hybrid.embeddings()
    assert emb.item_vectors.shape == (30, 16) and emb.item_bias.shape == (30,)
    names = emb.user_feature_names
    assert {"taste=even", "taste=odd", "region=north"} <= set(names)
    for taste, parity in (("even", 0), ("odd", 1)):
        rows = [names.index(f"taste={taste}"), names.index("region=north")]
        scores = emb.user_feature_vectors[rows].sum(axis=0) @ emb.item_vectors.T + emb.item_bias
        top = hybrid.item_ids_[np.argsort(-scores)[:10]]
        assert np.mean(top.str[1:].astype(int) % 2 == parity) >= 0.9
        np.testing.assert_allclose(
            scores, hybrid.score_user_features([f"taste={taste}", "region=north"]), rtol=1e-5
        )


def test_cold_start_item_with_only_metadata(hybrid):
    """A new 'Even' item scores higher for even users than for odd users, and vice versa."""
    vectors, bias = hybrid.item_vectors_for(
        pd.DataFrame({ITEM_COL: ["new1", "new2"], "genres": ["Even", "Odd"]})
    )
    assert vectors.shape == (2, 16) and bias.shape == (2,)
    rows = hybrid.user_rows([f"u{u:03d}" for u in range(60)])
    scores = hybrid.user_vectors_[rows] @ vectors.T + bias  # users x new items
    even_user = np.arange(60) % 2 == 0
    assert np.mean(scores[even_user, 0] > scores[even_user, 1]) >= 0.9
    assert np.mean(scores[~even_user, 1] > scores[~even_user, 0]) >= 0.9


def test_embeddings_reproduce_known_user_scores(hybrid):
    """Known users' scores are their id + feature vectors dotted with the item vectors."""
    rows = hybrid.user_rows(["u000", "u001"])
    emb = hybrid.embeddings()
    np.testing.assert_allclose(
        hybrid._score(rows),
        hybrid.user_vectors_[rows] @ emb.item_vectors.T + emb.item_bias,
        rtol=1e-5,
    )


def test_save_load_keeps_cold_start(hybrid, tmp_path):
    loaded = Recommender.load(hybrid.save(tmp_path / "m"))
    np.testing.assert_allclose(
        loaded.score_user_features(["taste=odd"]), hybrid.score_user_features(["taste=odd"])
    )
    assert loaded.embeddings().user_feature_names == hybrid.embeddings().user_feature_names
    assert not any(p.suffix == ".pkl" for p in (tmp_path / "m").iterdir())


def test_early_stopping_records_a_validation_curve(hybrid):
    curve = hybrid.validation_curve_
    assert 1 <= hybrid.best_epochs_ <= len(curve) <= FAST["max_epochs"]
    assert curve[hybrid.best_epochs_ - 1] == max(curve)


def test_early_stopping_scores_a_seeded_sample_of_holdout_users(monkeypatch):
    """Past EARLY_STOP_USERS the per-epoch holdout NDCG is over a seeded sample (at scale
    scoring the holdout was most of a fit): the fit still stops at its best epoch and learns
    (LightFM's threads are not deterministic, so no two curves are compared)."""
    from nbrec.models import lightfm_model

    monkeypatch.setattr(lightfm_model, "EARLY_STOP_USERS", 12)
    data = checkerboard(n_users=60, n_items=30)
    model = make_model("lightfm", loss="warp", **FAST).fit(data)
    curve = model.validation_curve_
    assert curve[model.best_epochs_ - 1] == max(curve) > 0.2


def test_holdout_and_ndcg_hand_case():
    import scipy.sparse as sp

    matrix = sp.csr_matrix(np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 0]], dtype=np.float32))
    keep, held = holdout(matrix, 0.5, seed=0)
    assert (keep + held != matrix).nnz == 0 and keep.multiply(held).nnz == 0
    assert np.diff(held.indptr).tolist() == [2, 0, 1]  # a user with one interaction keeps it
    seen = sp.csr_matrix(np.array([[1, 0, 0, 0]], dtype=np.float32))
    relevant = sp.csr_matrix(np.array([[0, 0, 1, 1]], dtype=np.float32))
    scores = np.array([[9.0, 3.0, 2.0, 1.0]])  # ranked: item1 (miss), item2, item3
    expected = (1 / np.log2(3) + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    assert ndcg_at_k(scores, seen, relevant, k=3) == pytest.approx(expected)


def test_bad_loss_is_explained():
    with pytest.raises(ValueError, match="loss must be"):
        make_model("lightfm", loss="hinge").fit(checkerboard())


def test_recommend_from_features_for_new_users(hybrid):
    new = pd.DataFrame(
        {USER_COL: ["n1", "n2"], "taste": ["even", "odd"], "region": ["north", "north"]}
    )
    recs = hybrid.recommend_from_features(new, k=5)
    assert len(recs) == 10 and list(recs.columns) == [USER_COL, ITEM_COL, "score", "rank"]
    parity = recs[ITEM_COL].str[1:].astype(int) % 2
    assert (parity[recs[USER_COL] == "n1"] == 0).all() and (
        parity[recs[USER_COL] == "n2"] == 1
    ).all()


def test_similar_items_share_the_genre(hybrid):
    similar = hybrid.similar_items("i004", k=5)
    assert len(similar) == 5 and "i004" not in set(similar[ITEM_COL])
    assert (similar[ITEM_COL].str[1:].astype(int) % 2 == 0).mean() >= 0.8
    with pytest.raises(KeyError, match="nope"):
        hybrid.similar_items("nope")
