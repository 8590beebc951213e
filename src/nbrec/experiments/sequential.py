"""Always-valid p-values and confidence sequences: the mixture SPRT with a normal mixture.

Why this test. People read the dashboard every day and stop when it turns green; a
fixed-horizon p-value read daily rejects a true null several times more often than alpha
(``nbrec experiment aa`` measures it). The mixture sequential probability ratio test (mSPRT)
of Johari, Koomen, Pekelis and Walsh, "Always valid inference: continuous monitoring of A/B
tests", Operations Research 70(3), 2022 (the statistics of Optimizely's Stats Engine), gives a
p-value and an interval that stay valid at *every* read, however often and whenever one
stops, with no horizon or number of looks to fix in advance.

Its role here: guardrails and monitoring without a planned maximum, and the always-valid p shown
beside the experiment's stop rule. The stop rule of the primary metric is the group-sequential
design (``group_sequential``): with daily reads it needs about 0.75x the fixed-horizon users at
the planned effect, the mSPRT 1.16x (``benchmarks/experiments``), because the mSPRT pays for
validity at every instant, which daily reads do not use.

The test. An estimate ``d ~ N(theta, V)`` (difference of per-user means or of ratio metrics;
``V`` from Welch or the delta method, the plug-in variance of Johari et al. section 4, valid
as users accumulate). Mixing the likelihood ratio of ``theta`` against 0 over
``theta ~ N(0, tau^2)`` gives

    Lambda = sqrt(V / (V + tau^2)) * exp(d^2 tau^2 / (2 V (V + tau^2)))

a nonnegative martingale under the null, so by Ville's inequality
``P(sup_n Lambda_n >= 1/alpha) <= alpha``. The always-valid p-value is the running minimum of
``1/Lambda``; inverting the test gives the confidence sequence
``d +- sqrt(V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V)))``, intersected
over the reads.

``tau`` is the scale of effects one expects. We set it to the experiment's MDE: a simulation
over tau in [0.5, 4] x MDE (benchmarks/experiments) puts the fewest users at stopping near
tau = MDE when the true effect is the MDE, and the mSPRT is not sensitive to tau within a
factor of two. The price of validity under continuous monitoring: at the MDE, 80% power needs
a maximum sample about 1.8x the fixed-horizon n (``max_users``); a larger effect stops early.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _log_lr(diff, variance, tau):
    diff, variance = np.asarray(diff, float), np.asarray(variance, float)
    t2 = float(tau) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 0.5 * np.log(variance / (variance + t2)) + diff**2 * t2 / (
            2 * variance * (variance + t2)
        )
    # No variance estimate yet (fewer than 2 users in an arm): no evidence.
    return np.where(np.isfinite(out), out, 0.0)


def msprt_p_value(diff, variance, tau: float) -> np.ndarray:
    """``min(1, 1/Lambda)`` at one read (not yet the running minimum)."""
    return np.minimum(1.0, np.exp(-_log_lr(diff, variance, tau)))


def always_valid_p(diff, variance, tau: float, axis: int = -1) -> np.ndarray:
    """Always-valid p-value after each read along ``axis``: running minimum of ``1/Lambda``."""
    return np.minimum.accumulate(msprt_p_value(diff, variance, tau), axis=axis)


def confidence_sequence(
    diff, variance, tau: float, alpha: float = 0.05, axis: int | None = -1
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) valid at every read; with ``axis`` set, intersected over the reads so far."""
    diff, variance = np.asarray(diff, float), np.asarray(variance, float)
    t2 = float(tau) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.sqrt(
            variance * (variance + t2) / t2 * (2 * np.log(1 / alpha) + np.log((variance + t2) / variance))
        )  # fmt: skip
    half = np.where(np.isfinite(half), half, np.inf)
    low, high = diff - half, diff + half
    if axis is not None and low.ndim:
        low, high = np.maximum.accumulate(low, axis=axis), np.minimum.accumulate(high, axis=axis)
    return low, high


@lru_cache(maxsize=64)
def _max_information(alpha: float, power: float, looks: int, paths: int = 20_000) -> float:
    """Information ``r = tau^2 / V`` at the last of ``looks`` equal reads for ``power`` at theta = tau.

    Monte Carlo of the standardised statistic (a Brownian motion with drift) with common random
    numbers and a fixed seed, so the answer is deterministic; bisection on r.
    """
    rng = np.random.default_rng(20220101)
    steps = rng.standard_normal((paths, looks))
    frac = np.arange(1, looks + 1) / looks
    walk = np.cumsum(steps, axis=1) / np.sqrt(looks)  # B(frac) at r = 1

    def power_at(r_max: float) -> float:
        r = r_max * frac
        z = np.sqrt(r) + walk * np.sqrt(r_max) / np.sqrt(r)  # (theta/tau) sqrt(r) + B(r)/sqrt(r)
        log_lr = -0.5 * np.log1p(r) + z**2 * r / (2 * (1 + r))
        return float((log_lr >= np.log(1 / alpha)).any(axis=1).mean())

    low, high = 0.1, 400.0
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if power_at(mid) < power else (low, mid)
    return high


def max_users(
    sd: float, mde: float, alpha: float = 0.05, power: float = 0.8, looks: int = 14
) -> int:
    """Users per arm at which the mSPRT (tau = mde), read ``looks`` times, has ``power`` at the MDE.

    ``sd`` is the per-user metric's standard deviation; ``V = 2 sd^2 / n``. If the test has not
    rejected by then, no effect as large as the MDE is likely: the experiment may stop.
    """
    if not sd > 0:
        return 2
    r = _max_information(float(alpha), float(power), int(looks))
    return int(np.ceil(r * 2 * sd**2 / mde**2))
