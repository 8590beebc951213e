"""Request bodies: the common ``/recommend`` body, checked by hand (``nbrec.serving.body``),
gives exactly what pydantic's JSON validation gives, and every other body, valid or not, still
takes pydantic's way with the same answers and error messages."""

from __future__ import annotations

import pytest

from nbrec.serving import body as body_module
from nbrec.serving.body import HTTPError, parse
from nbrec.serving.schemas import RecommendRequest, SimilarItemsRequest

COMMON = [
    b'{"user_id": "u0001", "k": 10}',
    b'{"user_id":"u1"}',
    b'{"k": 3, "user_id": "a b"}',
    b'{"user_id": 42, "k": 1}',
    b'{"user_id": -9223372036854775807, "k": 100}',
    b'{"user_id": "' + b"x" * 128 + b'"}',
    b'{"user_id": "~!@#$%^&*()_+{}|:<>?", "k": 7}',
    b'  {"user_id": "u1", "k": 2}\n',
    b'{"user_id": "1",\n"k": 4}',
]
OTHER = [  # valid and invalid bodies the hand check leaves to pydantic
    b'{"user_id": "caf\xc3\xa9"}', b'{"user_id": "caf\\u00e9", "k": 3}', b'{"user_id" : "1"}',
    b'{"user_id": 1.0}', b'{"user_id": "1", "k": 5.0}',
    b'{"user_id": "1", "exclude": []}', b'{"user_id": "1", "filters": {}}',
    b'{"user_id": "a\\":b", "k": 2}',
    b'{', b'[]', b'"x"', b'null', b'{"user_id": ""}', b'{"user_id": " "}', b'{"user_id": "   "}',
    b'{"user_id": "a", "k": 0}', b'{"user_id": "a", "k": 101}', b'{"user_id": "a", "k": -1}',
    b'{"user_id": "a", "k": true}', b'{"user_id": "a", "k": "5"}', b'{"user_id": "a", "k": 5.5}',
    b'{"user_id": "a", "k": null}', b'{"user_id": "a", "k": 1e1}',
    b'{"user_id": "a", "k": 9223372036854775808}', b'{"user_id": "a", "user_id": "b"}',
    b'{"user_id":"a","user_id":"b"}', b'{"user_id": "1", "k": 10, "k": 11}',
    b'{"user_id": "a", "x": 1}', b'{"user": "a"}', b'{"k": 3}', b'{}',
    b'{"user_id": "a\\u0000"}', b'{"user_id": "a\\t"}', b'{"user_id": "a\\u202e"}',
    b'{"user_id": "' + b"x" * 129 + b'"}', b'{"user_id": 1.5}', b'{"user_id": true}',
    b'{"user_id": null}', b'{"user_id": 99999999999999999999}',
    b'{"user_id": 9223372036854775808}', b'{"user_id": ["1"]}', b'{"user_id": {"a": 1}}',
    b'{"user_id": "\xff"}', b'{"user_id": "1"} x', b'\xef\xbb\xbf{"user_id": "1"}',
    b'{"user_id": "\\ud800"}', b'{"user_id": NaN}', b'{"user_id": "1", "k": Infinity}',
]  # fmt: skip


def full_way(body: bytes, monkeypatch) -> object:
    """What ``parse`` answers without the hand check: a model, or the HTTPError's words."""
    with monkeypatch.context() as patched:
        patched.setattr(body_module, "_common_recommend", lambda body: None)
        try:
            return parse(RecommendRequest, body)
        except HTTPError as exc:
            return (exc.status, str(exc))


def answer(body: bytes) -> object:
    try:
        return parse(RecommendRequest, body)
    except HTTPError as exc:
        return (exc.status, str(exc))


@pytest.mark.parametrize("body", COMMON)
def test_common_bodies_are_checked_by_hand_and_equal_pydantics_models(body, monkeypatch):
    fast = body_module._common_recommend(body)
    assert isinstance(fast, RecommendRequest)
    expected = full_way(body, monkeypatch)
    assert fast == expected and fast.model_fields_set == expected.model_fields_set
    assert isinstance(fast.user_id, str) and fast.exclude == [] and fast.filters == {}


@pytest.mark.parametrize("body", OTHER)
def test_other_bodies_take_pydantics_way_with_the_same_answer(body, monkeypatch):
    assert body_module._common_recommend(body) is None
    assert answer(body) == full_way(body, monkeypatch)


def test_the_hand_check_is_for_recommend_bodies_only():
    with pytest.raises(HTTPError, match="invalid SimilarItemsRequest"):
        parse(SimilarItemsRequest, b'{"user_id": "u1", "k": 10}')
    assert parse(SimilarItemsRequest, b'{"item_id": "i1", "k": 3}').item_id == "i1"
