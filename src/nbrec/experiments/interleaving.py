"""Team-draft interleaving: two rankers in one answer, credit by clicks, a test on users.

Team draft (Radlinski, Kurup, Joachims, "How does clickthrough data reflect retrieval
quality?", CIKM 2008; validated at scale by Chapelle, Joachims, Radlinski, Yue, "Large-scale
validation and analysis of interleaved search evaluation", ACM TOIS 30(1), 2012): like captains
picking teams, the ranker with fewer picks so far (a coin decides ties) adds its best item not
yet shown; each shown item remembers the team that picked it. A click credits the clicked
item's team. Every user sees both rankers side by side, so the users' very different click
rates cancel out: interleaving needs far fewer users than an A/B test on CTR
(benchmarks/experiments).

Logged: each answer's ``items`` and ``teams`` (``"a"``/``"b"`` per position, ``a`` the first
variant); the analysis recomputes the credit from the logged clicks (``credit``). The unit is
the user: per user, the share of their requests ``b`` won minus the share ``a`` won
(``preference``); significance by a one-sample t-test on it and a sign test (binomial) on the
users who preferred one side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from nbrec.experiments.online import REWARD_EVENTS

TEAM_A, TEAM_B = "a", "b"


def team_draft_codes(
    a: np.ndarray, b: np.ndarray, k: int, coins: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised team draft of ``n`` pairs of ranked lists of item codes (>= 0; -1 pads).

    ``coins`` (n, k) booleans: True lets ``a`` pick first when both teams have as many items.
    Returns (items (n, k), -1 where both lists ran out; team (n, k): 0 = a, 1 = b, -1 none).
    """
    n, m = a.shape[0], max(a.shape[1], b.shape[1])
    lists = [np.pad(x, ((0, 0), (0, m - x.shape[1])), constant_values=-1) for x in (a, b)]
    items, team = np.full((n, k), -1), np.full((n, k), -1)
    pointer, picked = np.zeros((2, n), int), np.zeros((2, n), int)
    rows = np.arange(n)
    for pos in range(k):
        candidate = []
        for side in (0, 1):  # skip what is already shown
            while True:
                at = np.minimum(pointer[side], m - 1)
                item = np.where(pointer[side] < m, lists[side][rows, at], -1)
                dup = (item >= 0) & (items[:, :pos] == item[:, None]).any(axis=1)
                if not dup.any():
                    break
                pointer[side] += dup
            candidate.append(item)
        a_first = (picked[0] < picked[1]) | ((picked[0] == picked[1]) & coins[:, pos])
        has_a, has_b = candidate[0] >= 0, candidate[1] >= 0
        side = np.where(a_first, 0, 1)
        side = np.where((side == 0) & ~has_a, 1, side)  # a ran out: b picks
        side = np.where((side == 1) & ~has_b, 0, side)  # b ran out: a picks
        chosen = np.where(side == 0, candidate[0], candidate[1])
        items[:, pos] = chosen
        team[:, pos] = np.where(chosen >= 0, side, -1)
        for s in (0, 1):
            took = (side == s) & (chosen >= 0)
            pointer[s] += took
            picked[s] += took
    return items, team


def team_draft(
    list_a: list[str], list_b: list[str], k: int, rng: np.random.Generator
) -> tuple[list[str], list[str]]:
    """One interleaved answer: (items, teams), teams ``"a"``/``"b"`` per position."""
    vocabulary = list(dict.fromkeys([*list_a, *list_b]))
    code = {item: i for i, item in enumerate(vocabulary)}
    a = np.array([[code[i] for i in list_a]], int).reshape(1, -1)
    b = np.array([[code[i] for i in list_b]], int).reshape(1, -1)
    items, team = team_draft_codes(a, b, k, rng.random((1, k)) < 0.5)
    keep = items[0] >= 0
    return [vocabulary[i] for i in items[0][keep]], [(TEAM_A, TEAM_B)[t] for t in team[0][keep]]


