"""The experiment's stop rule: a group-sequential test with a Lan-DeMets alpha-spending function.

Why this design. The goal is to stop a known-better variant early *and* keep the false-positive
rate at alpha however often the read-out is looked at. The mixture SPRT (``sequential``) is valid
under truly continuous monitoring, but near the planned effect it needs more users than a
fixed-horizon test (1.16x at power 0.8, ``benchmarks/experiments``): it insures against
looks at every instant, which daily reads do not need. A group-sequential design spends alpha
only at the reads that happen (Jennison and Turnbull, "Group Sequential Methods with
Applications to Clinical Trials", 2000, ch. 7), and is the most efficient family near the
planned effect.

- Alpha spending (Lan and DeMets, "Discrete sequential boundaries for clinical trials",
  Biometrika 70, 1983): by information fraction ``t`` the test has spent ``alpha(t)``; the
  boundary of each read is computed from the fractions *actually observed* so far, so reads
  need not be planned or equally spaced, and an extra read costs only its share of alpha.
- The spending function is the Kim-DeMets power family ``alpha t^rho`` (Kim and DeMets,
  Biometrika 74, 1987) with ``rho = 1.5``: among the family (Pocock-type, rho 1, 1.5, 2, 3 and
  O'Brien-Fleming-type, computed for 14 daily reads) it gives the fewest expected users at
  the planned effect at power 0.8 (0.753x the fixed n; rho 1: 0.762, Pocock-type 0.776) and
  nearly the fewest at 0.9 (0.653x; rho 1: 0.650 with a larger maximum), with a maximum sample
  of 1.11-1.12x the fixed one (``operating_characteristics``; table in docs/experiments.md).
- The boundaries are two-sided and symmetric: ``|Z_k| >= c_k`` rejects, found read by read so
  that ``P_0(first crossing at read k) = alpha(t_k) - alpha(t_{k-1})``, by the recursive
  numerical integration of Armitage, McPherson and Rowe (JRSS A 132, 1969) on the grid of
  Jennison and Turnbull ch. 19, from ``gsdesign`` (the gsDesign R package's C code in Python).
- The maximum sample is the fixed-horizon n times the inflation that gives ``power`` at the
  MDE (``inflation``); reaching it without a crossing means no effect as large as the MDE.
- The interval is the repeated confidence interval ``d +- c_k sqrt(V_k)`` (Jennison and
  Turnbull ch. 9), intersected over the reads: valid simultaneously at every read.

Keep ``sequential`` (mSPRT) for monitoring without a planned maximum (guardrails: harm may
appear at any time and there is no planned effect to size a design for).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from gsdesign import h1, hupdate
from scipy import optimize, stats
from scipy.special import ndtr

RHO = 1.5  # Kim-DeMets power family exponent: fewest users at the planned effect (see above)
GRID = 18  # gsDesign's default grid size r (Jennison and Turnbull ch. 19)
NO_BOUND = 40.0  # z beyond which nothing is ever crossed (a read that spends no alpha)


def spent(t, alpha: float, rho: float = RHO) -> np.ndarray:
    """Alpha spent by information fraction ``t``: ``alpha * t^rho`` (all of it from t = 1)."""
    return alpha * np.clip(np.asarray(t, float), 0.0, 1.0) ** rho


def _tails(grid, t_prev: float, t: float, c: float, drift: float) -> tuple[float, float]:
    """P(continued to the previous read, then Z above ``c`` / below ``-c`` at this one)."""
    z, _, h = grid
    sd = np.sqrt(t - t_prev)
    mean = z * np.sqrt(t_prev) + drift * (t - t_prev)
    upper = float(h @ ndtr((mean - c * np.sqrt(t)) / sd))  # ndtr: scipy's normal cdf, no overhead
    lower = float(h @ ndtr((-c * np.sqrt(t) - mean) / sd))
    return upper, lower


def _walk(t: np.ndarray, c: np.ndarray, drift: float) -> tuple[np.ndarray, np.ndarray]:
    """Per read: P(first crossing above ``c_k``), P(first crossing below ``-c_k``).

    ``drift`` = theta * sqrt(I_max): Z_k ~ N(drift sqrt(t_k), 1) with independent increments.
    """
    up, low = np.zeros(len(t)), np.zeros(len(t))
    m = drift * np.sqrt(t[0])
    up[0], low[0] = stats.norm.sf(c[0] - m), stats.norm.cdf(-c[0] - m)
    grid = h1(GRID, drift, t[0], -c[0], c[0])
    for k in range(1, len(t)):
        up[k], low[k] = _tails(grid, t[k - 1], t[k], c[k], drift)
        grid = hupdate(GRID, drift, t[k], -c[k], c[k], drift, t[k - 1], grid)
    return up, low


def boundaries(t, alpha: float, rho: float = RHO, spending=None) -> np.ndarray:
    """Two-sided boundaries ``c_k`` for strictly increasing information fractions ``t`` in (0, 1].

    ``spending(t, alpha)``: another spending function than ``spent`` (e.g. to check published
    Pocock- or O'Brien-Fleming-type boundaries).
    """
    t = np.asarray(t, float)
    if len(t) == 0:
        return np.zeros(0)
    if np.any(np.diff(t) <= 0) or t[0] <= 0 or t[-1] > 1:
        raise ValueError(f"information fractions must increase strictly within (0, 1]: {t}")
    total = spent(t, alpha, rho) if spending is None else spending(t, alpha)
    spend = np.diff(total, prepend=0.0)
    c = np.empty(len(t))
    c[0] = stats.norm.isf(spend[0] / 2) if spend[0] > 0 else NO_BOUND
    c[0] = min(c[0], NO_BOUND)
    grid = h1(GRID, 0.0, t[0], -c[0], c[0])
    for k in range(1, len(t)):
        c[k] = _solve(grid, t[k - 1], t[k], spend[k], start=c[k - 1])
        grid = hupdate(GRID, 0.0, t[k], -c[k], c[k], 0.0, t[k - 1], grid)
    return c


def _solve(grid, t_prev: float, t: float, target: float, start: float) -> float:
    """The ``c`` at which the null crossing probability of this read is ``target``.

    Safeguarded Newton (the probability falls monotonically in ``c``, its derivative is a
    weighted normal density): 3-5 evaluations instead of a bracketing search's 15.
    """
    z, _, h = grid
    sd, root = np.sqrt(t - t_prev), np.sqrt(t)
    mean = z * np.sqrt(t_prev)

    def f(c):
        upper, lower = (mean - c * root) / sd, (-c * root - mean) / sd
        value = float(h @ (ndtr(upper) + ndtr(lower))) - target
        slope = (
            -root
            / sd
            * float(h @ (np.exp(-0.5 * upper**2) + np.exp(-0.5 * lower**2)))
            / np.sqrt(2 * np.pi)
        )
        return value, slope

    low, high = 0.0, NO_BOUND
    if f(high)[0] >= 0:
        return NO_BOUND  # nothing (left) to spend at this read
    c = min(max(start, 0.5), NO_BOUND - 1)
    for _ in range(60):
        value, slope = f(c)
        if abs(value) < 1e-8 * target + 1e-15:
            return c
        low, high = (c, high) if value > 0 else (low, c)
        step = c - value / slope if slope < 0 else (low + high) / 2
        c = step if low < step < high else (low + high) / 2
        if high - low < 1e-9:
            break
    return c


@lru_cache(maxsize=64)
def _design(alpha: float, power: float, looks: int, rho: float) -> tuple[float, float]:
    """(drift at the MDE, inflation I_max / I_fixed) for ``looks`` equally spaced reads."""
    t = np.arange(1, looks + 1) / looks
    c = boundaries(t, alpha, rho)
    drift = optimize.brentq(lambda d: _walk(t, c, d)[0].sum() - power, 0.1, 20.0, xtol=1e-8)
    fixed = stats.norm.isf(alpha / 2) + stats.norm.isf(1 - power)
    return float(drift), float((drift / fixed) ** 2)


def inflation(alpha: float = 0.05, power: float = 0.8, looks: int = 14, rho: float = RHO) -> float:
    """Maximum sample of the design over the fixed-horizon sample at the same alpha and power."""
    return _design(float(alpha), float(power), int(looks), float(rho))[1]


def fixed_users(sd: float, mde: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Users per arm of a fixed-horizon z-test (normal approximation) with ``power`` at ``mde``."""
    return 2 * sd**2 * (stats.norm.isf(alpha / 2) + stats.norm.isf(1 - power)) ** 2 / mde**2


def max_users(
    sd: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    looks: int = 14,
    rho: float = RHO,
) -> int:
    """Users per arm by which the design has ``power`` at the MDE (``sd``: per-user metric's sd)."""
    if not sd > 0:
        return 2
    return int(np.ceil(inflation(alpha, power, looks, rho) * fixed_users(sd, mde, alpha, power)))


def operating_characteristics(
    alpha: float = 0.05, power: float = 0.8, looks: int = 14, rho: float = RHO,
    effects: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5),
) -> dict:  # fmt: skip
    """Exact (numerical) rejection rate and expected users / fixed n at ``effects`` x the MDE."""
    drift, ratio = _design(float(alpha), float(power), int(looks), float(rho))
    t = np.arange(1, looks + 1) / looks
    c = boundaries(t, alpha, rho)
    out = {"alpha": alpha, "power": power, "looks": looks, "rho": rho, "inflation": ratio}
    for e in effects:
        up, low = _walk(t, c, drift * e)
        stop = up + low
        expected = float(np.sum(t * stop) + 1.0 - stop.sum())
        out[f"{e:g}x"] = {"rejects": float(stop.sum()), "expected_over_fixed": expected * ratio}
    return out


def monitor(users, diff, variance, limit, alpha: float, rho: float = RHO) -> dict:
    """Read the design at every read so far (arrays in read order).

    ``limit``: maximum users per arm, one for all reads or as planned at each read (from the
    variance estimated then). The information fraction of a read is ``users / limit`` (capped
    at 1, the final analysis);
    a read that adds no information is not a look. Returns per read the fraction, z, the
    boundary (inf where no look), and the first crossing (or None) and whether the maximum
    was reached.
    """
    users, diff, variance = (np.atleast_1d(np.asarray(a, float)) for a in (users, diff, variance))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(variance > 0, diff / np.sqrt(variance), 0.0)
    limit = np.maximum(np.asarray(limit, float), 1.0)
    frac = np.minimum(np.where(np.isfinite(users), users, 0.0) / limit, 1.0)
    look, last = np.zeros(len(frac), bool), 0.0
    for k, f in enumerate(frac):
        if f > last + 1e-9 and variance[k] > 0 and last < 1.0:
            look[k], last = True, f
    bound = np.full(len(frac), np.inf)
    bound[look] = boundaries(frac[look], alpha, rho)
    crossed = np.flatnonzero(np.abs(z) >= bound)
    first = int(crossed[0]) if len(crossed) else None
    return {"fraction": frac, "z": z, "boundary": bound, "look": look, "first_crossing": first,
            "reached_max": bool(last >= 1.0)}  # fmt: skip


