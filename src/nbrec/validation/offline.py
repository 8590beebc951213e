"""Data Docs that work offline: GX's pages load Bootstrap, jQuery, bootstrap-table, Font
Awesome... from CDNs; after each build every page is pointed at copies nbrec ships
(``nbrec/static/gx``, vendored from npm at pinned versions: its README) and at GX's own logo.

Vega (GX's charts) is not vendored: its script tags are dropped from pages that draw no chart
(nbrec's suites draw none); a page that does keeps them, and ``remote_assets`` names them.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

VENDORED = Path(__file__).resolve().parents[1] / "static" / "gx"
FOLDER = ("static", "vendor")  # inside the Data Docs site
ASSETS = {  # URL GX's templates use -> file under nbrec/static/gx
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": "bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": "bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": "bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": "bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": "bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": "bootstrap-prefers-dark.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
}  # fmt: skip
# GX's logo from its web assets bucket -> the copy GX writes into the site's static/images
LOGO = re.compile(
    r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/"
    r"(?:logo-long|full_logo_dark)\.png(?:\?[^\"')\s]*)?"
)
VEGA = re.compile(r'<script src="https://cdn\.jsdelivr\.net/npm/vega[^"]*"></script>\s*')
# GX's validation pages name ``static/`` one folder too shallow for the favicon (a 404 in the
# console): every ``../static/`` reference is made relative to the page again.
STATIC = re.compile(r"""(["'(])(?:\.\./)+static/""")
SRI = re.compile(r'\s(?:integrity|crossorigin)="[^"]*"')  # a file:// page fails CORS with them
REMOTE = re.compile(r"""(?:src=|<link[^>]*href=|url\()["']?(https?://[^"')\s>]+)""")


def make_offline(docs_dir: str | Path) -> int:
    """Point every page of the site at local copies; the pages changed."""
    docs = Path(docs_dir)
    if not docs.is_dir():
        return 0
    vendor = docs.joinpath(*FOLDER)
    shutil.copytree(VENDORED, vendor, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md"))
    changed = 0
    for page in docs.rglob("*.html"):
        text = original = page.read_text(encoding="utf-8")
        local = Path(os.path.relpath(vendor, page.parent)).as_posix()
        for url, name in ASSETS.items():
            text = text.replace(f'"{url}"', f'"{local}/{name}"')
        static = Path(os.path.relpath(docs / "static", page.parent)).as_posix()
        text = STATIC.sub(lambda m, to=static: f"{m.group(1)}{to}/", text)
        text = LOGO.sub(f"{static}/images/logo-long.png", text)
        if "vegaEmbed(" not in text:
            text = VEGA.sub("", text)
        text = SRI.sub("", text)
        if text != original:
            page.write_text(text, encoding="utf-8")
            changed += 1
    return changed


def remote_assets(page: str | Path) -> list[str]:
    """What a page would still load from off the machine (scripts, styles, images)."""
    return REMOTE.findall(Path(page).read_text(encoding="utf-8"))