def credit(requests: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """Per request: user_id, clicks credited to a and to b, and the winner (a, b or tie).

    ``requests`` carry ``items`` and ``teams`` lists as logged; ``feedback`` rows (request_id,
    item_id, event) credit the clicked item's team; a click on an item not shown is ignored, and
    one item clicked twice counts once.
    """
    shown = requests[["request_id", "user_id", "items", "teams"]].explode(["items", "teams"])
    shown = shown.rename(columns={"items": "item_id", "teams": "team"}).dropna(subset=["item_id"])
    clicks = feedback.loc[feedback["event"].isin(REWARD_EVENTS), ["request_id", "item_id"]]
    clicked = shown.merge(clicks.drop_duplicates(), on=["request_id", "item_id"], how="inner")
    counts = clicked.pivot_table(index="request_id", columns="team", values="item_id",
                                 aggfunc="count", fill_value=0)  # fmt: skip
    out = requests[["request_id", "user_id"]].set_index("request_id")
    for team in (TEAM_A, TEAM_B):
        out[f"clicks_{team}"] = counts.get(team, 0)
    out = out.fillna(0).astype({"clicks_a": int, "clicks_b": int})
    out["winner"] = np.select(
        [out["clicks_a"] > out["clicks_b"], out["clicks_b"] > out["clicks_a"]],
        [TEAM_A, TEAM_B],
        "tie",
    )
    return out.reset_index()


def preference(per_request: pd.DataFrame) -> pd.DataFrame:
    """Per user: requests, wins of a and b, and preference = (wins_b - wins_a) / requests."""
    frame = per_request.assign(
        win_a=(per_request["winner"] == TEAM_A).astype(int),
        win_b=(per_request["winner"] == TEAM_B).astype(int),
    )
    users = frame.groupby("user_id").agg(
        requests=("winner", "size"), wins_a=("win_a", "sum"), wins_b=("win_b", "sum")
    )
    users["preference"] = (users["wins_b"] - users["wins_a"]) / users["requests"]
    return users.reset_index()


@dataclass(frozen=True)
class InterleavingResult:
    users: int
    mean_preference: float  # > 0: b preferred
    t_p_value: float
    prefer_a: int
    prefer_b: int
    sign_p_value: float

    def winner(self, alpha: float) -> str | None:
        """``"b"``/``"a"`` when the t-test rejects at ``alpha``, else None."""
        if not self.t_p_value < alpha:
            return None
        return TEAM_B if self.mean_preference > 0 else TEAM_A


def preference_test(users: pd.DataFrame | np.ndarray) -> InterleavingResult:
    """t-test of mean per-user preference = 0, and the sign test on users with a preference."""
    pref = np.asarray(users["preference"] if isinstance(users, pd.DataFrame) else users, float)
    n = len(pref)
    t_p = float(stats.ttest_1samp(pref, 0.0).pvalue) if n > 1 and pref.std() > 0 else 1.0
    prefer_a, prefer_b = int((pref < 0).sum()), int((pref > 0).sum())
    sign_p = (
        float(stats.binomtest(prefer_b, prefer_a + prefer_b, 0.5).pvalue)
        if prefer_a + prefer_b
        else 1.0
    )
    return InterleavingResult(n, float(pref.mean()) if n else 0.0, t_p, prefer_a, prefer_b, sign_p)


def analyze_interleaving(
    shown: pd.DataFrame, feedback: pd.DataFrame, names: tuple[str, str], alpha: float = 0.05
) -> dict:
    """The read-out of an interleaving experiment from its logs (``nbrec experiment analyze``).

    ``shown``: the logged answers (request_id, user_id, items, teams); ``feedback``: the RR
    feedback rows; ``names``: the variants of teams a and b. Credit is recomputed from the logs.
    """
    per_request = credit(shown, feedback)
    users = preference(per_request)
    result = preference_test(users)
    won = result.winner(alpha)
    return {
        "type": "interleaving",
        "team_a": names[0],
        "team_b": names[1],
        "requests": len(per_request),
        "wins_a": int((per_request["winner"] == TEAM_A).sum()),
        "wins_b": int((per_request["winner"] == TEAM_B).sum()),
        "ties": int((per_request["winner"] == "tie").sum()),
        **{key: getattr(result, key) for key in result.__dataclass_fields__},
        "alpha": alpha,
        "winner": None if won is None else names[won == TEAM_B],
        "per_user": users.to_dict(orient="records"),
    }
