"""Reference: the practical limit of a Python HTTP endpoint (Starlette on uvicorn, fixed list)."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"items": ["i1", "i2", "i3", "i4", "i5", "i6", "i7", "i8", "i9", "i10"]}'


async def recommend(request: Request) -> Response:
    await request.body()
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/recommend", recommend, methods=["POST"])])
