"""Tests change the environment only through monkeypatch (restored after the test, module or
package that asked): a fixture that writes ``os.environ`` for a whole session leaks its
``NBREC_*`` into every later test (the browser tests' service read the flow tests' var/)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
WRITES = re.compile(
    r"os\.environ(?:\[[^\]]+\]\s*=(?!=)|\.update\(|\.setdefault\(|\.pop\()|os\.putenv\("
)


def test_no_test_writes_os_environ_directly():
    found = [
        f"{path.relative_to(TESTS)}:{n}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.name != Path(__file__).name
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if WRITES.search(line)
    ]
    assert not found, "use monkeypatch / pytest.MonkeyPatch.context():\n" + "\n".join(found)


def test_the_pipeline_home_is_not_session_wide():
    source = (TESTS / "flows" / "conftest.py").read_text()
    assert 'scope="session"' not in source and "MonkeyPatch.context()" in source
