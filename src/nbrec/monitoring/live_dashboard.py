"""``GET /dashboard``: the live product dashboard, computed in the background and cached.

``DashboardPage`` is what the composition root plugs into the HTTP app: called with the query
string, it returns ``(status, html)`` within WAIT_SECONDS, well inside BentoML's request
timeout, however long the figures take (DuckDB over the logs, matplotlib charts): a page not
ready by then is computed on in the background, and the answer is the previous page for those
filters (it says so) or a short "preparing" page that reloads itself. Pages are kept
CACHE_SECONDS per choice of filters (the page reloads itself every minute; several open tabs
cost one computation); "Refresh now" (``refresh=1``) computes again at once.

The figures are computed in one child process (started on first use, kept): one computation at
a time, never more than one core, and no Python thread of the service's holds the GIL for
seconds of DuckDB and matplotlib work while requests wait.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from nbrec.monitoring.live_data import Filters
from nbrec.monitoring.live_page import render_error, render_preparing

CACHE_SECONDS = 30.0
CACHE_ENTRIES = 16
WAIT_SECONDS = 4.0


class DashboardPage:
    def __init__(
        self,
        log_dir: str | Path | None = None,
        warehouse: str | None = None,
        cache_seconds: float = CACHE_SECONDS,
        wait_seconds: float = WAIT_SECONDS,
    ):
        self.log_dir, self.warehouse = log_dir, warehouse
        self.cache_seconds, self.wait_seconds = cache_seconds, wait_seconds
        self._lock = threading.Lock()
        self._cache: dict[Filters, tuple[float, str]] = {}
        self._jobs: dict[Filters, Future] = {}
        self._pool: ProcessPoolExecutor | None = None

    def source(self) -> str:
        from nbrec.events.warehouse import warehouse_root

        where = self.warehouse or warehouse_root()
        return f"the warehouse ({where}) and the RR logs ({self.log_dir})"

    def _store(self, filters: Filters, job: Future) -> None:
        if job.cancelled() or job.exception() is not None:
            return
        with self._lock:
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
            self._cache[filters] = (time.monotonic(), job.result())

    def _submit(self, filters: Filters) -> Future:
        if self._pool is None:  # "spawn": the service process has threads; fork is unsafe
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        job = self._pool.submit(compute_page, filters, self.log_dir, self.warehouse, self.source())
        job.add_done_callback(lambda done: self._store(filters, done))
        return job

    def __call__(self, query: dict[str, str]) -> tuple[int, str]:
        try:
            filters = Filters.from_query(query)
        except ValueError as exc:
            return 400, render_error(str(exc))
        with self._lock:
            cached = self._cache.get(filters)
            fresh = cached is not None and time.monotonic() - cached[0] < self.cache_seconds
            if fresh and not query.get("refresh"):
                return 200, cached[1]
            job = self._jobs.get(filters)
            if job is None or job.done():
                job = self._jobs[filters] = self._submit(filters)
        try:
            return 200, job.result(timeout=self.wait_seconds)
        except FutureTimeout:
            if cached is not None:  # the previous page while the new one is computed
                return 200, cached[1]
            return 200, render_preparing()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)  # waits for a running page


def compute_page(filters: Filters, log_dir, warehouse, source: str) -> str:
    """The page for ``filters`` (runs in the child process)."""
    from nbrec.monitoring.live_data import collect
    from nbrec.monitoring.live_page import render

    return render(collect(filters, log_dir, warehouse), source)
