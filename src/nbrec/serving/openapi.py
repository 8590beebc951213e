"""The OpenAPI 3.1 document of nbrec's HTTP API (``GET /openapi.json``).

BentoML's own document describes ``@bentoml.api`` methods only, not the Starlette routes nbrec
mounts; this one is generated from the pydantic request and response models, so it cannot
drift from what the handlers validate. ``tests/reliability`` fuzzes the API against it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from nbrec.serving.schemas import (
    FeedbackRequest,
    PromoteRequest,
    RecommendRequest,
    SimilarItemsRequest,
)


class ScoredItem(BaseModel):
    item_id: str
    score: float | None


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")
    request_id: str
    model_version: str | None


class RecommendResponse(_Answer):
    items: list[ScoredItem]
    fallback: str | None
    experiment: str | None
    variant: str | None
    # Only when a filter value matched no item of the version: {key: [values]}.
    unknown_filter_values: dict[str, list[str]] | None = None


class SimilarItemsResponse(_Answer):
    items: list[ScoredItem]
    fallback: str | None


class FeedbackResponse(_Answer):
    accepted: bool
    stored: bool
    event_id: str  # the idempotency key: the client's, or one the server made
    durable: bool  # the event was in the journal before this answer (nbrec.events)


class ErrorResponse(BaseModel):
    """Every refusal: what was wrong and what to do, in ``error``."""

    model_config = ConfigDict(extra="allow")
    error: str


class AdminResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    model_version: str | None


MODELS = (RecommendRequest, SimilarItemsRequest, FeedbackRequest, PromoteRequest,
          RecommendResponse, SimilarItemsResponse, FeedbackResponse, ErrorResponse,
          AdminResponse)  # fmt: skip
ERRORS = {
    "400": "not JSON, or an empty body",
    "404": "unknown item (similar_items)",
    "413": "body over the size limit",
    "415": "Content-Type is not application/json",
    "422": "a field is missing, of the wrong type or out of bounds, a key is repeated, text "
    "holds control or format characters, or a filter names a key no item has",
    "503": "no model live yet",
}
FEEDBACK_503 = (
    "no model live yet, or the event could not be made durable in time: retry after the "
    "Retry-After header's seconds with the same event_id"
)
ADMIN_ERRORS = {
    "401": "no admin token sent",
    "403": "wrong admin token",
    "404": "admin endpoints are off (no NBREC_ADMIN_TOKEN) or unknown version",
    "409": "the action was refused (checksum mismatch, nothing to roll back); live unchanged",
    "422": "invalid body",
    "429": "too many wrong tokens from this client: retry after Retry-After seconds",
    "503": "the service is starting, or the feature store is down (retry later)",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": _ref(model)}}}


def _responses(ok: type[BaseModel], errors: dict[str, str]) -> dict[str, Any]:
    out = {"200": {"description": "OK", **_json(ok)}}
    out.update({code: {"description": why, **_json(ErrorResponse)} for code, why in errors.items()})
    return out


# Request examples that work against the demo's service (`make demo`: the synthetic data set,
# users u0000.., items i000.., categories cat01..): /docs offers them in "Try it out".
EXAMPLES: dict[str, dict[str, dict[str, Any]]] = {
    "/recommend": {
        "known user": {"value": {"user_id": "u0001", "k": 5}},
        "filtered": {"value": {"user_id": "u0001", "k": 5, "filters": {"category": "cat03"}}},
        "excluding items": {"value": {"user_id": "u0001", "k": 5, "exclude": ["i001", "i002"]}},
        "new user with features": {
            "value": {"user_id": "new-user", "k": 3, "user_features": {"country": "DE"}}
        },
    },
    "/similar_items": {"an item": {"value": {"item_id": "i001", "k": 5}}},
    "/feedback": {
        "click": {"value": {"user_id": "u0001", "item_id": "i042", "event": "click"}},
        "rating": {
            "value": {"user_id": "u0001", "item_id": "i042", "event": "rating", "value": 4.5}
        },
    },
    "/admin/promote": {"a version": {"value": {"version": "v0123456789ab"}}},
}
TAGS = [
    {"name": "recommendations", "description": "The request path: answers from the feature store"},
    {"name": "operations", "description": "Health, metrics, the dashboard and these docs"},
    {"name": "admin", "description": "Change what is live (only with NBREC_ADMIN_TOKEN set)"},
]


def _post(
    path: str, summary: str, body: type[BaseModel] | None, ok, errors, admin=False
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": ["admin" if admin else "recommendations"],
        "responses": _responses(ok, errors),
    }
    if body is not None:
        content = _json(body)
        if path in EXAMPLES:
            content["content"]["application/json"]["examples"] = EXAMPLES[path]
        operation["requestBody"] = {"required": True, **content}
    if admin:
        operation["security"] = [{"adminToken": []}]
    return {"post": operation}


def _get(summary: str, media: str, description: str = "", codes: dict | None = None) -> dict:
    responses = {"200": {"description": "OK", "content": {media: {}}}}
    for code, why in (codes or {}).items():
        responses[code] = {"description": why, "content": {media: {}}}
    return {
        "get": {"summary": summary, "description": description, "tags": ["operations"],
                "responses": responses}
    }  # fmt: skip


OPERATIONS_PATHS = {
    "/healthz": _get("The process is up", "application/json"),
    "/readyz": _get(
        "The store answers and a model version is live", "application/json",
        codes={"503": "not ready: starting, no live version, or the store is down"},
    ),
    "/metrics": _get("Prometheus metrics (nbrec's and BentoML's)", "text/plain"),
    "/dashboard": _get(
        "The live product dashboard (HTML)", "text/html",
        "Per model version and experiment variant, from the RR logs and the warehouse; "
        "query parameters start, end (YYYY-MM-DD), version, variant, refresh=1.",
        {"400": "a bad date or range"},
    ),
    "/openapi.json": _get("This document", "application/json"),
    "/docs": _get("Swagger UI for this document (HTML)", "text/html"),
}  # fmt: skip


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The document as a dict (built once)."""
    _, defs = models_json_schema(
        [(m, "validation" if m.__name__.endswith("Request") else "serialization") for m in MODELS],
        ref_template="#/components/schemas/{model}",
    )
    similar_errors = ERRORS
    plain_errors = {k: v for k, v in ERRORS.items() if k != "404"}
    paths = {
        "/recommend": _post("/recommend", "Top-k items for a user", RecommendRequest,
                            RecommendResponse, plain_errors),
        "/similar_items": _post("/similar_items", "Items similar to an item",
                                SimilarItemsRequest, SimilarItemsResponse, similar_errors),
        "/feedback": _post("/feedback", "A user's interaction with an item", FeedbackRequest,
                           FeedbackResponse, {**plain_errors, "503": FEEDBACK_503}),
        **OPERATIONS_PATHS,
        "/admin/reload": _post("/admin/reload", "Re-read the live pointer", None,
                               AdminResponse, ADMIN_ERRORS, admin=True),
        "/admin/promote": _post("/admin/promote", "Make a registered version live",
                                PromoteRequest, AdminResponse, ADMIN_ERRORS, admin=True),
        "/admin/rollback": _post("/admin/rollback", "Make the previous live version live",
                                 None, AdminResponse, ADMIN_ERRORS, admin=True),
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "nbrec recommender",
            "version": "1",
            "description": "Recommendations from the live model version, feedback, health and "
            "metrics. Every answer carries request_id and model_version; a refusal says what "
            "was wrong in error.",
        },
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }
