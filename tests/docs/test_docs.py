"""The docs site builds with --strict, the README stays short, and every `make` target named exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 200


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_mkdocs_build_strict(tmp_path):
    """A broken link, a missing page or a bad nav entry is a warning, and --strict fails on it."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    site = tmp_path / "site"
    # Benchmark results are pages, taken from benchmarks/*/RESULTS.md by docs/hooks/repo_pages.py.
    for results in ROOT.glob("benchmarks/*/RESULTS.md"):
        page = site / results.relative_to(ROOT).with_suffix("") / "index.html"
        assert page.is_file(), f"{results} is not on the site"
    # Offline: the theme must not pull fonts or scripts from the internet.
    index = (site / "index.html").read_text()
    assert "fonts.googleapis" not in index
    assert not re.search(r'<script[^>]+src="https?://', index)


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines; move reference to docs/"
    )


def test_every_make_target_named_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-zA-Z][\w-]*):", makefile, re.M))
    missing = {}
    for doc in _documents():
        for name in re.findall(r"`make ([a-z][\w-]*)", doc.read_text()):
            if name not in targets:
                missing.setdefault(name, doc.relative_to(ROOT).as_posix())
    assert not missing, f"`make` targets named in the docs but not in the Makefile: {missing}"
