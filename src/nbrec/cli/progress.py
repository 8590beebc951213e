"""Progress for the long CLI verbs, and quiet defaults for the libraries under them.

``steps`` shows a bar over named stages (``nbrec publish``, ``nbrec data generate``);
``flow_progress`` follows a Prefect flow run in this process from its task-run log records (a
bar that counts finished tasks and names the last one) while Prefect's own console lines are
held back to warnings; they still reach the Prefect API and its UI.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from nbrec.cli.common import console

# Settings of the libraries nbrec drives, applied unless the user set them: a newcomer reads
# an ERROR line as a failure, and Prefect's telemetry cannot reach its host from here.
QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # "Failed to send telemetry" ERROR otherwise
}


def quiet_defaults() -> None:
    """Set QUIET_ENV defaults in this process (inherited by Prefect's temporary server)."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)


def _progress(total_known: bool) -> Progress:
    columns = [SpinnerColumn(), TextColumn("[bold]{task.fields[title]}[/bold]")]
    columns += [BarColumn(), MofNCompleteColumn()] if total_known else [BarColumn()]
    columns += [TextColumn("{task.description}"), TimeElapsedColumn()]
    return Progress(*columns, console=console, transient=False)


@contextlib.contextmanager
def steps(title: str, names: list[str]) -> Iterator[Callable[[str], None]]:
    """A bar over ``names``; call the yielded function with the next stage's name as it starts."""
    with _progress(True) as progress:
        task = progress.add_task(names[0], total=len(names), title=title)
        started: list[tuple[str, float]] = []

        def step(name: str) -> None:
            if started:
                progress.advance(task)
            started.append((name, time.perf_counter()))
            progress.update(task, description=name)

        yield step
        ends = [t for _, t in started[1:]] + [time.perf_counter()]
        took = [f"{name} {end - t:.1f} s" for (name, t), end in zip(started, ends, strict=True)]
        progress.update(task, completed=len(names), description="done")
    console.print(f"{title}: {'; '.join(took)}", soft_wrap=True, highlight=False)


class _TaskRunWatcher(logging.Handler):
    """Counts Prefect task runs that finish and shows the flow's latest message; keeps when
    each task run finished (``stage_seconds``)."""

    def __init__(self, progress: Progress, task: TaskID):
        super().__init__(level=logging.INFO)
        self.progress, self.task, self.finished, self.last = progress, task, 0, "none"
        self.started: float | None = None
        self.ends: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        name = getattr(record, "task_run_name", None)
        if self.started is None and getattr(record, "flow_run_name", None):
            self.started = record.created
        if message.startswith("Finished in state"):
            if name:  # a task run: "take_snapshot-653" -> "take_snapshot"
                self.finished += 1
                self.last = name.rsplit("-", 1)[0]
                self.ends.append((record.created, self.last))
            state = message.removeprefix("Finished in state ").rstrip("()")
            self.progress.update(
                self.task, completed=self.finished,
                description=f"{self.finished} tasks, last {self.last}: {state}",
            )  # fmt: skip
        elif getattr(record, "flow_run_name", None) and not name and len(message) < 200:
            self.progress.update(self.task, description=message)

    def stage_seconds(self) -> dict[str, float]:
        """Seconds per task name: from the previous task run's end (the flow's start for the
        first) to this one's; the flow runs its tasks one after another, so parallel shards of
        one task add up to the time they took together."""
        stages: dict[str, float] = {}
        previous = self.started
        for end, name in self.ends:
            if previous is not None:
                stages[name] = stages.get(name, 0.0) + max(0.0, end - previous)
            previous = end
        return stages


@contextlib.contextmanager
def flow_progress(title: str) -> Iterator[None]:
    """Follow the Prefect flow run(s) started inside the block on a progress line."""
    import prefect.main  # noqa: F401  (sets up Prefect's logging, console handler included)
    from prefect.logging.handlers import PrefectConsoleHandler

    consoles = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    levels = [h.level for h in consoles]
    loggers = [logging.getLogger("prefect.task_runs"), logging.getLogger("prefect.flow_runs")]
    with _progress(False) as progress:
        task = progress.add_task("starting Prefect", total=None, title=title)
        watcher = _TaskRunWatcher(progress, task)
        for handler in consoles:
            handler.setLevel(logging.WARNING)
        for logger in loggers:
            logger.addHandler(watcher)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeHandler(watcher)
            for handler, level in zip(consoles, levels, strict=True):
                handler.setLevel(level)
            progress.update(task, total=watcher.finished, completed=watcher.finished)
        stages = watcher.stage_seconds()
        if stages:  # one line a benchmark or a user can read back (benchmarks/scale)
            took = ", ".join(f"{name} {seconds:.1f}" for name, seconds in stages.items())
            console.print(f"{title} stages (s): {took}", soft_wrap=True, highlight=False)
