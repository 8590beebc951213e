"""Model health: how far the scores the service serves have drifted from the training run.

The service feeds every answer's scores to :class:`ScoreShiftMonitor` (cheap: an append to a
bounded deque). At scrape time the monitor compares the recent window per model version with
that version's reference distribution and exports ``nbrec_score_shift{model_version,method}``
for ``method="psi"`` (population stability index) and ``method="ks"`` (two-sample
Kolmogorov-Smirnov statistic, scipy).

The reference is the training run's scores: a sample of the published top-k lists
(``nbrec.pipeline.publish.score_reference_from_recs``), stored with the version in the feature store and read
by :func:`store_reference_loader`, or saved to a file with :func:`save_score_reference`.
A version without a reference is compared with the first
``window`` scores it served instead (label ``reference="first_served"``), so drift over the
life of a version is still visible.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from scipy import stats

from nbrec.settings import get_settings

log = logging.getLogger(__name__)

_EPS = 1e-6


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected``.

    Bins are the deciles (``bins`` quantiles) of ``expected``, so every bin holds the same share
    of the reference; empty bins are floored at a tiny share to keep the log finite. The reading
    used across the industry: < 0.1 stable, 0.1-0.25 moderate, > 0.25 a major shift (the
    threshold of the ``NbrecScoreShift`` alert).
    """
    expected = _finite(expected)
    actual = _finite(actual)
    if expected.size == 0 or actual.size == 0:
        raise ValueError(
            f"psi needs non-empty finite samples, got {expected.size} expected and "
            f"{actual.size} actual values"
        )
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:  # a constant reference: one bin around it, everything else outside
        edges = np.array([edges[0] - _EPS, edges[0] + _EPS])
    edges[0], edges[-1] = -np.inf, np.inf
    e = np.histogram(expected, edges)[0] / expected.size
    a = np.histogram(actual, edges)[0] / actual.size
    e, a = np.clip(e, _EPS, None), np.clip(a, _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def ks(expected: np.ndarray, actual: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (max distance between the two CDFs)."""
    return float(stats.ks_2samp(_finite(expected), _finite(actual)).statistic)


def _finite(values: Iterable[float]) -> np.ndarray:
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, float)
    return array[np.isfinite(array)]


def reference_dir() -> Path:
    return get_settings().var_dir / "status" / "score_reference"


def save_score_reference(
    version: str, scores: Iterable[float], directory: Path | None = None
) -> Path:
    """Save the training run's served-score distribution for ``version`` (JSON, no pickle)."""
    directory = directory or reference_dir()
    directory.mkdir(parents=True, exist_ok=True)
    values = _finite(np.asarray(list(scores), float))
    path = directory / f"{_safe(version)}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": version, "scores": values.round(6).tolist()}))
    tmp.replace(path)  # atomic: a scrape never sees half a file
    return path


def load_score_reference(version: str, directory: Path | None = None) -> np.ndarray | None:
    path = (directory or reference_dir()) / f"{_safe(version)}.json"
    if not path.is_file():
        return None
    return np.asarray(json.loads(path.read_text())["scores"], float)


def store_reference_loader(store) -> Callable[[str], np.ndarray | None]:
    """Reference loader reading ``version_info(version)["score_reference"]`` from the feature
    store, else the file saved by :func:`save_score_reference`."""

    def load(version: str) -> np.ndarray | None:
        found = (store.version_info(version) or {}).get("score_reference")
        return np.asarray(found, float) if found else load_score_reference(version)

    return load


def _safe(version: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in version)


class ScoreShiftMonitor(Collector):
    """Keeps a bounded window of served scores per version and exports their shift at scrape time."""

    def __init__(
        self,
        window: int = 5_000,
        min_samples: int = 200,
        max_versions: int = 8,
        reference_loader: Callable[[str], np.ndarray | None] | None = None,
    ) -> None:
        self.window = window
        self.min_samples = min_samples
        self.max_versions = max_versions
        self._load = reference_loader or load_score_reference
        self._recent: dict[str, deque[float]] = {}
        self._first: dict[str, list[float]] = {}
        self._references: dict[str, np.ndarray | None] = {}
        self._lock = threading.Lock()

    def observe(self, model_version: str | None, scores: Iterable[float]) -> None:
        """Record one answer's scores. Called on the request path: no I/O, no numpy."""
        if not model_version:
            return
        with self._lock:
            recent = self._recent.get(model_version)
            if recent is None:
                if len(self._recent) >= self.max_versions:  # forget the oldest version seen
                    oldest = next(iter(self._recent))
                    for table in (self._recent, self._first, self._references):
                        table.pop(oldest, None)
                recent = self._recent[model_version] = deque(maxlen=self.window)
                self._first[model_version] = []
            first = self._first[model_version]
            # None / NaN are counted elsewhere
            values = [float(score) for score in scores if score is not None and score == score]
            recent.extend(values)
            room = self.window - len(first)
            if room > 0:
                first.extend(values[:room])

    def shift(self, model_version: str) -> dict[str, float] | None:
        """``{"psi", "ks", "reference": ...}`` for a version, or None with too few samples."""
        with self._lock:  # copy only: the request path waits on this lock
            recent_copy = list(self._recent.get(model_version, ()))
            first_copy = list(self._first.get(model_version, ()))
            known = model_version in self._references
            reference = self._references.get(model_version)
        if not known:  # I/O outside the lock
            try:
                reference = self._load(model_version)
            except Exception as exc:  # a store hiccup must not break /metrics; retry next scrape
                log.warning("score reference of %s unavailable: %s", model_version, exc)
                reference = None
            else:
                with self._lock:
                    self._references[model_version] = reference
        recent, first = np.asarray(recent_copy, float), np.asarray(first_copy, float)
        kind = "training"
        if reference is None or reference.size < self.min_samples:
            kind, reference = "first_served", first
        if recent.size < self.min_samples or reference.size < self.min_samples:
            return None
        return {"psi": psi(reference, recent), "ks": ks(reference, recent), "reference": kind}

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "nbrec_score_shift",
            "Shift of served scores vs the reference (training run, else the first served window)",
            labels=["model_version", "method", "reference"],
        )
        with self._lock:
            versions = list(self._recent)
        for version in versions:
            result = self.shift(version)
            if result is None:
                continue
            for method in ("psi", "ks"):
                family.add_metric([version, method, result["reference"]], result[method])
        yield family
