"""nbrec's own synthetic data set: the embedded default, free to redistribute.

The generator is deterministic for a seed and shaped like real product data:

- item popularity is Zipf-like, users' activity heavy-tailed (log-normal);
- every user belongs to a latent taste group tied to one item category and spends most of
  their events there, so personalised models can beat popularity;
- events span several weeks; new items are released along the way (drift: popularity moves
  to newer items), so temporal splits meet cold-start items;
- items carry a category, a price band and a release date; users an age band, a country and a
  noisy self-reported segment (their taste group 70% of the time).

Events are generated for chunks of users at a time, so 10 million rows fit in a few GiB.
The ground truth (each user's taste group) is returned in ``Dataset.meta['taste']``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from nbrec.constants import EVENT_COL, ITEM_COL, TIMESTAMP_COL, USER_COL, WEIGHT_COL
from nbrec.data.schema import Dataset
from nbrec.errors import BadValueError

START = pd.Timestamp("2026-01-05", tz="UTC")
EVENT_TYPES = np.array(["view", "like", "purchase"])
EVENT_WEIGHTS = np.array([1.0, 3.0, 5.0], dtype="float32")
AGE_BANDS = np.array(["18-24", "25-34", "35-44", "45-54", "55+"])
COUNTRIES = np.array(["DE", "FR", "GB", "US", "BR", "IN", "JP"])


@dataclass(frozen=True)
class SyntheticConfig:
    users: int = 2_000
    items: int = 1_000
    interactions: int = 60_000
    categories: int = 12
    weeks: int = 8
    epochs: int = 4  # new items are released at the start of each epoch
    taste_share: float = 0.8  # share of a user's events inside their taste category
    zipf_exponent: float = 1.0
    seed: int = 42
    chunk_users: int = 200_000


def generate(config: SyntheticConfig | None = None, **overrides) -> Dataset:
    """Generate a synthetic data set. ``generate(users=500, items=200, interactions=5000)``."""
    cfg = SyntheticConfig(**{**asdict(config or SyntheticConfig()), **overrides})
    if min(cfg.users, cfg.items, cfg.interactions, cfg.categories) < 1:
        raise BadValueError(f"sizes must be positive, got {cfg}")
    rng = np.random.default_rng(cfg.seed)
    items, item_cat, item_epoch, base_pop = _items(cfg, rng)
    users, taste = _users(cfg, rng)
    activity = rng.lognormal(mean=0.0, sigma=1.0, size=cfg.users)
    counts = _allocate(activity, cfg.interactions, rng)
    cdfs = _cdfs(cfg, item_cat, item_epoch, base_pop)
    chunks = []
    for lo in range(0, cfg.users, cfg.chunk_users):
        hi = min(lo + cfg.chunk_users, cfg.users)
        chunks.append(_events(cfg, rng, np.arange(lo, hi), counts[lo:hi], taste, item_cat, cdfs))
    users_idx, items_idx, seconds, kinds = (
        np.concatenate(parts) for parts in zip(*chunks, strict=True)
    )
    interactions = pd.DataFrame(
        {
            USER_COL: _labels("u", users_idx, cfg.users),
            ITEM_COL: _labels("i", items_idx, cfg.items),
            TIMESTAMP_COL: START + pd.to_timedelta(seconds, unit="s"),
            WEIGHT_COL: EVENT_WEIGHTS[kinds],
            EVENT_COL: EVENT_TYPES[kinds],
        }
    )
    interactions = interactions.sort_values([TIMESTAMP_COL], kind="stable").reset_index(drop=True)
    truth = pd.DataFrame({USER_COL: users[USER_COL], "taste_category": _category_names(taste)})
    return Dataset(
        "synthetic", interactions, items, users, meta={"config": asdict(cfg), "taste": truth}
    )


def _labels(prefix: str, idx: np.ndarray, n: int) -> np.ndarray:
    width = len(str(max(n - 1, 1)))
    names = np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)
    return names[idx]


def _category_names(idx: np.ndarray) -> np.ndarray:
    return np.array([f"cat{c:02d}" for c in idx], dtype=object)


def _items(cfg: SyntheticConfig, rng: np.random.Generator):
    item_cat = rng.integers(0, cfg.categories, cfg.items)
    # Half of the catalogue exists from the start, the rest arrives epoch by epoch.
    item_epoch = np.where(rng.random(cfg.items) < 0.5, 0, rng.integers(0, cfg.epochs, cfg.items))
    ranks = rng.permutation(cfg.items) + 1
    base_pop = 1.0 / ranks.astype(float) ** cfg.zipf_exponent
    epoch_days = cfg.weeks * 7 / cfg.epochs
    release = START + pd.to_timedelta(item_epoch * epoch_days, unit="D")
    items = pd.DataFrame(
        {
            ITEM_COL: _labels("i", np.arange(cfg.items), cfg.items),
            "category": _category_names(item_cat),
            "price_band": rng.choice(
                np.array(["low", "mid", "high"]), cfg.items, p=[0.5, 0.35, 0.15]
            ),
            "release_date": release,
        }
    )
    return items, item_cat, item_epoch, base_pop


def _users(cfg: SyntheticConfig, rng: np.random.Generator):
    taste = rng.integers(0, cfg.categories, cfg.users)
    noisy = np.where(rng.random(cfg.users) < 0.7, taste, rng.integers(0, cfg.categories, cfg.users))
    users = pd.DataFrame(
        {
            USER_COL: _labels("u", np.arange(cfg.users), cfg.users),
            "age_band": rng.choice(AGE_BANDS, cfg.users),
            "country": rng.choice(COUNTRIES, cfg.users, p=[0.2, 0.15, 0.15, 0.25, 0.1, 0.1, 0.05]),
            "segment": _category_names(noisy),
        }
    )
    return users, taste


def _allocate(activity: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` events over users in proportion to activity; everyone gets at least one."""
    n = len(activity)
    base = np.ones(n, dtype=np.int64) if total >= n else np.zeros(n, dtype=np.int64)
    rest = total - base.sum()
    return base + rng.multinomial(rest, activity / activity.sum())


