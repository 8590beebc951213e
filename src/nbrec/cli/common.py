"""Shared CLI helpers: errors a user can act on, without tracebacks."""

from __future__ import annotations

import functools

import typer
from rich.console import Console

from nbrec.data.schema import DataError

console = Console(stderr=True)


def user_errors(func):
    """Turn DataError/ValueError/KeyError into a one-line message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (DataError, ValueError, KeyError, FileNotFoundError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            console.print(f"[red]error:[/red] {message}")
            raise typer.Exit(2) from None

    return wrapper
