"""Treatment-effect estimators on per-user sufficient statistics, vectorised over any shape.

Users are the unit of randomisation, so every test here treats a user as one observation
(a request-level test treats a heavy user's 200 correlated requests as 200 independent
observations and rejects a true null far too often; see ``benchmarks/experiments``). Each
estimator takes ``UserSums`` (sums over the users of one arm) whose fields are numpy arrays of
any common shape: a scalar for one read-out of ``analysis.analyze``, ``(runs, peeks)`` for the
vectorised A/A and power simulations, which therefore test the very code the analysis runs.

- ``welch``: difference of mean per-user metric (per-user CTR), Welch's t-test.
- ``ratio``: difference of a ratio metric (request CTR = clicks / requests) with the delta
  method on per-user (numerator, denominator) pairs (Deng, Knoblich, Lu, "Applying the delta
  method in metric analytics", KDD 2018).
- ``cuped``: Welch on ``y - theta * x`` with ``x`` each user's pre-experiment value and ``theta``
  pooled over both arms (Deng, Xu, Kohavi, Walker, "Improving the sensitivity of online
  controlled experiments by utilizing pre-experiment data", WSDM 2013).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

_FIELDS = ("count", "y", "yy", "num", "den", "nn", "dd", "nd", "x", "xx", "xy")


@dataclass(frozen=True)
class UserSums:
    """Sums over users of: 1, y, y^2, num, den, num^2, den^2, num*den, x, x^2, x*y.

    ``y`` is the per-user metric (CTR), ``num``/``den`` the ratio metric's per-user parts
    (clicked requests, requests), ``x`` the pre-experiment covariate (0 when unused).
    """

    count: np.ndarray
    y: np.ndarray
    yy: np.ndarray
    num: np.ndarray
    den: np.ndarray
    nn: np.ndarray
    dd: np.ndarray
    nd: np.ndarray
    x: np.ndarray
    xx: np.ndarray
    xy: np.ndarray

    @classmethod
    def of(
        cls, num: np.ndarray, den: np.ndarray, x: np.ndarray | None = None,
        group: np.ndarray | None = None, groups: int = 1,
    ) -> UserSums:  # fmt: skip
        """Sums per group (``group`` ints in [0, groups)) of users' ``num``/``den`` (y = num/den)."""
        num, den = np.asarray(num, float), np.asarray(den, float)
        x = np.zeros_like(num) if x is None else np.asarray(x, float)
        y = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        group = np.zeros(len(num), int) if group is None else np.asarray(group)
        parts = (np.ones_like(y), y, y * y, num, den, num * num, den * den, num * den, x, x * x, x * y)  # fmt: skip
        return cls(*(np.bincount(group, weights=p, minlength=groups) for p in parts))

    def reshape(self, *shape: int) -> UserSums:
        return UserSums(*(getattr(self, f).reshape(shape) for f in _FIELDS))

    def cumsum(self, axis: int) -> UserSums:
        """Running sums along ``axis`` (e.g. users arrived by each peek)."""
        return UserSums(*(np.cumsum(getattr(self, f), axis=axis) for f in _FIELDS))

    def take(self, index, axis: int) -> UserSums:
        return UserSums(*(np.take(getattr(self, f), index, axis=axis) for f in _FIELDS))

    def __add__(self, other: UserSums) -> UserSums:
        return UserSums(*(getattr(self, f) + getattr(other, f) for f in _FIELDS))


