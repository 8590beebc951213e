"""Models by name: ``make_model("popularity")``, and ``register`` for new ones.

Adding a model: subclass ``Recommender``, set ``name``, decorate the class with ``@register``
and import its module in ``nbrec/models/__init__.py``. It then appears in the leaderboard,
the CLI (``--models name``), save/load and the pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbrec.errors import UnknownNameError

if TYPE_CHECKING:  # the registry is a plain name -> class map; base.Recommender.load uses it
    from nbrec.models.base import Recommender

_MODELS: dict[str, type[Recommender]] = {}


def register(cls: type[Recommender]) -> type[Recommender]:
    if cls.name in _MODELS and _MODELS[cls.name] is not cls:
        raise ValueError(f"model name {cls.name!r} is already registered by {_MODELS[cls.name]}")
    _MODELS[cls.name] = cls
    return cls


def available() -> list[str]:
    return list(_MODELS)


def get_model_class(name: str) -> type[Recommender]:
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown model {name!r}; available: {', '.join(available())}"
        ) from None


def make_model(name: str, **params) -> Recommender:
    return get_model_class(name)(**params)


def expand(names: str | list[str]) -> list[str]:
    """``"all"`` or ``"a,b"`` -> model names, each checked."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if names == ["all"]:
        return available()
    for name in names:
        get_model_class(name)
    return names
