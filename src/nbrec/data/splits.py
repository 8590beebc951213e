"""Train/test splits, each able to carve a validation split out of train.

- ``stratified``: per user, a random ``test_ratio`` of their interactions goes to test
  (every user with two or more interactions keeps at least one in train).
- ``temporal``: one global cutoff; events at or after it are test.
- ``leave-last``: per user, their last ``n`` interactions go to test.

The test split is for the reported figure only; choices of hyperparameters use
``Split.validation``, which is carved out of train by the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nbrec.constants import (
    DEFAULT_SEED,
    DEFAULT_TEST_RATIO,
    DEFAULT_VALIDATION_RATIO,
    TIMESTAMP_COL,
    USER_COL,
)
from nbrec.data.schema import DataError
from nbrec.errors import BadValueError

SPLITS = ("stratified", "temporal", "leave-last")


@dataclass
class Split:
    """Disjoint train and test; ``validation`` and ``sub_train`` partition ``train`` for tuning.

    Fit the reported model on ``train``; choose its hyperparameters by fitting on
    ``sub_train`` and scoring on ``validation`` (``tuning()``).
    """

    train: pd.DataFrame
    test: pd.DataFrame
    sub_train: pd.DataFrame | None = None
    validation: pd.DataFrame | None = None
    protocol: dict = field(default_factory=dict)

    def tuning(self) -> Split:
        """The split used to choose hyperparameters: sub_train vs validation."""
        if self.validation is None or self.sub_train is None:
            raise ValueError("this split has no validation part; build it with validation=True")
        return Split(
            self.sub_train, self.validation, protocol={**self.protocol, "part": "validation"}
        )


def stratified_split(
    df: pd.DataFrame, test_ratio: float = DEFAULT_TEST_RATIO, seed: int = DEFAULT_SEED
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user random split: ``round(n_u * test_ratio)`` events of user u go to test."""
    if not 0 < test_ratio < 1:
        raise BadValueError(f"test_ratio must be in (0, 1), got {test_ratio}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(df))
    shuffled_users = df[USER_COL].to_numpy()[order]
    position = np.empty(len(df), dtype=np.int64)
    position[order] = (
        pd.Series(shuffled_users).groupby(shuffled_users, sort=False).cumcount().to_numpy()
    )
    sizes = df.groupby(USER_COL, sort=False, observed=True)[USER_COL].transform("size").to_numpy()
    n_test = np.minimum(np.floor(sizes * test_ratio + 0.5), sizes - 1)
    is_test = position < n_test
    return df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)


def temporal_split(
    df: pd.DataFrame,
    cutoff: pd.Timestamp | str | None = None,
    test_ratio: float = DEFAULT_TEST_RATIO,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Global time split: events at or after ``cutoff`` (default: the 1 - test_ratio quantile) are test."""
    ts = df[TIMESTAMP_COL]
    if cutoff is None:
        cutoff = ts.quantile(1 - test_ratio)
    cutoff = pd.Timestamp(cutoff)
    if cutoff.tzinfo is None:
        cutoff = cutoff.tz_localize("UTC")
    is_test = (ts >= cutoff).to_numpy()
    return df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)


def leave_last_split(df: pd.DataFrame, n: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per user, the last ``n`` events by time are test; users with ``<= n`` events stay in train."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ordered = df.sort_values([USER_COL, TIMESTAMP_COL], kind="stable")
    from_end = (
        ordered.groupby(USER_COL, sort=False, observed=True).cumcount(ascending=False).to_numpy()
    )
    sizes = (
        ordered.groupby(USER_COL, sort=False, observed=True)[USER_COL].transform("size").to_numpy()
    )
    is_test = (from_end < n) & (sizes > n)
    return ordered[~is_test].reset_index(drop=True), ordered[is_test].reset_index(drop=True)


def split(
    df: pd.DataFrame,
    method: str = "stratified",
    *,
    test_ratio: float = DEFAULT_TEST_RATIO,
    validation_ratio: float = DEFAULT_VALIDATION_RATIO,
    validation: bool = True,
    seed: int = DEFAULT_SEED,
    n: int = 1,
    cutoff: pd.Timestamp | str | None = None,
) -> Split:
    """Split by ``method``; with ``validation=True`` carve validation from train by the same rule."""

    def cut(frame: pd.DataFrame, ratio: float, salt: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        if method == "stratified":
            return stratified_split(frame, ratio, seed + salt)
        if method == "temporal":
            return temporal_split(frame, cutoff if salt == 0 else None, ratio)
        if method == "leave-last":
            return leave_last_split(frame, n)
        raise BadValueError(f"unknown split {method!r}; choose one of {', '.join(SPLITS)}")

    train, test = cut(df, test_ratio, 0)
    _refuse_empty(df, train, test, method)
    sub_train = val = None
    if validation:
        sub_train, val = cut(train, validation_ratio, 1)
        _refuse_empty(train, sub_train, val, method, "validation split of train")
    protocol = {"split": method, "seed": seed, "test_ratio": test_ratio}
    if validation:
        protocol["validation_ratio"] = validation_ratio
    if method == "leave-last":
        protocol["n"] = n
    return Split(train, test, sub_train, val, protocol)


def _refuse_empty(
    df: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, method: str, what: str = "split"
) -> None:
    """A split with an empty part cannot fit or score anything: say why, in the data's terms."""
    if len(train) and len(test):
        return
    n_users = df[USER_COL].nunique()
    if method == "temporal" and len(df) and df[TIMESTAMP_COL].nunique() == 1:
        raise DataError(
            f"all {len(df)} interactions have the same timestamp ({df[TIMESTAMP_COL].iloc[0]}; "
            "a file without a timestamp column puts every event at 1970-01-01), so a temporal "
            "split has nothing before its cutoff: use --split stratified or leave-last, or give "
            "the events their real times"
        )
    part = ("train" if len(test) else "test") if what == "split" else "validation"
    raise DataError(
        f"the {method} {what} of {len(df)} interaction(s) from {n_users} user(s) leaves the "
        f"{part} part empty: a split needs users with at least two interactions"
        + (" at different times" if method == "temporal" else "")
    )
