"""Models: the ``Recommender`` interface, the registry and every registered model."""

from nbrec.models import baselines  # noqa: F401  (registers the baselines)
from nbrec.models import bandits, item2item, lightfm_model  # noqa: F401  (register them)
from nbrec.models.base import Embeddings, Recommender, TrainingData, UnknownUserError, top_k
from nbrec.models.registry import available, expand, get_model_class, make_model, register

__all__ = [
    "Embeddings", "Recommender", "TrainingData", "UnknownUserError", "available", "expand",
    "get_model_class", "make_model", "register", "top_k",
]  # fmt: skip
