"""``python -m nbrec`` is the ``nbrec`` command."""

from nbrec.cli import app

app()
