"""Interleaving served by the router: a TeamDraft hook over two published versions in a real
SQLite store, the in-process service logging the teams, and `nbrec experiment analyze`
recomputing the credit from those logs."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from nbrec.cli import app
from nbrec.data.synthetic import generate
from nbrec.experiments.assignment import ExperimentRouter
from nbrec.experiments.config import INTERLEAVED, Experiment
from nbrec.experiments.hooks import BanditVariants
from nbrec.models import make_model
from nbrec.pipeline.publish import publish
from nbrec.rrlog.writer import RRLogger
from nbrec.serving.routing import Route
from nbrec.serving.schemas import FeedbackRequest, RecommendRequest
from nbrec.serving.service import RecommendationService
from nbrec.store import open_store

K = 6
INTERLEAVING = {
    "name": "knn-vs-pop", "type": "interleaving", "layer": "ranking", "holdout": 0.2,
    "start": "2026-01-01T00:00:00Z",
    "variants": [{"name": "popular", "model_version": "live"},
                 {"name": "knn", "model_version": "v2"}],
}  # fmt: skip


def reference_team_draft(a, b, k, coins):
    """Team draft written out as in Radlinski et al. 2008, one pick at a time."""
    shown, teams, picks, lists = [], [], {"a": 0, "b": 0}, {"a": a, "b": b}
    for pos in range(k):
        left = {t: [i for i in lists[t] if i not in shown] for t in "ab"}
        if not left["a"] and not left["b"]:
            break
        team = "a" if picks["a"] < picks["b"] or (picks["a"] == picks["b"] and coins[pos]) else "b"
        if not left[team]:
            team = "b" if team == "a" else "a"
        shown.append(left[team][0])
        teams.append(team)
        picks[team] += 1
    return shown, teams


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    """v1 (popularity, live) and v2 (item-kNN) published into one SQLite store."""
    folder = tmp_path_factory.mktemp("interleave")
    data = generate(users=200, items=120, interactions=5_000, seed=11)
    url = f"sqlite:///{folder / 'features.db'}"
    store = open_store(url)
    publish(make_model("popularity").fit(data.interactions, data.items, data.users), "v1", store,
            items=data.items)  # fmt: skip
    knn = make_model("item_knn").fit(data.interactions, data.items, data.users)
    publish(knn, "v2", store, items=data.items, make_live=False)
    yield data, store
    store.close()


def served_list(store, version, user, k=K):
    """What the service shows from one version: its top-N without the user's seen items."""
    seen = set(store.recent_seen(user))
    return [i for i in store.user_recs(version, user)[0] if i not in seen][:k]


def test_config_interleaving_needs_two_model_versions():
    exp = Experiment.model_validate(INTERLEAVING)
    assert [v.allocation for v in exp.variants] == [0.5, 0.5]  # none needed in the YAML
    three = {**INTERLEAVING, "variants": [*INTERLEAVING["variants"], {"name": "c"}]}
    with pytest.raises(ValueError, match="exactly two model-version variants"):
        Experiment.model_validate(three)
    bandit = {**INTERLEAVING, "variants": [{"name": "a"}, {"name": "b", "policy": "thompson"}]}
    with pytest.raises(ValueError, match="exactly two model-version variants"):
        Experiment.model_validate(bandit)


def test_team_draft_hook_on_two_published_versions(two_versions):
    data, store = two_versions
    router = ExperimentRouter([Experiment.model_validate(INTERLEAVING)])
    hooks = BanditVariants(router, store, seed=0)
    routes = {u: router.route(u) for u in data.users["user_id"]}
    inside = [u for u, r in routes.items() if r.variant == INTERLEAVED]
    assert 0.7 * len(routes) < len(inside) < 0.9 * len(routes)  # 20% holdout
    assert routes[inside[0]] == Route("knn-vs-pop", INTERLEAVED, None)  # a is live
    assert hooks.interleaver(Route("knn-vs-pop", "holdout", None)) is None
    assert hooks.policy(routes[inside[0]]) is None  # not a bandit
    blend = hooks.interleaver(routes[inside[0]])
    assert blend.versions == (None, "v2")
    # Hand-checked, a = [x, y, z], b = [y, w, x]. Coins at positions 0 and 2 (ties) decide.
    # Coin a, then tie coin b: a takes x, b (fewer picks) y, b w, a z (its y is shown).
    # Coin b, then tie coin a: b takes y, a x, a z, b w.
    a, b = ["x", "y", "z"], ["y", "w", "x"]

    def key_with(first: bool, third: bool) -> str:
        for key in map(str, range(200)):
            coins = blend.rng(key).random(4) < 0.5
            if coins[0] == first and coins[2] == third:
                return key
        raise AssertionError("no such key")

    assert blend.interleave(a, b, 4, key_with(True, False)) == (
        ["x", "y", "w", "z"], ["a", "b", "b", "a"])  # fmt: skip
    assert blend.interleave(a, b, 4, key_with(False, True)) == (
        ["y", "x", "z", "w"], ["b", "a", "a", "b"])  # fmt: skip
    assert sorted(blend.interleave(a, b, 10, "0")[0]) == ["w", "x", "y", "z"]  # both ran out
    assert blend.interleave([], [], 4, "0") == ([], [])
    differ = 0
    for user in inside[:40]:
        list_a, list_b = served_list(store, "v1", user), served_list(store, "v2", user)
        differ += list_a != list_b
        for key in ("r1", "r2"):
            coins = blend.rng(key).random(K) < 0.5
            got = blend.interleave(list_a, list_b, K, key)
            assert got == reference_team_draft(list_a, list_b, K, coins)
            assert got == blend.interleave(list_a, list_b, K, key)  # reproducible from the key
            assert abs(got[1].count("a") - got[1].count("b")) <= 1
    assert differ > 30  # the two versions really disagree


