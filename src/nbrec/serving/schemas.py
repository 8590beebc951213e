"""Request bodies of the HTTP API, with bounds: bad input is refused with a 4xx that says why."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from nbrec.constants import DEFAULT_K

MAX_K = 100
MAX_ID_LENGTH = 128
MAX_LIST = 500  # exclude lists, filter values
MAX_FEATURES = 64
MAX_BODY_BYTES = 16_384


def _id(value: object) -> object:
    # Integer ids are common (MovieLens); accept them and serve them as strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[^\x00-\x1f]+$"),
    BeforeValidator(_id),
]
Text = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
Values = Annotated[list[Text], Field(min_length=1, max_length=MAX_LIST)] | Text


class _Body(BaseModel):
    # Unknown fields are an error: a typo ("user" for "user_id") must not pass silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecommendRequest(_Body):
    user_id: Id
    k: int = Field(DEFAULT_K, ge=1, le=MAX_K)
    exclude: list[Id] = Field(default_factory=list, max_length=MAX_LIST)
    filters: dict[Text, Values] = Field(default_factory=dict, max_length=16)
    user_features: dict[Text, Values] | None = Field(None, max_length=MAX_FEATURES)


class SimilarItemsRequest(_Body):
    item_id: Id
    k: int = Field(DEFAULT_K, ge=1, le=MAX_K)


class FeedbackRequest(_Body):
    user_id: Id
    item_id: Id
    event: Literal["click", "view", "purchase", "rating"]
    value: float | None = Field(None, allow_inf_nan=False)
    request_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None


def as_list(values: list[str] | str) -> list[str]:
    return [values] if isinstance(values, str) else values
