"""Prometheus metrics of the service, on their own registry (names agreed with ops).

Children of labelled metrics are cached in plain dicts: ``labels()`` takes a lock and builds
a tuple on every call, which the request path does not need to pay for twice.

With several workers (``NBREC_WORKERS`` > 1) every counter and histogram is shared: its values
live in prometheus_client's multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, which BentoML sets
for its workers and sums over them at every scrape of ``/metrics``), so whichever worker answers
a scrape shows the totals of all. With one worker they stay in the process's memory, the
cheaper way (benchmarks/serving/RESULTS.md). Gauges (the live version, the store's state) and
the ops collectors are per process either way: every worker knows them alike.
"""

from __future__ import annotations

import warnings
from bisect import bisect_left

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest, values
from prometheus_client import Counter as _Counter
from prometheus_client import Gauge as _Gauge
from prometheus_client import Histogram as _Histogram
from prometheus_client.multiprocess import MultiProcessCollector


class _InProcess:
    """Values in this process's memory even under ``PROMETHEUS_MULTIPROC_DIR``.

    BentoML sets that variable for its workers, which would turn every metric into mmap-file
    values: slower on every increment. nbrec's in-process metrics are rendered by the process
    that owns them.
    """

    def _metric_init(self) -> None:
        saved = values.ValueClass
        values.ValueClass = values.MutexValue  # no await in between: no other metric sees it
        try:
            super()._metric_init()
        finally:
            values.ValueClass = saved


class _LocalCounter(_InProcess, _Counter):
    def inc(self, amount: float = 1, exemplar: dict[str, str] | None = None) -> None:
        """Counter.inc with its observability check inlined (two method calls per increment on
        the request path); anything unusual takes prometheus_client's way. The same values."""
        if exemplar or amount < 0 or (self._labelnames and not self._labelvalues):
            return super().inc(amount, exemplar)
        self._value.inc(amount)


class Gauge(_InProcess, _Gauge):
    pass


class _LocalHistogram(_InProcess, _Histogram):
    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        """Histogram.observe with the bucket found by bisection (it walks the bounds in Python,
        twice per request on the request path); the same values."""
        # NaN: in no bucket, as prometheus_client does; a parent: its error
        if exemplar or amount != amount or (self._labelnames and not self._labelvalues):
            return super().observe(amount, exemplar)
        self._sum.inc(amount)
        self._buckets[bisect_left(self._upper_bounds, amount)].inc(1)


def multiprocess_mode() -> bool:
    """True if new metrics write to the multiprocess files: ``PROMETHEUS_MULTIPROC_DIR`` was set
    when prometheus_client was imported (BentoML sets it for its workers)."""
    return values.ValueClass is not values.MutexValue


LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
STORE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0)


class ServingMetrics:
    """Every nbrec_* metric the service exports; ``render()`` gives the text exposition."""

    def __init__(
        self, registry: CollectorRegistry | None = None, process: bool = True,
        across_workers: bool = False,
    ):  # fmt: skip
        """``across_workers``: counters and histograms in the multiprocess files (if this
        process has a ``PROMETHEUS_MULTIPROC_DIR``), summed over every worker writing there."""
        self.registry = registry if registry is not None else CollectorRegistry()
        self.shared = across_workers and multiprocess_mode()
        # Shared metrics on a registry of their own: the multiprocess collector renders them.
        r = CollectorRegistry() if self.shared else self.registry
        Counter, Histogram = (_Counter, _Histogram) if self.shared else (_LocalCounter, _LocalHistogram)  # fmt: skip
        if process:
            ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "nbrec_requests",
            "HTTP requests by endpoint and status",
            ["endpoint", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "nbrec_request_duration_seconds", "Request latency inside the service", ["endpoint"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.recommendations = Counter(
            "nbrec_recommendations", "Answers served by model version, variant and fallback",
            ["model_version", "variant", "fallback"], registry=r,
        )  # fmt: skip
        self.empty = Counter(
            "nbrec_empty_recommendations", "Answers with no items", ["model_version"], registry=r
        )
        self.null_scores = Counter(
            "nbrec_null_scores",
            "Served items whose score was null/NaN",
            ["model_version"],
            registry=r,
        )
        self.store_duration = Histogram(
            "nbrec_store_duration_seconds", "Feature-store call latency", ["backend", "operation"],
            buckets=STORE_BUCKETS, registry=r,
        )  # fmt: skip
        self.store_errors = Counter(
            "nbrec_store_errors", "Failed feature-store calls", ["backend", "operation"], registry=r
        )
        self.store_up = Gauge(
            "nbrec_store_up",
            "1 if the feature store answered the last check (readiness, scrape); 0: degraded, "
            "answering from the in-process copy",
            registry=self.registry,
        )
        self.live_info = Gauge(
            "nbrec_live_model_info",
            "The live model version (value 1)",
            ["model_version"],
            registry=self.registry,
        )
        self.live_published = Gauge(
            "nbrec_live_model_published_timestamp_seconds",
            "When the live model version was published (unix time)", registry=self.registry,
        )  # fmt: skip
        self.feedback = Counter(
            "nbrec_feedback_events", "Feedback events by type, model version and variant",
            ["event", "model_version", "variant"], registry=r,
        )  # fmt: skip
        self.log_dropped = Counter(
            "nbrec_log_lines_dropped",
            "RR log lines dropped because the writer fell behind",
            registry=r,
        )
        self._children: dict[tuple, object] = {}

    def child(self, metric, *labels: str):
        """The cached child of ``metric`` for ``labels``."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def set_live(self, version: str, published_at: float | None) -> None:
        with warnings.catch_warnings():
            # It warns that mmap-file values cannot be cleared; nbrec's values are in memory.
            warnings.simplefilter("ignore", UserWarning)
            self.live_info.clear()
        self.live_info.labels(version).set(1)
        if published_at is not None:
            self.live_published.set(published_at)

    def render(self) -> bytes:
        """Every nbrec metric; shared ones summed over the workers."""
        text = generate_latest(self.registry)
        if self.shared:
            workers = CollectorRegistry()
            MultiProcessCollector(workers)  # the files under PROMETHEUS_MULTIPROC_DIR
            text = generate_latest(workers) + text
        return text

    def render_local(self) -> bytes:
        """Only what is not in the multiprocess files (for BentoML's ``/metrics``, which adds
        those files' sums, nbrec's shared metrics among them)."""
        return generate_latest(self.registry)
