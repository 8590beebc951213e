"""Shared CLI helpers: errors a user can act on, in one line; bugs keep their traceback."""

from __future__ import annotations

import functools

import typer
from rich.console import Console

from nbrec.errors import BadValueError, UserError

console = Console(stderr=True)
OPTIONS = {"debug": False}  # set by ``nbrec --debug``: every error shows its traceback


def user_errors(func):
    """A ``UserError`` (bad data, a missing data set or file, an unknown name, a bad value or
    mapping) becomes a one-line message and exit code 2; any other exception is a bug and
    keeps its traceback. ``nbrec --debug`` shows the traceback of user errors too."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            if OPTIONS["debug"]:
                raise
            console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def check_format(format: str, allowed: tuple[str, ...] = ("table", "json")) -> None:
    """Refuse an output ``--format`` the command does not have (a user error)."""
    if format not in allowed:
        raise BadValueError(f"--format must be {' or '.join(allowed)}, got {format!r}")