@pytest.fixture
def own_warehouse(tmp_path, monkeypatch):
    """`nbrec experiment analyze` reads the warehouse's archive plus the logs: an empty one."""
    from nbrec.settings import get_settings

    monkeypatch.setenv("NBREC_WAREHOUSE", str(tmp_path / "warehouse"))
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_service_serves_interleaved_lists_and_analyze_recomputes_credit(
    two_versions, tmp_path, own_warehouse
):
    data, store = two_versions
    router = ExperimentRouter([Experiment.model_validate(INTERLEAVING)])
    hooks = BanditVariants(router, store, seed=0)
    service = RecommendationService(store, router=router, rr_log=RRLogger(tmp_path / "logs"),
                                    refresh_interval=0, policies=hooks)  # fmt: skip
    expected_winner, served = {}, 0
    users = list(data.users["user_id"][:120])
    for n, user in enumerate(users):
        list_a, list_b = served_list(store, "v1", user), served_list(store, "v2", user)
        answer = service.recommend(RecommendRequest(user_id=user, k=K))
        items = [i["item_id"] for i in answer["items"]]
        rid = answer["request_id"]
        if answer["variant"] != INTERLEAVED:
            assert answer["variant"] == "holdout" and items == list_a
            continue
        served += 1
        assert answer["model_version"] == "v1"
        coins = hooks.interleaver(router.route(user)).rng(rid).random(K) < 0.5
        want, teams = reference_team_draft(list_a, list_b, K, coins)
        assert items == want
        # Simulated clicks: two users in three click every shown item of knn's list (team b)
        # that popularity did not also pick; the others click popularity's first pick.
        team_of = dict(zip(want, teams, strict=True))
        clicks = ([i for i in want if team_of[i] == "b"] if n % 3 else
                  [i for i in want if team_of[i] == "a"][:1])  # fmt: skip
        for item in clicks:
            service.feedback(FeedbackRequest(user_id=user, item_id=item, event="click",
                                             request_id=rid))  # fmt: skip
        expected_winner[user] = ("b" if n % 3 else "a") if clicks else "tie"
    service.close()
    assert served > 80
    lines = [json.loads(line) for f in (tmp_path / "logs").glob("rr-*.jsonl")
             for line in f.read_text().splitlines()]  # fmt: skip
    logged = [x for x in lines if x["kind"] == "request" and x["variant"] == INTERLEAVED]
    assert len(logged) == served
    for line in logged:
        assert len(line["teams"]) == len(line["items"]) == K
        assert line["policy"] == "team_draft" and line["versions"] == ["v1", "v2"]

    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "knn.yaml").write_text(yaml.safe_dump(INTERLEAVING))
    result = CliRunner().invoke(
        app,
        [
            "experiment",
            "analyze",
            "knn-vs-pop",
            "--format",
            "json",
            "--log-dir",
            str(tmp_path / "logs"),
            "--dir",
            str(folder),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    wins = list(expected_winner.values())
    assert report["requests"] == served and report["users"] == served
    assert (report["wins_a"], report["wins_b"], report["ties"]) == (
        wins.count("a"), wins.count("b"), wins.count("tie"))  # fmt: skip
    per_user = {row["user_id"]: row["preference"] for row in report["per_user"]}
    sign = {"a": -1.0, "b": 1.0, "tie": 0.0}
    assert per_user == {u: sign[w] for u, w in expected_winner.items()}
    assert report["winner"] == "knn" and report["t_p_value"] < 0.05  # b preferred 2:1
    table = CliRunner().invoke(
        app,
        [
            "experiment",
            "analyze",
            "knn-vs-pop",
            "--log-dir",
            str(tmp_path / "logs"),
            "--dir",
            str(folder),
        ],
    )
    assert table.exit_code == 0 and "sign test" in table.output, table.output
