"""Every registered model passes the contract, with its default parameters.

Parametrised over ``available()``: registering a model is enough for it to be tested here.
The checkerboard's known answer depends on parameters suited to a 40 x 20 matrix (two taste
groups): the models' own test classes check it (``PersonalisedContract``).
"""

from __future__ import annotations

import pytest

from nbrec.models import available, make_model
from tests.models.contract import RecommenderContract


@pytest.fixture(params=available())
def model_name(request) -> str:
    return request.param


class TestEveryRegisteredModel(RecommenderContract):
    @pytest.fixture(autouse=True)
    def _named(self, model_name):
        self.model_name = model_name

    def make_model(self):
        return make_model(self.model_name)


def test_every_registered_model_is_in_the_contract():
    assert {"popularity", "item_knn", "lightfm"} <= set(available())