def repeated_ci(diff, variance, bound) -> tuple[float | None, float | None]:
    """Repeated confidence interval intersected over the looks (None: unbounded so far)."""
    diff, variance, bound = (np.asarray(a, float) for a in (diff, variance, bound))
    ok = np.isfinite(bound) & (variance > 0)
    if not ok.any():
        return None, None
    half = bound[ok] * np.sqrt(variance[ok])
    return float(np.max(diff[ok] - half)), float(np.min(diff[ok] + half))


def decision(mon: dict, ci: tuple, users: int, limit: int) -> dict:
    """Whether the experiment may stop now, and why, from ``monitor``'s read."""
    first = mon["first_crossing"]
    if first is not None:
        z, c = mon["z"][first], mon["boundary"][first]
        side = "better" if z > 0 else "worse"
        return {"may_stop": True, "direction": side,
                "why": f"group-sequential: z={z:+.2f} crossed the boundary {c:.2f} at read {first + 1} "
                       f"(information {mon['fraction'][first]:.0%}): treatment is {side}"}  # fmt: skip
    if mon["reached_max"]:
        return {"may_stop": True, "direction": None,
                "why": f"{users} users per arm reached the planned maximum {limit} without crossing "
                       "the boundary: no effect as large as the MDE"}  # fmt: skip
    z, looks = mon["z"][-1], mon["boundary"][mon["look"]]
    needs = f"|z| >= {looks[-1]:.2f}" if len(looks) else "more users"
    return {"may_stop": False, "direction": None,
            "why": f"keep running: z={z:+.2f}, stops at {needs}; {users} of up to {limit} users per arm"}  # fmt: skip
