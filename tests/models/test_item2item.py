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


def test_weights_built_in_blocks_equal_one_block():
    """Past BLOCK_ENTRIES the item x item weights are built a block of rows at a time (the
    full X'X at 1M users x 100k items would not fit); the result does not depend on it."""
    from nbrec.data.synthetic import generate
    from nbrec.models.item2item import binary, knn_weights
    from nbrec.models.training_data import TrainingData

    x = binary(TrainingData.build(generate(users=400, items=300, interactions=8_000,
                                           seed=2).interactions).matrix)  # fmt: skip
    whole = knn_weights(x, 20, 5.0, 0.5, block_entries=10**12)
    for limit in (1, 5_000, 60_000):  # one item per block, and a few sizes between
        blocked = knn_weights(x, 20, 5.0, 0.5, block_entries=limit)
        assert blocked.shape == whole.shape and (blocked != whole).nnz == 0
        assert not blocked.diagonal().any() and blocked.nnz <= 20 * x.shape[1]
