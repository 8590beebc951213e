"""HeldOut: a validation frame prepared once scores models exactly as ``accuracy`` does."""

from __future__ import annotations

import numpy as np
import pytest

from nbrec.constants import USER_COL
from nbrec.data import deduplicate, split
from nbrec.evaluation.holdout import HeldOut
from nbrec.evaluation.metrics import RANKING_METRICS, accuracy
from nbrec.evaluation.tuning import CHUNKS, chunked_score
from nbrec.models import make_model
from nbrec.models.ease import EASE


def by_frames(model, frame, k, metric, parts=CHUNKS) -> float:
    """The slow reference: ``accuracy`` of ``recommend`` frames, part by part."""
    users = frame[USER_COL].unique()
    total = 0.0
    for part in np.array_split(users, parts):
        rows = frame[frame[USER_COL].isin(part)]
        total += accuracy(model.recommend(part, k=k), rows, k)[f"{metric}@{k}"] * len(part)
    return total / len(users)


@pytest.mark.parametrize("model", ["ease", "popularity", "item_knn", "rp3beta"])
def test_held_out_scores_equal_accuracy_of_recommend_frames(tiny_synthetic, model):
    """Unknown users (their cold-start list), users with fewer unseen items than k (-inf
    scores dropped), every metric: the same figure as the frame route."""
    s = split(deduplicate(tiny_synthetic.interactions)).tuning()
    unknown = s.test[USER_COL].unique()[:7]
    fitted = make_model(model).fit(s.train[~s.train[USER_COL].isin(unknown)])
    held_out = HeldOut(s.test, CHUNKS)
    for k in (5, 10, 119):  # 119 of 120 items: most users have fewer unseen items than k
        for metric in RANKING_METRICS:
            want = by_frames(fitted, s.test, k, metric)
            assert held_out.score(fitted, k, metric) == pytest.approx(want, abs=1e-12)


def test_running_means_reported_per_part_and_frames_accepted(tiny_synthetic):
    s = split(deduplicate(tiny_synthetic.interactions)).tuning()
    model = EASE.tuning_session(s.train).model(l2=50.0)
    steps = []
    value = chunked_score(model, s.test, 10, "ndcg", lambda step, mean: steps.append(mean))
    assert len(steps) == CHUNKS and steps[-1] == value
    assert value == pytest.approx(by_frames(model, s.test, 10, "ndcg"), abs=1e-12)
