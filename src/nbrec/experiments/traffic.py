"""Heavy-tailed, heterogeneous traffic, simulated per user and vectorised over many experiments.

Real traffic is not 3 requests per user at one click rate: a few users make most requests and
users click at very different rates. ``Traffic`` draws each user's requests from a Zipf law
capped at ``max_requests`` and their click rate from ``Beta(ctr_a, ctr_b)``; a pre-period
(the weeks before the experiment, the CUPED covariate) reuses the same click rate, so pre and
in-experiment engagement correlate as they do in logs. A treatment multiplies click rates by
``1 + lift``.

``simulate_sums`` runs ``runs`` experiments of ``users`` users at once and returns per-arm
``UserSums`` for every (run, peek): users arrive uniformly over ``peeks`` days and are counted
from the read after they arrive. Users are split 50/50 by a random draw (the service's hash is
uniform and tested in ``tests/experiments/test_assignment.py``); the per-user sums are what
``nbrec.experiments.analysis`` computes from RR logs, so these checks test its estimators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import zeta

from nbrec.experiments.estimators import UserSums


@dataclass(frozen=True)
class Traffic:
    """Per-user requests ~ min(Zipf(zipf), max_requests); click rate ~ Beta(ctr_a, ctr_b)."""

    zipf: float = 1.5
    max_requests: int = 200
    ctr_a: float = 0.5
    ctr_b: float = 2.0
    # Pre-period requests ~ Poisson(pre_scale * in-experiment requests): 8 gives a pre/in per-user
    # CTR correlation of about 0.6 (0.49 at 2), the population the CUPED goal names.
    pre_scale: float = 8.0

    def requests_cdf(self) -> np.ndarray:
        """P(requests <= k) for k = 1 .. max_requests - 1 (the rest is capped at max_requests)."""
        k = np.arange(1, self.max_requests, dtype=float)
        return np.cumsum(k**-self.zipf) / zeta(self.zipf)

    def draw(self, rng: np.random.Generator, size: int, lift=0.0) -> dict[str, np.ndarray]:
        """One population of ``size`` users: requests, clicks, pre-period requests and clicks.

        ``lift`` (scalar or one value per user) scales the users' in-experiment click rates.
        """
        # Inverse CDF of the capped Zipf law: same law as min(rng.zipf(a), cap), 5x faster.
        requests = 1 + np.searchsorted(self.requests_cdf(), rng.random(size), side="right")
        rate = rng.beta(self.ctr_a, self.ctr_b, size)
        clicks = rng.binomial(requests, np.minimum(rate * (1.0 + lift), 1.0))
        pre_requests = rng.poisson(self.pre_scale * requests)
        pre_clicks = rng.binomial(pre_requests, rate)
        return {"requests": requests, "clicks": clicks,
                "pre_requests": pre_requests, "pre_clicks": pre_clicks}  # fmt: skip


def pre_covariate(pre_clicks: np.ndarray, pre_requests: np.ndarray, fill: float) -> np.ndarray:
    """Pre-period CTR per user; users without pre-period requests get ``fill`` (e.g. the mean)."""
    pre_clicks, pre_requests = np.asarray(pre_clicks, float), np.asarray(pre_requests, float)
    return np.divide(pre_clicks, pre_requests, out=np.full(pre_clicks.shape, float(fill)),
                     where=pre_requests > 0)  # fmt: skip


def simulate_sums(
    traffic: Traffic, runs: int, users: int, peeks: int = 1, lift: float = 0.0, seed: int = 0
) -> tuple[UserSums, UserSums]:
    """(control, treatment) sums of shape (runs, peeks): users arrived by each daily read.

    ``lift`` is the treatment's relative change of click rates (0: an A/A experiment).
    """
    rng = np.random.default_rng(seed)
    n = runs * users
    arm = rng.integers(0, 2, n)
    day = rng.integers(0, peeks, n)
    run = np.repeat(np.arange(runs), users)
    parts = traffic.draw(rng, n, lift * arm)
    fill = parts["pre_clicks"].sum() / max(parts["pre_requests"].sum(), 1)
    x = pre_covariate(parts["pre_clicks"], parts["pre_requests"], fill)
    group = (run * 2 + arm) * peeks + day
    sums = UserSums.of(parts["clicks"], parts["requests"], x, group, runs * 2 * peeks)
    sums = sums.reshape(runs, 2, peeks).cumsum(axis=2)
    return sums.take(0, axis=1), sums.take(1, axis=1)
