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


@pytest.mark.service
def test_interleaving_over_http(tmp_path, monkeypatch, own_warehouse):
    """The real `nbrec serve` (BentoML) started with an interleaving experiment YAML: `nbrec
    simulate` and one request by hand get team-draft blends of both versions, the RR log keeps
    the teams, `/feedback` takes the clicks, and `nbrec experiment analyze` credits the teams
    from the logs exactly as recomputed here, with the per-user preference test."""
    import subprocess

    import httpx
    import numpy as np
    from scipy import stats

    from tests.serving.server import NBREC, rr_lines, running_service

    data = generate()  # what `nbrec simulate --dataset synthetic` draws its users from
    store_url = f"sqlite:///{tmp_path / 'features.db'}"
    store = open_store(store_url)
    publish(make_model("popularity").fit(data.interactions, data.items, data.users), "v1", store,
            items=data.items)  # fmt: skip
    publish(make_model("item_knn").fit(data.interactions, data.items, data.users), "v2", store,
            items=data.items, make_live=False)  # fmt: skip
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "knn.yaml").write_text(yaml.safe_dump(INTERLEAVING))
    logs = tmp_path / "logs"
    for name, value in {"NBREC_STORE_URL": store_url, "NBREC_LOG_DIR": str(logs),
                        "NBREC_EXPERIMENTS_DIR": str(folder), "NBREC_VAR_DIR": str(tmp_path / "var"),
                        "NBREC_DATA_DIR": str(tmp_path / "data")}.items():  # fmt: skip
        monkeypatch.setenv(name, value)  # the service and the CLI runs below inherit them
    router = ExperimentRouter([Experiment.model_validate(INTERLEAVING)])
    with running_service(tmp_path, store_url) as url:
        sim = subprocess.run(
            [NBREC, "simulate", "--url", url, "--users", "300", "--requests", "500", "--k", str(K),
             "--p-match", "0.3"], capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert sim.returncode == 0, sim.stderr[-3000:]
        summary = json.loads(sim.stdout)
        assert summary["errors"] == 0 and summary["feedback_errors"] == 0 and summary["clicks"] > 0
        assert set(summary["by_variant"]) == {INTERLEAVED, "holdout"}
        assert summary["by_experiment"] == {"knn-vs-pop": 500}
        assert "interleaved answers" in sim.stderr and "knn-vs-pop" in sim.stderr
        # One answer by hand: a blend of what each version would show this user.
        user = next(
            u for u in data.users["user_id"][300:] if router.route(u).variant == INTERLEAVED
        )
        list_a, list_b = served_list(store, "v1", user), served_list(store, "v2", user)
        answer = httpx.post(f"{url}/recommend", json={"user_id": user, "k": K}).json()
        assert answer["variant"] == INTERLEAVED and answer["experiment"] == "knn-vs-pop"
        items = [i["item_id"] for i in answer["items"]]
        assert len(items) == K and set(items) <= set(list_a) | set(list_b)
        fb = httpx.post(f"{url}/feedback", json={"user_id": user, "item_id": items[0],
                                                 "event": "click", "request_id": answer["request_id"]})  # fmt: skip
        assert fb.is_success, fb.text
    store.close()

    lines = rr_lines(logs)
    served = {
        x["request_id"]: x for x in lines if x["kind"] == "request" and x["variant"] == INTERLEAVED
    }
    assert len(served) == summary["by_variant"][INTERLEAVED]["requests"] + 1
    mine = served[answer["request_id"]]
    assert (
        mine["items"] == items
        and mine["versions"] == ["v1", "v2"]
        and mine["policy"] == "team_draft"
    )
    picked = {"a": [i for i, t in zip(items, mine["teams"], strict=True) if t == "a"],
              "b": [i for i, t in zip(items, mine["teams"], strict=True) if t == "b"]}  # fmt: skip
    assert set(picked["a"]) <= set(list_a) and set(picked["b"]) <= set(list_b)
    assert abs(len(picked["a"]) - len(picked["b"])) <= 1
    # The credit recomputed here from the logged lines: a click credits its item's team.
    clicked: dict[str, set] = {}
    for x in lines:
        if x["kind"] == "feedback" and x["request_id"] in served and x["event"] == "click":
            clicked.setdefault(x["request_id"], set()).add(x["item_id"])
    by_user: dict[str, list[float]] = {}
    wins = {"a": 0, "b": 0, "tie": 0}
    for rid, line in served.items():
        team = dict(zip(line["items"], line["teams"], strict=True))
        got = [team[i] for i in clicked.get(rid, ()) if i in team]
        a, b = got.count("a"), got.count("b")
        wins["a" if a > b else "b" if b > a else "tie"] += 1
        by_user.setdefault(line["user_id"], []).append(float(np.sign(b - a)))
    result = CliRunner().invoke(app, ["experiment", "analyze", "knn-vs-pop", "--format", "json",
                                      "--log-dir", str(logs), "--dir", str(folder)])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["requests"] == len(served) and report["users"] == len(by_user)
    assert (report["wins_a"], report["wins_b"], report["ties"]) == (
        wins["a"],
        wins["b"],
        wins["tie"],
    )
    assert wins["a"] + wins["b"] > 20  # the simulated users did click
    preference = {u: float(np.mean(v)) for u, v in by_user.items()}
    assert {r["user_id"]: r["preference"] for r in report["per_user"]} == pytest.approx(preference)
    t_p = stats.ttest_1samp(list(preference.values()), 0.0).pvalue
    assert report["t_p_value"] == pytest.approx(t_p)
