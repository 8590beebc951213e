"""Errors a user can act on: the CLI prints their message in one line and exits with code 2.

Raise one of these (not a bare ``ValueError``) for a mistake the user makes and can fix: a
missing data set or file, an unknown name, a bad value or mapping. Anything else is a bug and
keeps its traceback. Each also is the matching built-in error, so ``except KeyError`` still works.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; the message says what was wrong, with which value, and what
    to do."""


class UnknownNameError(UserError, KeyError):
    """An unknown model, data set, version, experiment, ... (the message lists the known ones)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class BadValueError(UserError, ValueError):
    """An option, setting or argument outside what is accepted."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the command needs is not there."""
