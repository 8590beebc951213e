"""Synthetic RR logs in the schema of ``nbrec.rrlog.schema``, with known differences between arms.

Used by the dashboard's tests and demos when no real traffic exists yet. Each arm is a
(variant -> model_version, click probability, daily return probability); users are assigned
to an arm by a hash of their id (sticky, like the experiment router), so every metric of the
report has a known ordering between arms (the better arm has higher CTR and retention).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from nbrec.constants import DEFAULT_K, DEFAULT_SEED
from nbrec.rrlog.schema import feedback_line, request_line


@dataclass(frozen=True)
class Arm:
    variant: str | None
    model_version: str
    click_prob: float
    return_prob: float


FADE = 0.85
ERROR_SHARE = 0.02
DEFAULT_ARMS = (
    Arm("control", "popularity-v1", click_prob=0.10, return_prob=0.40),
    Arm("treatment", "lightfm-v2", click_prob=0.25, return_prob=0.60),
)


def write_fake_logs(
    out_dir: str | Path,
    users: int = 300,
    items: int = 200,
    days: int = 14,
    arms: tuple[Arm, ...] = DEFAULT_ARMS,
    k: int = DEFAULT_K,
    seed: int = DEFAULT_SEED,
    start: datetime | None = None,
    experiment: str = "fake-ab",
) -> list[Path]:
    """Write one ``rr-YYYY-MM-DD.jsonl`` file per day under ``out_dir``; return their paths."""
    rng = np.random.default_rng(seed)
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8  # a long tail, like real catalogues
    popularity /= popularity.sum()
    by_day: dict[int, list[dict]] = {d: [] for d in range(days)}
    for u in range(users):
        user = f"u{u:05d}"
        arm = arms[int(uuid.uuid5(uuid.NAMESPACE_URL, user).int % len(arms))]
        first = int(rng.integers(0, days))
        for day in range(first, days):
            # Interest fades: the chance to come back decays with the days since the first visit.
            if day > first and rng.random() > arm.return_prob * FADE ** (day - first):
                continue
            for _ in range(int(rng.integers(1, 4))):
                when = start + timedelta(days=day, seconds=float(rng.uniform(0, 86_399)))
                by_day[day].extend(_request(rng, user, arm, when, popularity, k, experiment))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for day, events in by_day.items():
        path = out / f"rr-{(start + timedelta(days=day)):%Y-%m-%d}.jsonl"
        events.sort(key=lambda event: event["ts"])
        path.write_text("".join(json.dumps(event) + "\n" for event in events))
        paths.append(path)
    return paths


def _request(
    rng, user, arm: Arm, when: datetime, popularity, k: int, experiment: str
) -> list[dict]:
    """One request event and the feedback events it drew."""
    request_id = uuid.UUID(int=int(rng.integers(0, 2**63))).hex
    ids = (request_id, user, arm.model_version, experiment if arm.variant else None, arm.variant)
    ts = _iso(when)
    if rng.random() < ERROR_SHARE:  # a refused request: logged by the service with no items
        return [request_line(*ids, k=None, items=[], scores=[], propensities=None, fallback=None,
                             latency_ms=None, status=422, error="invalid RecommendRequest", ts=ts)]  # fmt: skip
    fallback = "cold_start" if rng.random() < 0.05 else None
    shown = rng.choice(len(popularity), size=k, replace=False, p=popularity)
    items = [f"i{i:05d}" for i in shown]
    scores = np.sort(rng.random(k))[::-1].round(4).tolist()
    latency = round(float(rng.gamma(2.0, 2.0)), 3)
    events = [request_line(*ids, k=k, items=items, scores=scores, propensities=None,
                           fallback=fallback, latency_ms=latency, ts=ts)]  # fmt: skip
    if rng.random() < arm.click_prob:
        later = _iso(when + timedelta(seconds=float(rng.uniform(1, 60))))
        item = items[int(rng.integers(0, k))]
        events += [feedback_line(*ids, item, event, ts=later) for event in ("view", "click")]
    return events


def _iso(when) -> str:
    """The service's timestamp format (``nbrec.rrlog.schema``): milliseconds, ``Z``; the
    warehouse's reader parses exactly that."""
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
