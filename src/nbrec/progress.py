"""Progress bars for the steps that take more than a few seconds at scale (tqdm, on stderr).

A bar is shown only for work over at least ``PROGRESS_MIN_ROWS`` rows or users, and only on
a terminal (tqdm's ``disable=None``): logs, pipes and the tests stay free of them, and small
data sets run as quietly as before.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm.auto import tqdm

PROGRESS_MIN_ROWS = 500_000  # rows or users; a step over fewer takes a few seconds at most


def shown(size: int) -> bool:
    """Whether a step over ``size`` rows or users shows a bar here (big enough, a terminal)."""
    return size >= PROGRESS_MIN_ROWS and sys.stderr.isatty()


def bar(iterable: Iterable | None = None, *, size: int, desc: str, **kwargs) -> tqdm:
    """``tqdm(iterable)`` shown for ``size`` >= ``PROGRESS_MIN_ROWS`` on a terminal."""
    return tqdm(iterable, desc=desc, disable=None if size >= PROGRESS_MIN_ROWS else True,
                mininterval=0.5, **kwargs)  # fmt: skip
