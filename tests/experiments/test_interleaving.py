"""Team-draft interleaving on hand-computed cases, credit from logged clicks, the user-level test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nbrec.experiments.interleaving import (
    credit,
    preference,
    preference_test,
    team_draft,
    team_draft_codes,
)


def draft(a, b, k, coins):
    items, team = team_draft_codes(np.array([a]), np.array([b]), k, np.array([coins]))
    return items[0].tolist(), ["ab"[t] if t >= 0 else "-" for t in team[0]]


def test_team_draft_hand_cases():
    # a picks first on ties: a 1, b 2 (its best), a 3 (2 is taken), b 5.
    assert draft([1, 2, 3, 4], [2, 5, 1, 6], 4, [True] * 4) == ([1, 2, 3, 5], list("abab"))
    # b first: b 2, a 1, b 5 (tie again, coin says b), a 3.
    assert draft([1, 2, 3, 4], [2, 5, 1, 6], 4, [False] * 4) == ([2, 1, 5, 3], list("baba"))
    # The team with fewer picks goes first whatever the coin: a 1, b 2, then coin False -> b 5,
    # then a (fewer picks) 3.
    assert draft([1, 2, 3, 4], [2, 5, 1, 6], 4, [True, True, False, True]) == (
        [1, 2, 5, 3],
        list("abba"),
    )
    # a runs out: b fills the answer.
    assert draft([1], [2, 3, 4], 4, [True] * 4) == ([1, 2, 3, 4], list("abbb"))
    # Both run out: the answer is shorter.
    assert draft([1, 2], [2, 1], 4, [True] * 4) == ([1, 2, -1, -1], list("ab--"))
    # Identical rankers: the answer is that ranking, teams alternate in pairs.
    items, teams = draft([7, 8, 9, 10], [7, 8, 9, 10], 4, [True, False, False, True])
    assert (
        items == [7, 8, 9, 10]
        and sorted(teams[:2]) == ["a", "b"]
        and sorted(teams[2:]) == ["a", "b"]
    )


def test_team_draft_on_item_ids_is_balanced():
    rng = np.random.default_rng(0)
    firsts = []
    for _ in range(400):
        items, teams = team_draft(["x1", "x2", "x3"], ["y1", "x1", "y2"], 4, rng)
        assert len(items) == len(set(items)) == 4 and set(teams) == {"a", "b"}
        assert abs(teams.count("a") - teams.count("b")) <= 1
        firsts.append(teams[0])
    assert 0.4 < firsts.count("a") / 400 < 0.6  # the coin is fair


def test_credit_and_preference_from_logged_clicks():
    requests = pd.DataFrame({
        "request_id": ["r1", "r2", "r3", "r4"],
        "user_id": ["u1", "u1", "u2", "u3"],
        "items": [["i1", "i2", "i3"], ["i1", "i4"], ["i5", "i6"], ["i7", "i8"]],
        "teams": [["a", "b", "b"], ["b", "a"], ["a", "b"], ["b", "a"]],
    })  # fmt: skip
    feedback = pd.DataFrame({
        "request_id": ["r1", "r1", "r1", "r1", "r2", "r3", "r3", "r3", "r4"],
        "item_id": ["i2", "i3", "i1", "i3", "i4", "i5", "zz", "i6", "i8"],
        "event": ["click", "click", "click", "click", "view", "click", "click", "click", "purchase"],
    })  # fmt: skip
    per_request = credit(requests, feedback).set_index("request_id")
    # r1: b gets i2, i3 (twice clicked, counted once), a gets i1 -> b wins 2:1
    assert per_request.loc["r1", ["clicks_a", "clicks_b", "winner"]].tolist() == [1, 2, "b"]
    assert per_request.loc["r2", "winner"] == "tie"  # a view is no click
    assert per_request.loc["r3", ["clicks_a", "clicks_b", "winner"]].tolist() == [
        1,
        1,
        "tie",
    ]  # zz not shown
    assert per_request.loc["r4", "winner"] == "a"  # a purchase is a reward
    users = preference(credit(requests, feedback)).set_index("user_id")
    assert users.loc["u1", "preference"] == pytest.approx(0.5)  # 1 win of b in 2 requests
    assert users.loc["u3", "preference"] == pytest.approx(-1.0)
    result = preference_test(users.reset_index())
    assert result.prefer_a == 1 and result.prefer_b == 1
    assert result.t_p_value == pytest.approx(stats.ttest_1samp([0.5, 0.0, -1.0], 0).pvalue)
    assert result.sign_p_value == pytest.approx(1.0)


def test_preference_test_finds_a_real_preference_and_holds_alpha():
    rng = np.random.default_rng(1)
    null = [preference_test(rng.normal(0, 1, 200)).t_p_value < 0.05 for _ in range(400)]
    assert 0.025 <= np.mean(null) <= 0.08
    assert preference_test(rng.normal(0.3, 1, 200)).winner(0.05) == "b"


def test_interleaving_needs_far_fewer_users_than_ab(population):
    """Two rankers of different quality: interleaving's n reaches its power, A/B needs more."""
    from nbrec.experiments.traffic import Traffic
    from nbrec.experiments.trust import interleaving_vs_ab

    users = np.arange(len(population.user_ids))
    rng = np.random.default_rng(0)
    worse, better = (population.taste_policy(s)(users, 20, rng)[0] for s in (0.2, 0.4))
    result = interleaving_vs_ab(population, (worse, better), Traffic(), users=5000, runs=60, seed=2)
    assert result["ctr_b"] > result["ctr_a"] and result["mean_preference"] > 0
    assert result["interleaving_power"]["ci"][1] >= 0.8  # its n is enough (60 runs: loose)
    assert result["ab_users"] > 3 * result["interleaving_users"], result


