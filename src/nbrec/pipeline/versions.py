"""Model version ids: derived from the data hash, the parameters and the code version.

The same data, parameters and code give the same id, which is what makes a rerun idempotent:
the registry already holds that version and the pipeline does not register it again.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from functools import lru_cache
from pathlib import Path

import nbrec

PACKAGE = Path(nbrec.__file__).resolve().parent


@lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit when nbrec runs from a checkout (``src/nbrec`` of a git work tree), else
    the package version (an installed copy has no commit of its own)."""
    try:
        top, sha = subprocess.run(
            ["git", "-C", str(PACKAGE), "rev-parse", "--show-toplevel", "--short=12", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.split()  # fmt: skip
    except (OSError, subprocess.SubprocessError, ValueError):
        return f"nbrec-{nbrec.__version__}"
    if Path(top).resolve() / "src" / "nbrec" != PACKAGE:  # e.g. a venv inside another repo
        return f"nbrec-{nbrec.__version__}"
    return sha


def params_hash(params: dict) -> str:
    """Short stable hash of a JSON-able parameter dict."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def version_id(data_hash: str, params: dict, code: str | None = None) -> str:
    """``v<12 hex>``: a BentoML-tag-safe id of (data, parameters, code)."""
    blob = json.dumps({"data": data_hash, "params": params, "code": code or code_version()},
                      sort_keys=True, default=str)  # fmt: skip
    return "v" + hashlib.sha256(blob.encode()).hexdigest()[:12]
