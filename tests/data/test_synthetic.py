"""The synthetic generator: deterministic, sized by parameter, shaped like real data."""

from __future__ import annotations

import pandas as pd

from nbrec.constants import ITEM_COL, USER_COL
from nbrec.data import explore
from nbrec.data.synthetic import generate


def test_deterministic_for_a_seed():
    a = generate(users=200, items=80, interactions=3_000, seed=3)
    b = generate(users=200, items=80, interactions=3_000, seed=3)
    c = generate(users=200, items=80, interactions=3_000, seed=4)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_sizes_and_side_tables():
    ds = generate(users=500, items=150, interactions=8_000, seed=1)
    assert len(ds.interactions) == 8_000
    assert ds.interactions[USER_COL].nunique() == 500  # everyone has at least one event
    assert set(ds.interactions[ITEM_COL]) <= set(ds.items[ITEM_COL])
    assert {"category", "price_band", "release_date"} <= set(ds.items.columns)
    assert {"age_band", "country", "segment"} <= set(ds.users.columns)


def test_realistic_shape(tiny_synthetic):
    events = tiny_synthetic.interactions
    assert explore.head_share(events, 0.2) > 0.5  # long tail
    activity = explore.user_activity(events)
    assert activity.max() > 5 * activity.median()  # heavy-tailed users
    # users mostly stay inside their latent taste category
    truth = tiny_synthetic.meta["taste"].set_index(USER_COL)["taste_category"]
    category = tiny_synthetic.items.set_index(ITEM_COL)["category"]
    inside = (
        category.reindex(events[ITEM_COL]).to_numpy() == truth.reindex(events[USER_COL]).to_numpy()
    )
    assert inside.mean() > 0.7
    # drift: new items are released along the way
    shares = explore.cold_start_share(events, "W")
    assert shares["new_item_share"].iloc[2:].max() > 0


def test_chunked_generation_matches_sizes():
    ds = generate(users=1_000, items=100, interactions=10_000, seed=5, chunk_users=128)
    assert len(ds.interactions) == 10_000 and ds.interactions[USER_COL].nunique() == 1_000


def test_hash_is_the_same_after_a_parquet_round_trip(tmp_path):
    from nbrec.data import load_dataset, write_parquet_dataset

    ds = generate(users=100, items=50, interactions=1_000, seed=2)
    write_parquet_dataset(ds, tmp_path / "synthetic")
    assert load_dataset("synthetic", tmp_path).content_hash() == ds.content_hash()