def test_simulated_interleaving_and_analyze_refuses_it():
    """An interleaving experiment simulated in process as the service serves it (holdout: team
    a's list; the others: team-draft blends, teams as logged); `analyze` refuses it with an
    error naming the interleaving read-out, which finds the known-better ranker."""
    from nbrec.data.synthetic import generate
    from nbrec.experiments.analysis import analyze
    from nbrec.experiments.interleaving_readout import analyze_rows, pair, simulate_interleaving
    from nbrec.experiments.simulator import Population

    population = Population.from_dataset(generate(users=300, items=120, interactions=6_000, seed=7))
    exp = pair("sim", "popular", "taste", holdout=0.2)
    popular, taste = population.popular_policy(), population.taste_policy(1.0)
    requests, feedback = simulate_interleaving(population, exp, popular, taste, 400, k=6, seed=3)
    assert set(requests["variant"]) == {"interleaved", "holdout"}
    rows = np.searchsorted(population.user_ids, requests["user_id"].str.split("#").str[0])
    top = list(population.item_ids[popular(rows[:1], 6, None)[0][0]])
    for row, (_, line) in zip(rows, requests.iterrows(), strict=True):
        items = list(line["items"])
        if line["variant"] == "holdout":
            assert items == top and line["teams"] is None
            continue
        liked = list(population.item_ids[taste(np.array([row]), 6, None)[0][0]])
        team = dict(zip(items, line["teams"], strict=True))
        assert {i for i in items if team[i] == "a"} <= set(top)
        assert {i for i in items if team[i] == "b"} <= set(liked)
        assert abs(line["teams"].count("a") - line["teams"].count("b")) <= 1
    with pytest.raises(ValueError, match="interleaving experiment.*analyze_interleaving"):
        analyze(exp, requests, feedback)
    report = analyze_rows(exp, requests, feedback)
    assert report["requests"] == (requests["variant"] == "interleaved").sum()
    assert report["winner"] == "taste" and report["t_p_value"] < 0.01
