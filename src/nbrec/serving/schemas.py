"""Request bodies of the HTTP API, with bounds: bad input is refused with a 4xx that says why."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from nbrec.constants import DEFAULT_K

MAX_K = 100
MAX_ID_LENGTH = 128
MAX_LIST = 500  # exclude lists, filter values
MAX_FEATURES = 64
MAX_BODY_BYTES = 16_384


MAX_INT_ID = 2**63 - 1
# Text a client sends (ids, filters, features, request ids) must not hold characters that
# corrupt logs and terminals or spoof what an id looks like: controls (C0, DEL, C1 incl. U+0085),
# line and paragraph separators (U+2028/9), format characters (bidi overrides such as U+202E,
# zero-width U+200B..U+200F, U+FEFF, ...); and it must not be only spaces.
FORBIDDEN = (
    r"\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    r"\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
)
# At least one character that is neither forbidden nor a space. Enforced by pydantic-core's
# (Rust) regex engine, so the check costs nanoseconds; the same text is the OpenAPI pattern.
ID_PATTERN = rf"^[^{FORBIDDEN}]*[^\s{FORBIDDEN}][^{FORBIDDEN}]*$"
PATTERN_MESSAGE = (
    "must be printable text, not only spaces: no control, format or line-separator characters"
)


def _id(value: object) -> object:
    # Integer ids are common (MovieLens); accept 64-bit ones and serve them as strings.
    # JSON has no integer type: 42.0 is the integer 42 (as JSON Schema says), 42.5 is refused.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INT_ID:
        return str(value)
    return value


Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN),
    BeforeValidator(_id),
    # The OpenAPI document (nbrec.serving.openapi) says what is accepted: strings or integers.
    WithJsonSchema(
        {"anyOf": [
            {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": ID_PATTERN},
            {"type": "integer", "minimum": -MAX_INT_ID, "maximum": MAX_INT_ID},
        ]},
        mode="validation",
    ),
]  # fmt: skip


def _json_number(kind: str):
    def check(value: object) -> object:
        # pydantic's lax mode would take true as 1 and "5" as 5; JSON numbers only.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PydanticCustomError(f"{kind}_type", f"Input should be a valid {kind}")
        return value

    return BeforeValidator(check)


Text = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]
Values = Annotated[list[Text], Field(min_length=1, max_length=MAX_LIST)] | Text
TEXT_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": ID_PATTERN}


def _text_map(max_keys: int):
    """``{text: text or [text]}``, with a JSON Schema that constrains the keys too (pydantic's
    own puts a key pattern in ``patternProperties``, leaving other keys unconstrained)."""
    values = {"anyOf": [{"type": "array", "items": TEXT_SCHEMA, "minItems": 1,
                         "maxItems": MAX_LIST}, TEXT_SCHEMA]}  # fmt: skip
    schema = {"type": "object", "maxProperties": max_keys, "propertyNames": TEXT_SCHEMA,
              "additionalProperties": values}  # fmt: skip
    return Annotated[dict[Text, Values], WithJsonSchema(schema, mode="validation")]


class _Body(BaseModel):
    # Unknown fields are an error: a typo ("user" for "user_id") must not pass silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecommendRequest(_Body):
    user_id: Id
    k: Annotated[int, _json_number("integer")] = Field(DEFAULT_K, ge=1, le=MAX_K)
    exclude: list[Id] = Field(default_factory=list, max_length=MAX_LIST)
    filters: _text_map(16) = Field(default_factory=dict, max_length=16)
    user_features: _text_map(MAX_FEATURES) | None = Field(None, max_length=MAX_FEATURES)


class SimilarItemsRequest(_Body):
    item_id: Id
    k: Annotated[int, _json_number("integer")] = Field(DEFAULT_K, ge=1, le=MAX_K)


class FeedbackRequest(_Body):
    user_id: Id
    item_id: Id
    event: Literal["click", "view", "purchase", "rating"]
    value: Annotated[float, _json_number("number")] | None = Field(None, allow_inf_nan=False)
    request_id: Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)] | None = None
    # Idempotency key: a retry with the same event_id is stored once (nbrec.events).
    event_id: Id | None = None


class PromoteRequest(_Body):
    """``POST /admin/promote``: the registered model version to make live."""

    version: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")


def as_list(values: list[str] | str) -> list[str]:
    return [values] if isinstance(values, str) else values
