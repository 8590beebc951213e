"""BentoML returning a fixed list, in the variants that show where BentoML spends its time.

BENCH_BENTO_MODE: ``api`` (a stock ``@bentoml.api``), ``mounted`` (the Starlette app of
bare_starlette mounted with ``@bentoml.asgi_app``, default config), ``mounted-tuned`` (plus:
tracing, access log and HTTP metrics skip the path), ``mounted-frozen`` (plus gc.freeze()).
"""

import gc
import os

import bentoml
from bare_starlette import app

MODE = os.environ.get("BENCH_BENTO_MODE", "api")
FAST = ["/recommend"]
CONFIG = (
    {
        "logging": {"access": {"enabled": True, "skip_paths": FAST}},
        "tracing": {"excluded_urls": FAST},
    }
    if MODE in ("mounted-tuned", "mounted-frozen")
    else {}
)

if MODE == "api":

    @bentoml.service(name="bare")
    class Bare:
        @bentoml.api
        async def recommend(self, user_id: str = "", k: int = 10) -> dict:
            return {"items": ["i1", "i2", "i3", "i4", "i5", "i6", "i7", "i8", "i9", "i10"]}

else:

    @bentoml.service(name="bare", **CONFIG)
    @bentoml.asgi_app(app, path="/")
    class Bare:
        def __init__(self) -> None:
            if MODE == "mounted-frozen":
                gc.collect()
                gc.freeze()
