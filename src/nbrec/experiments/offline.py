"""The offline-online link: estimate a policy's online CTR from logged propensities.

Two estimators over RR-log frames (request rows with ``items`` and ``propensities``, feedback
rows with clicks), one item shown per request:

- ``replay_from_logs``: Li et al.'s replay (``nbrec.evaluation.replay``) for a *learning*
  policy such as a bandit; it needs a uniformly random logging policy, which the logged
  propensities must show (all equal to 1 / number of arms).
- ``ips_estimate``: inverse propensity scoring for a *fixed* stochastic policy under any
  logging policy with positive propensities, with a normal-approximation CI.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.stats import norm, sem
from scipy.stats import t as t_dist

from nbrec.evaluation.replay import LoggedEvents, ReplayResult, replay
from nbrec.experiments.online import REWARD_EVENTS
from nbrec.models.bandits import Policy


def single_item_log(requests: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """One row per logged request: user, item shown, its propensity, reward (clicked or not)."""
    sizes = requests["items"].map(len)
    if (sizes != 1).any():
        raise ValueError(
            f"off-policy estimates here need one item per request (k=1); found k={sorted(sizes.unique())}"
        )
    if requests["propensities"].isna().any():
        raise ValueError(
            "some requests have no logged propensities: the logging policy must log them"
        )
    clicked = set(feedback.loc[feedback["event"].isin(REWARD_EVENTS), "request_id"])
    return pd.DataFrame(
        {
            "user_id": requests["user_id"].to_numpy(),
            "item_id": requests["items"].map(lambda items: items[0]).to_numpy(),
            "propensity": requests["propensities"].map(lambda p: float(p[0])).to_numpy(),
            "reward": requests["request_id"].isin(clicked).astype(float).to_numpy(),
        }
    )


def replay_from_logs(
    policy: Policy,
    requests: pd.DataFrame,
    feedback: pd.DataFrame,
    arm_ids: list[str],
    seed: int = 0,
) -> ReplayResult:
    """Replay ``policy`` over ``arm_ids`` on a log whose propensities show uniform logging."""
    log = single_item_log(requests, feedback)
    uniform = 1.0 / len(arm_ids)
    if not np.allclose(log["propensity"], uniform, rtol=1e-6):
        raise ValueError(
            f"replay needs uniformly random logging (propensity 1/{len(arm_ids)} = {uniform:.4g}); "
            f"logged propensities range {log['propensity'].min():.4g}..{log['propensity'].max():.4g}: "
            "use ips_estimate for a fixed policy instead"
        )
    arms = pd.Index(arm_ids).get_indexer(log["item_id"])
    if (arms < 0).any():
        raise ValueError(f"logged item {log['item_id'][arms < 0].iloc[0]!r} is not one of the arms")
    events = LoggedEvents(
        log["user_id"].to_numpy(), arms, log["reward"].to_numpy(), np.asarray(arm_ids)
    )
    return replay(policy, events, seed=seed)


def ips_estimate(
    target: Callable[[str, str], float],
    requests: pd.DataFrame,
    feedback: pd.DataFrame,
    alpha: float = 0.05,
) -> dict:
    """IPS CTR of a fixed policy: mean of reward * pi(item | user) / propensity, with its CI.

    ``target(user_id, item_id)`` is the probability the evaluated policy shows that item.
    """
    log = single_item_log(requests, feedback)
    pi = np.array([target(u, i) for u, i in zip(log["user_id"], log["item_id"], strict=True)])
    values = log["reward"].to_numpy() * pi / log["propensity"].to_numpy()
    mean = float(values.mean())
    half = float(norm.ppf(1 - alpha / 2) * values.std(ddof=1) / np.sqrt(len(values)))
    return {"ctr": mean, "ctr_low": mean - half, "ctr_high": mean + half, "events": len(values)}


def replay_ci(
    policy_factory: Callable[[], Policy],
    requests: pd.DataFrame,
    feedback: pd.DataFrame,
    arm_ids: list[str],
    chunks: int = 10,
    alpha: float = 0.05,
) -> dict:
    """Replay on ``chunks`` disjoint slices of the log: CTR mean with a t-interval over the runs.

    A learning policy's CTR varies from run to run (early luck steers what it learns), more
    than the binomial interval of a single replay admits; independent runs measure that.
    """
    bounds = np.linspace(0, len(requests), chunks + 1).astype(int)
    runs = [
        replay_from_logs(policy_factory(), requests.iloc[lo:hi], feedback, arm_ids, seed=i)
        for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
    ]
    ctrs = np.array([r.ctr for r in runs])
    low, high = t_dist.interval(1 - alpha, len(ctrs) - 1, loc=ctrs.mean(), scale=sem(ctrs))
    return {"ctr": float(ctrs.mean()), "ctr_low": float(low), "ctr_high": float(high),
            "runs": ctrs.tolist(), "matched": [r.n_matched for r in runs]}  # fmt: skip
