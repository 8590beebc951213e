"""Fuzzed data files: the loaders either load them or raise the documented DataError, nothing else."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nbrec.data import DataError
from nbrec.data.files import load_file

HEADERS = ["user_id", "item_id", "timestamp", "weight", "event_type", "other"]
cell = st.one_of(
    st.text(max_size=12),
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "NaN", "null", "2024-02-30", "1e400", "\x00", '"', "1,2"]),
)
row = st.lists(cell, min_size=0, max_size=7)


@st.composite
def csv_text(draw):
    header = draw(st.lists(st.sampled_from(HEADERS), min_size=0, max_size=6))
    rows = draw(st.lists(row, max_size=8))
    lines = [",".join(header)] + [",".join(r) for r in rows]
    return "\n".join(lines)


# How many cases, and whether CI replays the same ones: the profile (tests/conftest.py, "fast"
# for `make test`, "nightly" for `make test-all`).
FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(text=csv_text())
@example(text="user_id,item_id\n,0,0")  # a row longer than the header once became the index
def test_fuzzed_csv_loads_or_raises_data_error(tmp_path, text):
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        ds = load_file(path)
    except DataError as exc:
        assert str(path) in str(exc)
        return
    assert len(ds.interactions) > 0
    assert ds.interactions["user_id"].notna().all() and ds.interactions["timestamp"].notna().all()


@FUZZ
@given(payload=st.binary(max_size=300))
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_fuzzed_bytes_load_or_raise_data_error(tmp_path, payload, suffix):
    path = tmp_path / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(payload)
    with contextlib.suppress(DataError):  # any other exception fails the test
        load_file(path)