@dataclass(frozen=True)
class Estimate:
    """Treatment minus control: the difference, its variance and the fixed-horizon p-value."""

    diff: np.ndarray
    variance: np.ndarray
    p_value: np.ndarray

    def ci(self, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        half = stats.norm.ppf(1 - alpha / 2) * np.sqrt(self.variance)
        return self.diff - half, self.diff + half


def _div(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    return np.divide(a, b, out=np.full(a.shape, np.nan), where=b > 0)


def _mean_var(total, squares, count):
    mean = _div(total, count)
    var = _div(squares - total * mean, count - 1)
    return mean, np.maximum(var, 0.0)


def _welch(ma, va, na, mb, vb, nb) -> Estimate:
    sa, sb = _div(va, na), _div(vb, nb)
    variance = sa + sb
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (mb - ma) / np.sqrt(variance)
        df = variance**2 / (_div(sa**2, na - 1) + _div(sb**2, nb - 1))
        p = 2 * stats.t.sf(np.abs(t), df)
    # No spread at all (e.g. nobody clicked): no evidence of a difference.
    p = np.where(np.isfinite(p), p, 1.0)
    return Estimate(mb - ma, variance, p)


def welch(control: UserSums, treatment: UserSums) -> Estimate:
    """Mean per-user metric, Welch's t-test (unequal variances)."""
    ma, va = _mean_var(control.y, control.yy, control.count)
    mb, vb = _mean_var(treatment.y, treatment.yy, treatment.count)
    return _welch(ma, va, control.count, mb, vb, treatment.count)


def _ratio_and_variance(s: UserSums) -> tuple[np.ndarray, np.ndarray]:
    """sum(num) / sum(den) and its delta-method variance (users i.i.d., one pair each)."""
    n = s.count
    mu_n, mu_d = _div(s.num, n), _div(s.den, n)
    var_n = _div(s.nn - s.num * mu_n, n - 1)
    var_d = _div(s.dd - s.den * mu_d, n - 1)
    cov = _div(s.nd - s.num * mu_d, n - 1)
    ratio = _div(mu_n, mu_d)
    # Var(mean_n / mean_d) ~ (var_n - 2 r cov + r^2 var_d) / (n mu_d^2)  (first-order Taylor)
    variance = _div(var_n - 2 * ratio * cov + ratio**2 * var_d, n * mu_d**2)
    return ratio, np.maximum(variance, 0.0)


def ratio(control: UserSums, treatment: UserSums) -> Estimate:
    """Ratio metric (request CTR) with the delta method; normal p-value."""
    ra, va = _ratio_and_variance(control)
    rb, vb = _ratio_and_variance(treatment)
    variance = va + vb
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (rb - ra) / np.sqrt(variance)
        p = 2 * stats.norm.sf(np.abs(z))
    return Estimate(rb - ra, variance, np.where(np.isfinite(p), p, 1.0))


def request_z_test(control: UserSums, treatment: UserSums) -> Estimate:
    """The two-proportion z-test on requests: kept only to show why it was dropped.

    It assumes every request independent; with users as the randomisation unit and heavy users
    making hundreds of requests, its false-positive rate is many times alpha.
    """
    pa, pb = _div(control.num, control.den), _div(treatment.num, treatment.den)
    pooled = _div(control.num + treatment.num, control.den + treatment.den)
    variance = pooled * (1 - pooled) * (_div(1, control.den) + _div(1, treatment.den))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.norm.sf(np.abs(pb - pa) / np.sqrt(variance))
    return Estimate(pb - pa, variance, np.where(np.isfinite(p), p, 1.0))


def cuped_theta(control: UserSums, treatment: UserSums) -> np.ndarray:
    """theta = cov(x, y) / var(x), pooled over both arms (so it is the same for both)."""
    s = control + treatment
    mx, my = _div(s.x, s.count), _div(s.y, s.count)
    var_x = s.xx - s.x * mx
    theta = _div(s.xy - s.x * my, var_x)
    return np.where(np.isfinite(theta), theta, 0.0)


def cuped(control: UserSums, treatment: UserSums) -> tuple[Estimate, np.ndarray]:
    """Welch on ``y - theta x`` -> (estimate, variance reduction vs plain Welch, in [0, 1]).

    The adjusted sums follow from the raw ones: sum(y - t x) = y - t x and
    sum((y - t x)^2) = yy - 2 t xy + t^2 xx. Centering x is unnecessary: it shifts both arms
    equally and cancels in the difference.
    """
    theta = cuped_theta(control, treatment)

    def adjusted(s: UserSums):
        total = s.y - theta * s.x
        return _mean_var(total, s.yy - 2 * theta * s.xy + theta**2 * s.xx, s.count)

    ma, va = adjusted(control)
    mb, vb = adjusted(treatment)
    est = _welch(ma, va, control.count, mb, vb, treatment.count)
    plain = welch(control, treatment)
    reduction = 1.0 - _div(est.variance, plain.variance)
    return est, np.where(np.isfinite(reduction), reduction, 0.0)
