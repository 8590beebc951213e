"""Models: the ``Recommender`` interface, the registry and every registered model."""

# Importing a model module registers its models.
from nbrec.models import (  # noqa: F401
    bandits,
    baselines,
    blend,
    ease,
    implicit_mf,
    item2item,
    lightfm_model,
    rp3beta,
    time_ease,
)
from nbrec.models.base import Embeddings, Recommender, TrainingData, UnknownUserError, top_k
from nbrec.models.registry import available, expand, get_model_class, make_model, register

__all__ = [
    "Embeddings", "Recommender", "TrainingData", "UnknownUserError", "available", "expand",
    "get_model_class", "make_model", "register", "top_k",
]  # fmt: skip
