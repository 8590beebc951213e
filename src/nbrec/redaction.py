"""Credentials out of every URL nbrec shows: CLI output, logs, error bodies, metric labels.

``redact_url`` masks each form redis-py accepts (``redis.connection.parse_url``):
``user:password@`` and ``:password@`` (also in ``unix://`` and ``rediss://`` URLs), and
query arguments, which redis-py passes on as connection keywords (``?password=``,
``?username=``, ``?ssl_password=`` ...). It never raises, so it is safe in error paths, and
it works on text it cannot parse as a URL (a password holding ``@`` or ``/``).
"""

from __future__ import annotations

import re

MASK = "***"
# Everything between "scheme://" and the last "@" before the query is user information.
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^?#]*)@")
# Query arguments that hold or name a credential; their values are replaced.
_SECRET_ARG = re.compile(
    r"(?P<name>(?:^|(?<=[?&;]))[^=&;#]*(?:pass|pwd|secret|token|auth|key(?!file)|user|cred)"
    r"[^=&;#]*=)(?P<value>[^&;#]*)",
    re.IGNORECASE,
)


def redact_url(url: str | None) -> str:
    """``url`` with user name, password and credential query arguments replaced by ``***``."""
    if not url:
        return "" if url is None else url
    text = str(url)
    match = _USERINFO.match(text)
    if match:
        text = f"{match['scheme']}{MASK}@{text[match.end() :]}"
    base, sep, query = text.partition("?")
    if sep:
        query = _SECRET_ARG.sub(lambda m: f"{m['name']}{MASK}", query)
    return f"{base}{sep}{query}"
