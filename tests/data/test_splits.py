"""Splits: disjoint, no leakage, the protocol's proportions, validation carved from train."""

from __future__ import annotations

import pandas as pd
import pytest

from nbrec.constants import ITEM_COL, TIMESTAMP_COL, USER_COL
from nbrec.data import deduplicate, leave_last_split, split, stratified_split, temporal_split


def pairs(frame: pd.DataFrame) -> set:
    return set(zip(frame[USER_COL], frame[ITEM_COL], strict=True))


@pytest.fixture(scope="module")
def events(tiny_synthetic):
    return deduplicate(tiny_synthetic.interactions)


def test_stratified_disjoint_complete_and_proportional(events):
    train, test = stratified_split(events, 0.25, seed=42)
    assert not pairs(train) & pairs(test)
    assert len(train) + len(test) == len(events)
    assert len(test) / len(events) == pytest.approx(0.25, abs=0.02)
    # every user with >= 2 events keeps at least one in train
    sizes = events.groupby(USER_COL).size()
    assert set(sizes[sizes >= 2].index) <= set(train[USER_COL])
    per_user = test.groupby(USER_COL).size() / sizes
    assert per_user.dropna().between(0.0, 0.6).all()


def test_stratified_is_deterministic_for_a_seed(events):
    a, _ = stratified_split(events, 0.25, seed=1)
    b, _ = stratified_split(events, 0.25, seed=1)
    c, _ = stratified_split(events, 0.25, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert pairs(a) != pairs(c)


def test_temporal_no_test_event_before_cutoff(events):
    cutoff = events[TIMESTAMP_COL].quantile(0.7)
    train, test = temporal_split(events, cutoff)
    assert test[TIMESTAMP_COL].min() >= cutoff
    assert train[TIMESTAMP_COL].max() < cutoff
    assert len(train) + len(test) == len(events)


def test_leave_last_takes_each_users_latest(events):
    train, test = leave_last_split(events, n=2)
    assert not pairs(train) & pairs(test)
    assert test.groupby(USER_COL).size().eq(2).all()
    latest_train = train.groupby(USER_COL)[TIMESTAMP_COL].max()
    earliest_test = test.groupby(USER_COL)[TIMESTAMP_COL].min()
    assert (latest_train.reindex(earliest_test.index) <= earliest_test).all()


@pytest.mark.parametrize("method", ["stratified", "temporal", "leave-last"])
def test_validation_is_carved_out_of_train(events, method):
    s = split(events, method, seed=42)
    assert not pairs(s.train) & pairs(s.test)
    assert pairs(s.sub_train) | pairs(s.validation) == pairs(s.train)
    assert not pairs(s.sub_train) & pairs(s.validation)
    assert not pairs(s.validation) & pairs(s.test)
    assert s.protocol["split"] == method and s.protocol["seed"] == 42
    tuning = s.tuning()
    assert tuning.train is s.sub_train and tuning.test is s.validation


def test_unknown_split_is_refused(events):
    with pytest.raises(ValueError, match="choose one of"):
        split(events, "sideways")
