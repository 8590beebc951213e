"""``GET /docs``: Swagger UI for nbrec's ``/openapi.json``, served by the service itself.

The Swagger UI files come from the pinned ``fastapi-offline`` package (Swagger UI 5, which reads
OpenAPI 3.1), never from a CDN: the page works on a machine without internet. It replaces
BentoML's own UI at ``/``, which describes ``@bentoml.api`` methods only (nbrec has none) and is
shadowed by nbrec's router anyway; ``/`` redirects here.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

ASSET_PACKAGE = "fastapi_offline"
ASSETS = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
# Relative URLs, so the page also works behind a path prefix. validatorUrl: null, or Swagger UI
# sends the document to an online validator.
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>nbrec API</title>
  <link rel="icon" type="image/png" href="docs/assets/favicon.png">
  <link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/assets/swagger-ui-bundle.js"></script>
  <script src="docs/assets/init.js"></script>
</body>
</html>
"""
INIT = """window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: true,
  displayRequestDuration: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""
CACHE = {"cache-control": "public, max-age=86400"}


@lru_cache(maxsize=len(ASSETS))
def asset(name: str) -> bytes:
    """One Swagger UI file from the installed package (read once)."""
    return (files(ASSET_PACKAGE) / "static" / name).read_bytes()


async def docs_page(request: Request) -> Response:
    return Response(PAGE, media_type="text/html")


async def docs_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name == "init.js":
        return Response(INIT, media_type="application/javascript", headers=CACHE)
    if name not in ASSETS:
        return Response(
            f'{{"error": "no docs asset {name!r}; have {sorted(ASSETS)}"}}',
            status_code=404,
            media_type="application/json",
        )
    return Response(asset(name), media_type=ASSETS[name], headers=CACHE)


async def root(request: Request) -> Response:
    return RedirectResponse("docs", status_code=307)


def docs_routes() -> list[Route]:
    """``/`` (redirect), ``/docs`` and ``/docs/assets/<file>``."""
    return [
        Route("/", root, methods=["GET"]),
        Route("/docs", docs_page, methods=["GET"]),
        Route("/docs/assets/{name}", docs_asset, methods=["GET"]),
    ]
