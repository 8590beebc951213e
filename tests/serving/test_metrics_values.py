"""nbrec's in-process histograms (bucket found by bisection) and counters hold what
prometheus_client's own ``Histogram.observe`` and ``Counter.inc`` would, errors included."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

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


def test_counters_count_and_refuse_as_prometheus_client_does():
    ours, registry = ServingMetrics(process=False), CollectorRegistry()
    theirs = Counter("nbrec_requests", "x", ["endpoint", "status"], registry=registry)
    for metric in (ours.requests, theirs):
        child = metric.labels("/recommend", "200")
        for amount in (1, 1, 2.5, 0, 1e-9, math.inf):
            child.inc(amount)
        child.inc(1, exemplar={"trace_id": "abc"})
        metric.labels("/feedback", "503").inc()
        with pytest.raises(ValueError, match="non-negative"):
            child.inc(-1)
        with pytest.raises(ValueError, match="missing label values"):
            metric.inc()

    def samples(registry) -> list[str]:
        text = generate_latest(registry).decode()
        return [line for line in text.splitlines()
                if line.startswith("nbrec_requests") and "_created" not in line]  # fmt: skip

    expected = samples(registry)
    assert samples(ours.registry) == expected and len(expected) == 2


def test_a_histogram_without_its_labels_refuses_as_prometheus_client_does():
    with pytest.raises(ValueError, match="missing label values"):
        ServingMetrics(process=False).request_duration.observe(0.1)
