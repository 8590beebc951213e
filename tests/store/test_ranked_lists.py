"""Per-user lists stored as item codes and float32 scores (``nbrec.store.ranked``), on every
backend: what publish writes from the scoring arrays is what the service and the read-back get."""

from __future__ import annotations

import sqlite3

import numpy as np
import orjson
import pandas as pd
import pytest

from nbrec.store import StoreError, VersionTables, open_store
from nbrec.store.ranked import ItemTable, RankedTable


def ranked(n_users: int = 300, width: int = 12, n_items: int = 50, seed: int = 0) -> RankedTable:
    rng = np.random.default_rng(seed)
    codes = np.stack([rng.choice(n_items, width, replace=False) for _ in range(n_users)])
    scores = -np.sort(-rng.random((n_users, width), dtype=np.float32), axis=1)
    scores[7, 5:] = -np.inf  # a user with only 5 unseen items left
    items = ItemTable([f"item-{seed}-{n}" for n in range(n_items)])
    return RankedTable([f"u{n}" for n in range(n_users)], items, codes, scores)


def version(recs) -> VersionTables:
    return VersionTables(info={"model": "test"}, user_recs=recs, popular=(["x"], [1.0]))


def reopen(store):
    return open_store(f"sqlite:///{store.path}" if store.backend == "sqlite" else store.url)


def test_lists_round_trip_as_float32_and_end_at_minus_inf(store):
    table = ranked()
    store.write_version("v1", version(table))
    items, scores = store.user_recs("v1", "u3")
    assert items == table.items.ids[table.codes[3]].tolist()
    assert scores == table.scores[3].tolist()  # float32 values, exactly
    assert store.user_recs("v1", "u7") == table["u7"] and len(table["u7"][0]) == 5
    users = [*table, "nobody"]
    assert store.user_recs_many("v1", users) == [table[u] for u in table] + [None]
    assert store.user_view("v1", "u3")[0] == table["u3"]


def test_user_view_head_is_a_prefix_long_enough_for_the_unseen(store):
    """``head``: the list cut after head + len(seen) items, the seen ones counted once each."""
    table = ranked()
    store.write_version("v1", version(table))
    items, scores = table["u3"]
    for item in items[2:5]:
        store.add_seen("u3", item)
    (cut, cut_scores), seen = store.user_view("v1", "u3", 4)
    assert seen == items[4:1:-1] and (cut, cut_scores) == (items[:7], scores[:7])  # newest first
    assert store.user_view("v1", "u3", 100)[0] == table["u3"]  # longer than the list: all of it
    assert store.user_view("v1", "u7", 5)[0] == table["u7"]  # 5 items, 5 + 0 seen
    assert store.user_view("v1", "u7", 1)[0] == tuple(part[:1] for part in table["u7"])
    assert store.user_view("v1", "u7")[0] == table["u7"]  # no head: the whole list
    assert store.user_view("v1", "nobody", 4) == (None, [])


def test_decoding_a_head_is_the_same_as_cutting_the_whole_list():
    table = ranked(width=40)
    for user in ("u0", "u7", "u9"):
        raw = dict(table.encoded())[user]
        whole = table.items.decode(raw)
        assert whole == table[user]
        for head in (0, 1, 2, 5, 39, 40, 41, 1000):
            assert table.items.decode(raw, head) == (whole[0][:head], whole[1][:head])
    with pytest.raises(ValueError, match="outside"):
        table.items.decode(table.items.tag + np.array([99], "<i4").tobytes() + b"\0" * 4, 1)


def test_read_back_frame_is_the_scored_top_k(store):
    table = ranked()
    store.write_version("v1", version(table))
    back = store.user_recs_top_k("v1", ["nobody", *table], 4)
    pd.testing.assert_frame_equal(back, table.top_k_frame(4))
    assert back.groupby("user_id").size().max() == 4
    assert store.user_recs_top_k("v1", ["nobody"], 4).empty


def test_lists_given_as_item_ids_are_stored_alike(store):
    recs = {"a": (["x", "y"], [0.5, 0.25]), "b": (["z"], [1.0]), "c": ([], [])}
    store.write_version("v1", version(recs))
    assert store.user_recs_many("v1", ["a", "b", "c"]) == [recs["a"], recs["b"], recs["c"]]
    assert store.user_recs_top_k("v1", ["a", "b"], 1)["item_id"].tolist() == ["x", "z"]


def test_a_reader_holding_an_old_item_table_is_not_fooled(store):
    """Deleted and published again under its name with other items: a process that read the
    old version reloads the version's item table instead of decoding with the old one."""
    store.write_version("v1", version(ranked(seed=1)))
    reader = reopen(store)
    try:
        assert reader.user_recs("v1", "u1")[0][0].startswith("item-1-")
        store.delete_version("v1")
        fresh = ranked(seed=2)
        store.write_version("v1", version(fresh))
        assert reader.user_recs("v1", "u1") == fresh["u1"]
        assert reader.user_recs_many("v1", ["u2"]) == [fresh["u2"]]
    finally:
        reader.close()


def test_an_item_outside_the_table_is_refused_with_its_name():
    with pytest.raises(ValueError, match="'nope'"):
        ItemTable(["a", "b"]).encode((["a", "nope"], [1.0, 0.5]))


def test_a_corrupt_list_is_a_store_error(tmp_path):
    path = tmp_path / "features.db"
    store = open_store(f"sqlite:///{path}")
    store.write_version("v1", version(ranked()))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE kv SET value = ? WHERE kind = 'recs' AND key = 'u1'", (b"garbage!!",))
    with pytest.raises(StoreError, match="v1"):
        store.user_recs("v1", "u1")
    with pytest.raises(StoreError, match="v1"):
        store.user_recs_top_k("v1", ["u0", "u1"], 3)
    assert store.user_recs("v1", "u2") is not None
    store.close()


def test_versions_published_as_json_lists_are_still_read(tmp_path):
    """A store written before item tables existed: its lists are JSON, and stay readable."""
    path = tmp_path / "features.db"
    store = open_store(f"sqlite:///{path}")
    store.write_version("old", version({"u1": (["a", "b"], [0.9, 0.1])}))
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM kv WHERE kind = 'blob' AND key = 'items'")
        db.execute(
            "UPDATE kv SET value = ? WHERE kind = 'recs'", (orjson.dumps([["a", "b"], [0.9, 0.1]]),)
        )
    reader = open_store(f"sqlite:///{path}")
    assert reader.user_recs("old", "u1") == (["a", "b"], [0.9, 0.1])
    assert reader.user_recs_many("old", ["u1", "u2"]) == [(["a", "b"], [0.9, 0.1]), None]
    frame = reader.user_recs_top_k("old", ["u1"], 1)
    assert frame[["item_id", "rank"]].values.tolist() == [["a", 1]]
    reader.close()
    store.close()
