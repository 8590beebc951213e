"""``nbrec bi``: Apache Superset with nbrec's product dashboard (``make bi``)."""

from __future__ import annotations

import os

import typer

from nbrec.cli.common import user_errors
from nbrec.cli.progress import steps
from nbrec.errors import BadValueError


@user_errors
def bi(
    port: int = typer.Option(None, help="HTTP port (default NBREC_BI_PORT, 8088)"),
    host: str = typer.Option("127.0.0.1", help="interface to listen on (0.0.0.0 for all)"),
) -> None:
    """Start Superset (its own virtualenv under var/bi) with the dashboard from deploy/superset."""
    from nbrec.bi import superset
    from nbrec.settings import get_settings

    settings = get_settings()
    port = port or settings.bi_port
    if not 1 <= port <= 65535:
        raise BadValueError(f"--port must be within 1..65535, got {port}")
    if not superset.BUNDLE.is_dir():
        raise BadValueError(f"{superset.BUNDLE}/ not found: run `nbrec bi` from the repository")
    with steps("Superset", list(superset.STEPS)) as step:
        home, _ = superset.prepare(step=step)
    typer.echo(
        f"Superset on http://{host}:{port}/superset/dashboard/nbrec-product/ "
        f"(log in as {settings.bi_user!r}; NBREC_BI_USER / NBREC_BI_PASSWORD; Ctrl-C stops)",
        err=True,
    )
    command = superset.serve_command(home, port, host)
    os.execve(command[0], command, home.env())  # gunicorn owns the process (signals, exit code)
