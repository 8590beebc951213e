"""nbrec's in-process histograms (bucket found by bisection) hold what prometheus_client's own
``Histogram.observe`` would."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from nbrec.serving.prometheus import LATENCY_BUCKETS, ServingMetrics


def test_histograms_bucket_as_prometheus_client_does():
    ours, registry = ServingMetrics(process=False), CollectorRegistry()
    theirs = Histogram("nbrec_request_duration_seconds", "x", ["endpoint"],
                       buckets=LATENCY_BUCKETS, registry=registry)  # fmt: skip
    amounts = [0.0, -1.0, 1e-9, *LATENCY_BUCKETS, *(b * 1.0001 for b in LATENCY_BUCKETS), 3.0,
               1e9, math.inf, math.nan, 0.0042]  # fmt: skip
    for amount in amounts:
        ours.child(ours.request_duration, "/recommend").observe(amount)
        theirs.labels("/recommend").observe(amount)

    def samples(registry) -> list[str]:
        text = generate_latest(registry).decode()
        return [line for line in text.splitlines()
                if line.startswith("nbrec_request_duration") and "_created" not in line]  # fmt: skip

    expected = samples(registry)  # the buckets, +Inf, count and sum
    assert samples(ours.registry) == expected and len(expected) == len(LATENCY_BUCKETS) + 3
