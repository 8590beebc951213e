from __future__ import annotations

from nbrec.constants import ITEM_COL
from nbrec.models import make_model
from tests.models.contract import PersonalisedContract


class TestItemKNN(PersonalisedContract):
    def make_model(self):
        return make_model("item_knn", neighbours=10, shrink=0.0)

    def test_similar_items(self, fitted):
        similar = fitted.similar_items("i003", k=3)
        assert (similar[ITEM_COL].str[1:].astype(int) % 2 == 1).all()
