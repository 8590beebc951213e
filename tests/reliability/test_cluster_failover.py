"""A Redis Cluster master killed under load: its replica takes over, and the service never fails.

Real cluster (3 masters + 3 replicas, ``redis-cli --cluster create``), real BentoML service,
real SIGKILL. While the cluster fails over, answers come from the service's in-process copy
(cached lists, popularity: ``fallback: "store_unavailable"``) and ``/readyz`` stays 200 saying
``degraded``; once the replica is promoted, users get their personal lists from the store again.
"""

from __future__ import annotations

import time

import httpx
import pytest

from nbrec.pipeline.publish import publish
from nbrec.store import open_store
from nbrec.store.redis_keys import KeyLayout
from tests.reliability.load import Load
from tests.serving.server import running_service
from tests.store.redis_cluster import redis_cluster

pytestmark = pytest.mark.redis


def _owner(cluster, key: str) -> int:
    """The port of the master serving ``key``'s slot now."""
    node = cluster.node(cluster.masters()[0])
    slot = node.execute_command("CLUSTER KEYSLOT", key)
    for port in cluster.masters():
        owned = cluster.node(port).execute_command("CLUSTER NODES")
        mine = next(n for n in owned.values() if "myself" in n["flags"])
        if any(int(lo) <= slot <= int(hi) for lo, hi in mine["slots"]):
            return port
    raise AssertionError(f"no master serves slot {slot}")


def test_master_killed_under_load_fails_over_without_a_failed_answer(
    tmp_path, item_knn, small_data
):
    with redis_cluster(
        tmp_path / "cluster", masters=3, replicas=1, node_timeout_ms=1000
    ) as cluster:
        store = open_store(cluster.url)
        publish(item_knn, "c1", store, items=small_data.items)
        users = [str(u) for u in item_knn.user_ids_[:40]]
        env = {"NBREC_STORE_RETRY_AFTER": "0.5"}
        with running_service(tmp_path, cluster.url, env=env) as base, Load(base, users) as load:
            time.sleep(2)
            # The master of the live pointer's slot: the outage hits every request's refresh.
            victim = _owner(cluster, KeyLayout().live)
            killed_at = time.monotonic()
            cluster.kill(victim)
            degraded = []
            while time.monotonic() - killed_at < 2:  # the outage, as a load balancer sees it
                ready = httpx.get(f"{base}/readyz", timeout=5)
                degraded.append((ready.status_code, ready.json()["degraded"]))
                time.sleep(0.2)
            cluster.wait_healthy(masters=3, replicas=0, timeout=30)
            healed_at = time.monotonic()
            time.sleep(3)
            recovered_at = time.monotonic()
            time.sleep(2)
        answers = load.answers
        assert not load.errors, load.errors[:3]
        failed = [a for a in answers if a.status != 200]
        assert not failed, f"{len(failed)} of {len(answers)} answers failed, e.g. {failed[0]}"
        assert all(status == 200 for status, _ in degraded), degraded
        assert any(flag for _, flag in degraded), f"never reported degraded: {degraded}"
        during = [a for a in answers if killed_at <= a.at < healed_at]
        assert any(a.body["fallback"] == "store_unavailable" for a in during), "no outage seen"
        after = [a for a in answers if a.at >= recovered_at]
        assert after and all(a.body["fallback"] is None for a in after), [
            a.body["fallback"] for a in after if a.body["fallback"]
        ][:5]
        assert victim not in cluster.masters()
        print(f"{len(answers)} answers, 0 failed; outage {healed_at - killed_at:.1f}s, "
              f"{sum(a.body['fallback'] == 'store_unavailable' for a in during)} fallbacks")  # fmt: skip
        store.close()
