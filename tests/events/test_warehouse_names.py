"""Partition file names: a content hash of the event ids, the same for the same rows."""

from __future__ import annotations

import pyarrow as pa

from nbrec.events.warehouse import ids_name


def test_the_same_ids_give_the_same_name_however_chunked_or_sliced():
    ids = [f"e{n}" for n in range(10)]
    whole = ids_name("part", pa.array(ids))
    assert ids_name("part", pa.chunked_array([ids[:3], ids[3:]])) == whole
    assert ids_name("part", pa.array(["x", *ids, "y"]).slice(1, 10)) == whole
    assert ids_name("part", pa.array(ids, pa.large_string())) == whole
    assert whole.startswith("part-") and whole.endswith(".parquet")


def test_other_ids_or_another_order_or_split_give_another_name():
    ids = [f"e{n}" for n in range(10)]
    whole = ids_name("part", pa.array(ids))
    assert ids_name("part", pa.array(ids[::-1])) != whole
    assert ids_name("part", pa.array(ids[:9])) != whole
    # the boundaries count, not only the bytes: "ab","c" is not "a","bc"
    assert ids_name("part", pa.array(["ab", "c"])) != ids_name("part", pa.array(["a", "bc"]))
