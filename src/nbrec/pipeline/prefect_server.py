"""A local Prefect server for the schedules, started and stopped with them.

Prefect's ephemeral (in-process) server runs flows but not its scheduler service, so cron
schedules need a real server: ``prefect server start`` on a free loopback port, or the one
``PREFECT_API_URL`` already points at.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

from nbrec.lifetime import preexec_die_with_parent, wait_ready


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def local_server(port: int | None = None, services: bool = True) -> Iterator[str]:
    """Yield an API URL: ``PREFECT_API_URL`` if set, else a server started here (stopped on exit).

    ``services=False`` runs the API alone (no scheduler): enough to run flows. The server dies
    with this process however it ends (parent-death signal), SIGKILL and OOM killer included.
    """
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/api"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
               "--port", str(port), *([] if services else ["--no-services"])]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        preexec_fn=preexec_die_with_parent(),  # noqa: PLW1509 - set before exec, no locks taken
    )  # fmt: skip
    try:
        # Prefect's own start-up budget for a server it starts (the default 20 s is raised to
        # 120 s: a busy 2-core machine needs it); PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS
        # gives more.
        from prefect.settings import get_current_settings

        budget = get_current_settings().server.ephemeral.startup_timeout_seconds
        wait_ready(
            f"{url}/health", "prefect server", max(120.0, float(budget)), process, interval=0.5
        )
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
