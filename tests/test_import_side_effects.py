"""Importing any nbrec module does no work: no folders, no files (CONVENTIONS: no work at import)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import importlib, pkgutil, nbrec
for module in pkgutil.walk_packages(nbrec.__path__, "nbrec."):
    if module.name != "nbrec.__main__":
        importlib.import_module(module.name)
"""


def test_importing_every_module_creates_nothing(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cwd")
    # HOME elsewhere: third-party caches (matplotlib's font list) are not nbrec's doing.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path_factory.mktemp("home"))}
    subprocess.run([sys.executable, "-c", SCRIPT], cwd=workdir, env=env, check=True, timeout=120)
    assert list(workdir.iterdir()) == [], "an import wrote to the working directory"
