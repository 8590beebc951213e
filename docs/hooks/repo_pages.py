"""MkDocs hook: publish the benchmark results and the runbook from where they live in the repo.

`benchmarks/**/*.md` and `deploy/RUNBOOK.md` stay the single source (benchmarks rewrite their own
RESULTS.md); this hook adds each as a page at the same relative path, so links between them keep
working, and lists the benchmark pages under the "Benchmarks" section of the nav. A new
`benchmarks/<topic>/RESULTS.md` appears on the site without touching mkdocs.yml.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files
from mkdocs.structure.nav import Navigation, Section

PATTERNS = ("benchmarks/**/*.md", "deploy/RUNBOOK.md")
BENCHMARKS_SECTION = "Benchmarks"


def _repo_root(config) -> Path:
    return Path(config["docs_dir"]).resolve().parent


def on_files(files: Files, config) -> Files:
    root = _repo_root(config)
    for pattern in PATTERNS:
        for path in sorted(root.glob(pattern)):
            src_uri = path.relative_to(root).as_posix()
            if files.get_file_from_path(src_uri) is None:
                files.append(File.generated(config, src_uri, abs_src_path=str(path)))
    return files


def _title(path: str) -> str:
    """`benchmarks/serving/RESULTS.md` -> `serving`, `benchmarks/serving/NOTES.md` -> `serving notes`."""
    parts = Path(path).with_suffix("").parts[1:]
    if parts and parts[-1] == "RESULTS":
        parts = parts[:-1]
    return " ".join(p.lower() for p in parts) or path


def on_nav(nav: Navigation, config, files: Files) -> Navigation:
    section = next(
        (i for i in nav.items if isinstance(i, Section) and i.title == BENCHMARKS_SECTION), None
    )
    if section is None:
        return nav
    listed = {p.file.src_uri for p in nav.pages}
    for file in files.documentation_pages():
        if file.src_uri.startswith("benchmarks/") and file.src_uri not in listed:
            page = file.page
            if page is None:
                continue
            page.title = _title(file.src_uri)
            page.parent = section
            section.children.append(page)
            nav.pages.append(page)
    return nav
