"""Sticky hashing: uniform within sampling error, stable across processes, layers exclusive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest
from scipy import stats

from nbrec.experiments.assignment import Allocator, ExperimentRouter, bucket
from nbrec.experiments.config import HOLDOUT, Experiment
from nbrec.serving.routing import NO_EXPERIMENT

USERS = [f"user-{i}" for i in range(30_000)]
THREE = [
    {"name": "a", "allocation": 0.2},
    {"name": "b", "allocation": 0.3},
    {"name": "c", "allocation": 0.5, "model_version": "v9"},
]


def test_buckets_are_uniform_and_pinned():
    positions = np.array([bucket("salt", u) for u in USERS])
    assert stats.kstest(positions, "uniform").pvalue > 0.001
    # Pinned values: a change of hash would silently reshuffle every running experiment.
    assert bucket("s", "u1") == pytest.approx(0.4292580362955935, abs=0)
    assert bucket("s", "alice") == pytest.approx(0.6632622151561527, abs=0)


def test_variants_follow_allocation_within_sampling_error():
    exp = Experiment(name="uni", holdout=0.1, variants=THREE)
    counts = Counter(Allocator(exp).variant(u) for u in USERS)
    shares = {HOLDOUT: 0.1, "a": 0.18, "b": 0.27, "c": 0.45}
    observed = [counts[name] for name in shares]
    expected = [share * len(USERS) for share in shares.values()]
    assert stats.chisquare(observed, expected).pvalue > 0.001
    # The same check must catch a real skew: 1% shifted from c to a is flagged at this size.
    skewed = [observed[0], observed[1] + 600, observed[2], observed[3] - 600]
    assert stats.chisquare(skewed, expected).pvalue < 0.001


def test_sticky_and_salt_reshuffles():
    exp = Experiment(name="sticky", variants=THREE)
    first = [Allocator(exp).variant(u) for u in USERS[:2000]]
    assert first == [Allocator(exp).variant(u) for u in USERS[:2000]]
    other = Allocator(exp.model_copy(update={"salt": "new-salt"}))
    same = np.mean([a == other.variant(u) for a, u in zip(first, USERS[:2000], strict=True)])
    # Independent draws agree with probability 0.2^2 + 0.3^2 + 0.5^2 = 0.38.
    assert 0.33 < same < 0.43


SCRIPT = """
import json, sys
from nbrec.experiments.assignment import Allocator
from nbrec.experiments.config import Experiment
exp = Experiment.model_validate_json(sys.argv[1])
print(json.dumps([Allocator(exp).variant(f"user-{i}") for i in range(3000)]))
"""


def test_assignment_is_the_same_in_another_process():
    exp = Experiment(name="procs", holdout=0.05, variants=THREE)
    mine = [Allocator(exp).variant(f"user-{i}") for i in range(3000)]
    # Another interpreter with another hash seed: Python's own hash() would differ there.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, exp.model_dump_json()], env=env, capture_output=True,
        text=True, check=True, timeout=120,
    )  # fmt: skip
    assert json.loads(out.stdout) == mine


def test_layers_are_mutually_exclusive_and_overlap_across_layers():
    def exp(name, layer, traffic):
        return Experiment(name=name, layer=layer, traffic=traffic, variants=THREE[:1] + [
            {"name": "b", "allocation": 0.8}])  # fmt: skip

    router = ExperimentRouter([exp("e1", "L1", 0.3), exp("e2", "L1", 0.5), exp("e3", "L2", 0.5)])
    membership = [{e.name for e, _ in router.assign(u)} for u in USERS[:10_000]]
    assert not any({"e1", "e2"} <= m for m in membership)  # same layer: never both
    share = {name: np.mean([name in m for m in membership]) for name in ("e1", "e2", "e3")}
    assert share["e1"] == pytest.approx(0.3, abs=0.02) and share["e2"] == pytest.approx(
        0.5, abs=0.02
    )
    both = np.mean([{"e1", "e3"} <= m for m in membership])
    assert both == pytest.approx(0.3 * 0.5, abs=0.02)  # different layers: independent


def test_router_resolves_versions_holdout_and_schedule():
    exp = Experiment(name="r", holdout=0.2, variants=THREE, start="2026-01-01", end="2026-02-01")
    in_jan = ExperimentRouter(
        [exp], live_version=lambda: "live-7", clock=lambda: datetime(2026, 1, 5, tzinfo=UTC)
    )
    routes = Counter()
    for user in USERS[:3000]:
        route = in_jan.route(user)
        assert route.experiment == "r"
        routes[route.variant] += 1
        expected_version = "v9" if route.variant == "c" else "live-7"
        assert route.model_version == expected_version
    assert set(routes) == {"a", "b", "c", HOLDOUT}
    assert in_jan.variant_config("r", "c").model_version == "v9"
    assert in_jan.variant_config("r", HOLDOUT) is None
    after = ExperimentRouter([exp], clock=lambda: datetime(2026, 3, 1, tzinfo=UTC))
    assert after.route("user-1") == NO_EXPERIMENT
    assert ExperimentRouter([]).route("user-1") == (None, None, None)


def test_user_in_several_layers_gets_the_model_of_the_earlier_or_higher_priority_experiment():
    """The old rule (first layer by name) let a new experiment in layer "a..." take the users of
    a running experiment in layer "z..." mid-experiment; now the earlier one keeps them."""
    two = [{"name": "c", "allocation": 0.5, "model_version": "v-c"},
           {"name": "t", "allocation": 0.5, "model_version": "v-t"}]  # fmt: skip
    early = Experiment(name="early", layer="z-ranking", start="2026-01-01", variants=two)
    late = Experiment(name="late", layer="a-ui", start="2026-01-10",
                      variants=[{**v, "model_version": f"late-{v['name']}"} for v in two])  # fmt: skip
    clock = lambda: datetime(2026, 1, 5, tzinfo=UTC)  # noqa: E731
    before = ExperimentRouter([early, late], clock=clock)
    routes_before = {u: before.route(u) for u in USERS[:2000]}
    assert {r.experiment for r in routes_before.values()} == {"early"}  # late not started yet
    after = ExperimentRouter([early, late], clock=lambda: datetime(2026, 1, 15, tzinfo=UTC))
    for user in USERS[:2000]:
        assert after.route(user) == routes_before[user]  # nobody's model changes mid-experiment
        assert [e.name for e, _ in after.assign(user)] == ["early", "late"]  # in both, in order
    # An explicit priority wins over the start date.
    first = late.model_copy(update={"priority": 1})
    routed = ExperimentRouter([early, first], clock=lambda: datetime(2026, 1, 15, tzinfo=UTC))
    assert {routed.route(u).experiment for u in USERS[:500]} == {"late"}
    assert {routed.route(u).model_version for u in USERS[:500]} == {"late-c", "late-t"}
    # Without schedules: no start counts as earliest, then the layer name decides.
    plain = [e.model_copy(update={"start": None}) for e in (early, late)]
    assert (
        ExperimentRouter(plain).route(USERS[0]).experiment == "late"
    )  # layer "a-ui" < "z-ranking"