def _cdfs(cfg: SyntheticConfig, item_cat, item_epoch, base_pop) -> dict:
    """Cumulative item distributions per (category or -1 for all, epoch); newer items boosted."""
    cdfs = {}
    for epoch in range(cfg.epochs):
        released = item_epoch <= epoch
        # Drift: items released in this epoch are hot (x4), last epoch's warm (x2).
        boost = np.select([item_epoch == epoch, item_epoch == epoch - 1], [4.0, 2.0], 1.0)
        weights = np.where(released, base_pop * boost, 0.0)
        for cat in range(-1, cfg.categories):
            mask = released if cat < 0 else released & (item_cat == cat)
            idx = np.flatnonzero(mask)
            if len(idx) == 0:  # no item of this category yet: fall back to all released items
                idx = np.flatnonzero(released)
            w = weights[idx]
            cdfs[cat, epoch] = (idx, np.cumsum(w) / w.sum())
    return cdfs


def _events(cfg, rng, users, counts, taste, item_cat, cdfs):
    n_events = int(counts.sum())
    ev_user = np.repeat(users, counts)
    period = cfg.weeks * 7 * 86_400
    # Each user is active from a random start; their events spread over the rest of the period.
    start = rng.random(len(users)) * period * 0.8
    ev_start = np.repeat(start, counts)
    seconds = ev_start + rng.random(n_events) * (period - ev_start)
    epoch = np.minimum((seconds / period * cfg.epochs).astype(np.int64), cfg.epochs - 1)
    in_taste = rng.random(n_events) < cfg.taste_share
    cat = np.where(in_taste, taste[ev_user], -1)
    items = np.empty(n_events, dtype=np.int64)
    keys = (cat + 1) * cfg.epochs + epoch
    order = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    for group in np.split(order, bounds):
        if len(group) == 0:
            continue
        idx, cdf = cdfs[int(cat[group[0]]), int(epoch[group[0]])]
        pick = np.searchsorted(cdf, rng.random(len(group)), side="right")
        items[group] = idx[np.minimum(pick, len(idx) - 1)]
    match = item_cat[items] == taste[ev_user]
    # Engagement depth: a matching item is liked or bought more often.
    p_like = np.where(match, 0.25, 0.05)
    p_buy = np.where(match, 0.10, 0.01)
    u = rng.random(n_events)
    kinds = np.where(u < p_buy, 2, np.where(u < p_buy + p_like, 1, 0))
    return ev_user, items, seconds.astype(np.int64), kinds
