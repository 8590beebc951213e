"""Side tables to one-hot features."""

from __future__ import annotations

import pandas as pd

from nbrec.data.features import one_hot


def test_rows_follow_table_order_whatever_its_index():
    table = pd.DataFrame({"item_id": ["a", "b", "c"], "genre": ["x", "y|z", "x"]}, index=[7, 2, 5])
    matrix, names = one_hot(table, ["genre"])
    assert names == ["genre=x", "genre=y", "genre=z"]
    assert matrix.toarray().tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
