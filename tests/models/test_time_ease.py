"""time_ease: the contract, the time-kernel Gram against a dense computation, EASE without time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbrec.constants import ITEM_COL, TIMESTAMP_COL, USER_COL
from nbrec.models import make_model
from nbrec.models.base import TrainingData
from nbrec.models.ease import ease_weights
from nbrec.models.time_ease import time_gram
from tests.conftest import checkerboard
from tests.models.contract import PersonalisedContract


class TestTimeEASE(PersonalisedContract):
    def make_model(self):
        return make_model("time_ease", l2=10.0, session_weight=1.0, time_scale=3600.0)


def events(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[USER_COL, ITEM_COL, TIMESTAMP_COL])
    frame[TIMESTAMP_COL] = pd.to_datetime(frame[TIMESTAMP_COL], unit="s", utc=True)
    return frame


def test_time_gram_matches_the_dense_kernel_sum():
    rng = np.random.default_rng(5)
    rows = [(f"u{u}", f"i{i}", int(rng.integers(0, 20_000)))
            for u in range(12) for i in rng.choice(9, size=5, replace=False)]  # fmt: skip
    data = TrainingData.build(events(rows))
    got = time_gram(data, 3000.0).toarray()
    frame = data.interactions
    seconds = np.array([row[2] for row in rows], dtype=float)  # the frame keeps their order
    want = np.zeros_like(got)
    for u in np.unique(frame["user_code"]):
        mine = np.flatnonzero(frame["user_code"].to_numpy() == u)
        for a in mine:
            for b in mine:
                gap = abs(seconds[a] - seconds[b])
                if gap < 9.2 * 3000.0:
                    want[frame["item_code"].iloc[a], frame["item_code"].iloc[b]] += np.exp(
                        -gap / 3000.0
                    )
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert np.all(np.linalg.eigvalsh(got) > -1e-9)  # positive semi-definite: the fit is safe


def test_items_used_together_in_time_become_neighbours():
    """Both pairs are co-held by the same users; only (a, b) share sessions: b follows a."""
    rows = []
    for u in range(30):
        t = u * 100_000
        rows += [(f"u{u}", "a", t), (f"u{u}", "b", t + 60),  # one sitting
                 (f"u{u}", "c", t), (f"u{u}", "d", t + 50_000)]  # half a day apart  # fmt: skip
    rows += [(f"v{u}", i, u * 7) for u in range(10) for i in ("a", "c", "e")]

    def weight(model, i, j):  # B[i, j]: how much holding i raises j's score
        codes = model.item_ids_.get_indexer([i, j])
        return float(model.dense_[codes[0], codes[1]])

    timed = make_model("time_ease", l2=5.0, session_weight=2.0, time_scale=600.0).fit(events(rows))
    b = ease_weights(timed.history_, 5.0)  # plain EASE on the same matrix
    codes = timed.item_ids_.get_indexer(["a", "b", "c", "d"])
    assert b[codes[0], codes[1]] == pytest.approx(b[codes[2], codes[3]], rel=1e-4)  # symmetric
    assert weight(timed, "a", "b") > 1.5 * weight(timed, "c", "d")


def test_without_timestamps_it_is_ease():
    board = checkerboard().drop(columns=[TIMESTAMP_COL])
    timed = make_model("time_ease", l2=10.0).fit(board)
    assert not timed.used_time_
    ease = make_model("ease", l2=10.0).fit(board)
    users = board[USER_COL].unique()
    np.testing.assert_allclose(
        timed._score(timed.user_rows(users)), ease._score(ease.user_rows(users)), atol=1e-4
    )


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="time_scale"):
        make_model("time_ease", time_scale=0.0).fit(checkerboard())
    with pytest.raises(ValueError, match="l2"):
        make_model("time_ease", l2=-1.0).fit(checkerboard())
