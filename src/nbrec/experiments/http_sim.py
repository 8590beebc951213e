"""Simulated users against the real service over HTTP: ``nbrec simulate --url URL``.

Each request picks one of ``users`` simulated users, asks ``POST /recommend`` and clicks the
answer by the user's known preferences (``Population``), sending each click to
``POST /feedback`` with the request's id, so the RR logs join clicks to what was shown.
Users of an interleaving experiment get team-draft blends (variant ``interleaved``); their
clicks are sent the same way, and ``nbrec experiment analyze NAME`` credits the teams from the
logs (the answer does not say which ranker picked which item).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from nbrec.experiments.simulator import Population


@dataclass
class SimulationSummary:
    requests: int = 0
    clicks: int = 0
    clicked_requests: int = 0
    errors: int = 0  # recommendation requests not answered with 200
    feedback_errors: int = 0  # clicks the service did not accept (their RR log lacks them)
    seconds: float = 0.0
    by_variant: dict[str, dict[str, int]] = field(default_factory=dict)
    by_experiment: dict[str, int] = field(default_factory=dict)  # requests per experiment name
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def ctr(self) -> float:
        return self.clicked_requests / self.requests if self.requests else float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "ctr": self.ctr}


def run_http(
    url: str,
    population: Population,
    users: int,
    requests: int,
    k: int = 10,
    seed: int = 0,
    timeout: float = 10.0,
    progress: bool = False,
) -> SimulationSummary:
    """Send ``requests`` recommendation requests (and the clicks they earn) to the service at ``url``."""
    import httpx
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    n_users = min(users, len(population.user_ids))
    chosen = rng.choice(len(population.user_ids), size=n_users, replace=False)
    item_index = {str(item): i for i, item in enumerate(population.item_ids)}
    summary, statuses = SimulationSummary(), Counter()
    variants: dict[str, Counter] = {}
    experiments: Counter = Counter()
    start = time.perf_counter()
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout) as client:
        for row in tqdm(rng.choice(chosen, size=requests), disable=not progress, desc="simulate"):
            user_id = str(population.user_ids[row])
            response = _post(client, url, "/recommend", {"user_id": user_id, "k": k})
            statuses[str(response.status_code)] += 1
            summary.requests += 1
            if response.status_code != 200:
                summary.errors += 1
                continue
            body = response.json()
            shown = [item["item_id"] for item in body["items"]]
            clicked = _clicks(population, row, shown, item_index, rng)
            for item_id in clicked:
                sent = _post(client, url, "/feedback", {"user_id": user_id, "item_id": item_id,
                             "event": "click", "request_id": body["request_id"]})  # fmt: skip
                summary.feedback_errors += not sent.is_success
            experiments[str(body.get("experiment"))] += 1
            per = variants.setdefault(str(body.get("variant")), Counter())
            per["requests"] += 1
            per["clicked_requests"] += bool(clicked)
            summary.clicks += len(clicked)
            summary.clicked_requests += bool(clicked)
    summary.seconds = time.perf_counter() - start
    summary.statuses = dict(statuses)
    summary.by_variant = {name: dict(counts) for name, counts in variants.items()}
    summary.by_experiment = dict(experiments)
    return summary


def _post(client, url: str, path: str, body: dict):
    """POST ``body`` to ``path``; an unreachable service is a ``ConnectionError`` naming ``url``."""
    import httpx

    try:
        return client.post(path, json=body)
    except httpx.TransportError as exc:
        raise ConnectionError(f"cannot reach the service at {url}: {exc}; is it running?") from None


def _clicks(
    population: Population, row: int, shown: list[str], index: dict[str, int], rng
) -> list[str]:
    """Items clicked among ``shown``: liked items with p_match, others (and unknown ones) p_other."""
    cols = np.array([index.get(item, -1) for item in shown], dtype=int)
    liked = np.where(cols >= 0, population.likes[row, np.maximum(cols, 0)], False)
    p = np.where(liked, population.p_match, population.p_other)
    return [item for item, hit in zip(shown, rng.random(len(shown)) < p, strict=True) if hit]
