"""BentoML's HTTP request metrics for the requests ``nbrec.serving.fastlane`` takes past its
middlewares: the same metric objects, labels and values, written in sums."""

from __future__ import annotations

import importlib
import time
from bisect import bisect_left
from typing import Any


class BentoMLMetrics:
    """What BentoML's ``RunnerTrafficMetricsMiddleware`` records for an HTTP request, on its
    own metric objects, written in sums.

    Its values live in the multiprocess files (a lock and an mmap write per value: five per
    request). The lane adds requests up in plain Python numbers and ``flush()`` writes the sums,
    one write per series and bucket, every ``TICK`` seconds and before a scrape of ``/metrics``
    reaches BentoML (so a scrape sees every request this worker answered); the last request's
    time (``..._last_request_timestamp_seconds``) likewise.
    """

    def __init__(self, middleware) -> None:
        if not middleware._is_setup:
            middleware._setup()
        self.mw = middleware
        # The same server_context object the middleware reads its labels from.
        self.context = importlib.import_module(type(middleware).__module__).server_context
        self._stamped: dict[str, bool] = {}
        self._in_flight: dict[str, int] = {}
        self._pending: dict[tuple[str, int], list] = {}  # (path, status) -> [n, sum, buckets]
        self._series: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._progress: dict[str, Any] = {}
        self._bounds: list[float] | None = None
        self._last_request: float | None = None  # time.time() of the last request stamped
        self._stamp: tuple[Any, float | None] = (None, None)  # (gauge child, value written)

    def _names(self) -> dict[str, str]:
        c = self.context
        return {"service_name": c.bento_name, "service_version": c.bento_version,
                "runner_name": c.service_name}  # fmt: skip

    def start(self, path: str) -> None:
        stamped = self._stamped.get(path)
        if stamped is None:
            stamped = self._stamped[path] = not path.startswith(tuple(self.mw.skip_paths))
        if stamped:  # the gauge is set at the next flush (a labels() call and a file write)
            self._last_request = time.time()
        self._in_flight[path] = self._in_flight.get(path, 0) + 1

    def done(self, path: str, status: int, seconds: float) -> None:
        self._in_flight[path] -= 1
        if not status:
            return
        found = self._pending.get((path, status))
        if found is None:
            bounds = self._bounds or self._histogram_bounds(path, status)
            found = self._pending[(path, status)] = [0, 0.0, [0] * len(bounds)]
        seconds = max(seconds, 0.0)
        found[0] += 1
        found[1] += seconds
        found[2][bisect_left(self._bounds, seconds)] += 1  # the first bucket with le >= seconds

    def _child(self, path: str, status: int) -> tuple[Any, Any]:
        found = self._series.get((path, status))
        if found is None:
            labels = {"endpoint": path, **self._names(), "http_response_code": status}
            found = self._series[(path, status)] = (
                self.mw.metrics_request_total.labels(**labels),
                self.mw.metrics_request_duration.labels(**labels),
            )
        return found

    def _histogram_bounds(self, path: str, status: int) -> list[float]:
        self._bounds = list(self._child(path, status)[1]._upper_bounds)
        return self._bounds

    def flush(self) -> None:
        """Write what was added up since the last flush (Histogram.observe's own values: the
        sum and the bucket of each observation, non-cumulative)."""
        pending, self._pending = self._pending, {}
        for (path, status), (n, total, buckets) in pending.items():
            counter, histogram = self._child(path, status)
            counter.inc(n)
            histogram._sum.inc(total)
            for i, count in enumerate(buckets):
                if count:
                    histogram._buckets[i].inc(count)
        for path, n in self._in_flight.items():
            gauge = self._progress.get(path)
            if gauge is None:
                labels = {"endpoint": path, **self._names()}
                gauge = self._progress[path] = self.mw.metrics_request_in_progress.labels(**labels)
            gauge.set(n)
        gauge, written = self._stamp
        last = self._last_request
        if last != written:
            if gauge is None:
                gauge = self.mw.metrics_last_request_timestamp.labels(**self._names())
            if last > gauge._value.get():  # BentoML's own stack may have stamped a later one
                gauge.set(last)
            self._stamp = (gauge, last)
