"""Moved: the model contract is ``tests/models/contract.py`` (kept importable from here for
tests written before the move; new tests import ``tests.models.contract``)."""

from tests.models.contract import PersonalisedContract, RecommenderContract

__all__ = ["PersonalisedContract", "RecommenderContract"]
