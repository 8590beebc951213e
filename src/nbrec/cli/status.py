"""``nbrec status``: one screen with what is live, the last pipeline runs and the store's health."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from nbrec.cli.common import check_format, user_errors

RUNS_SHOWN = 5


def _service(url: str, timeout: float = 1.0) -> dict:
    """The running service's own answer to /readyz (None when nothing listens)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/readyz", timeout=timeout) as answer:
            return {"url": url, "up": True, "ready": True, **json.loads(answer.read() or b"{}")}
    except urllib.error.HTTPError as exc:  # 503: up, not ready
        body = exc.read()
        try:
            details = json.loads(body or b"{}")
        except ValueError:
            details = {"error": body.decode(errors="replace")[:200]}
        return {"url": url, "up": True, "ready": False, **details}
    except (OSError, ValueError) as exc:
        return {"url": url, "up": False, "error": str(getattr(exc, "reason", exc))}


def _store() -> dict:
    from nbrec.redaction import redact_url
    from nbrec.settings import get_settings
    from nbrec.store import default_sqlite_path, open_store

    url = get_settings().store_url
    found: dict = {"url": redact_url(url) if url else f"sqlite (embedded): {default_sqlite_path()}"}
    store = open_store()
    try:
        started = time.perf_counter()
        found["reachable"] = bool(store.ping())
        found["ping_ms"] = round((time.perf_counter() - started) * 1000, 2)
        live = store.live_version()
        found["live"] = live
        found["versions"] = store.list_versions()
        info = (store.version_info(live) or {}) if live else {}
        found["live_info"] = {k: v for k, v in info.items() if k != "score_reference"}
    except Exception as exc:  # a store that is down is a status, not a crash
        found["reachable"] = False
        found["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        store.close()
    return found


def collect_status(url: str = "http://127.0.0.1:3000") -> dict:
    """Everything ``nbrec status`` shows, as a dict (``--format json``)."""
    from nbrec.pipeline.status import read_status, status_path

    pipeline = read_status()
    return {
        "service": _service(url),
        "store": _store(),
        "pipeline": {**pipeline, "path": str(status_path())},
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _when(iso: str | None) -> str:
    """``2026-12-01 09:35 UTC``."""
    if not iso:
        return ""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")


def _ago(iso: str | None) -> str:
    if not iso:
        return "never"
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    seconds = (datetime.now(UTC) - moment).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{_when(iso)} ({seconds / size:.0f} {unit} ago)"
    return f"{_when(iso)} ({seconds:.0f} s ago)"


def _live_panel(found: dict) -> Panel:
    service, store = found["service"], found["store"]
    grid = Table.grid(padding=(0, 2))
    if service["up"]:
        state = "[green]ready[/green]" if service["ready"] else "[yellow]up, not ready[/yellow]"
        extra = service.get("model_version") or service.get("reason") or service.get("error")
        grid.add_row("service", f"{state} at {service['url']}" + (f": {extra}" if extra else ""))
    else:
        grid.add_row("service", f"[dim]not running at {service['url']}[/dim] (`nbrec serve`)")
    info = store.get("live_info") or {}
    live = store.get("live")
    grid.add_row("live version", f"[bold]{live}[/bold]" if live else "none (run `nbrec train`)")
    if info:
        published = info.get("published_at_iso")
        size = f"{info.get('n_users', '?')} users x {info.get('n_items', '?')} items"
        grid.add_row("model", f"{info.get('model', '?')} ({size}), published {_ago(published)}")
    return Panel(grid, title="what is live", title_align="left")


def _store_panel(store: dict) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_row("feature store", store["url"])
    if store.get("reachable"):
        grid.add_row("health", f"[green]reachable[/green] (ping {store['ping_ms']} ms)")
        grid.add_row("versions", f"{len(store['versions'])}: {', '.join(store['versions'][-5:])}")
    else:
        grid.add_row("health", f"[red]unreachable[/red]: {store.get('error', 'ping failed')}")
    return Panel(grid, title="store", title_align="left")


def _pipeline_panel(pipeline: dict) -> Panel:
    runs = pipeline.get("history") or ([pipeline["last_run"]] if pipeline.get("last_run") else [])
    counts = ", ".join(f"{n} {status}" for status, n in pipeline.get("runs", {}).items())
    parts: list = [f"last success: {_ago(pipeline.get('last_success_at'))}; runs: {counts}"]
    if runs:
        table = Table(box=None, pad_edge=False)
        for column in ("finished", "run", "outcome", "version"):
            table.add_column(column, no_wrap=True)
        colours = {"completed": "green", "rejected": "yellow", "failed": "red"}
        for run in reversed(runs[-RUNS_SHOWN:]):
            colour = colours.get(run.get("status"), "white")
            table.add_row(_when(run.get("finished_at")), run.get("flow_run") or "",
                          f"[{colour}]{run.get('status')}[/{colour}]", run.get("version") or "")  # fmt: skip
        parts.append(table)
        if runs[-1].get("reason"):
            parts.append(f"last run: {runs[-1]['reason']}")
    else:
        parts.append("no pipeline run yet: `nbrec train` (or `make schedule` for the daily one)")
    failed = [s for s, v in pipeline.get("validation", {}).items() if not v.get("success")]
    checked = len(pipeline.get("validation", {}))
    if checked:
        parts.append(
            f"data validation: {checked - len(failed)}/{checked} suites passed"
            + (f"; [red]failed: {', '.join(failed)}[/red]" if failed else "")
        )
    return Panel(Group(*parts), title=f"pipeline ({pipeline['path']})", title_align="left")


@user_errors
def status(
    url: str = typer.Option("http://127.0.0.1:3000", help="the service to ask (its /readyz)"),
    format: str = typer.Option("text", help="text | json"),
) -> None:
    """What is live, the last pipeline runs and their outcome, the store and its health."""
    check_format(format, ("text", "json"))
    found = collect_status(url)
    if format == "json":
        print(json.dumps(found, indent=2, default=str))
        return
    out = Console()
    out.print(_live_panel(found))
    out.print(_pipeline_panel(found["pipeline"]))
    out.print(_store_panel(found["store"]))
