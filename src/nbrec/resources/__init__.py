"""Files that ship inside the package: the notebooks and the Great Expectations suites.

``notebooks`` and ``expectations`` here are links to the project's top-level ``notebooks/``
and ``expectations/`` (where people edit them); building the package copies their files in
(``[tool.setuptools.package-data]``), so a plain ``pip install .`` finds them too.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resource_dir(name: str) -> Path:
    """The folder of shipped files ``name`` ("notebooks" or "expectations")."""
    return Path(str(files(__name__) / name))
