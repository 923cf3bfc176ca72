"""A bare Litestar endpoint (read the body, answer a small struct) under the API's own server settings: the
ceiling the ingest endpoints are measured against. Run as `python -m bench.bare_app PORT`."""

from __future__ import annotations

import sys

import msgspec
import uvicorn
from litestar import Litestar, Request, get, post


class Answer(msgspec.Struct):
    accepted: int


@post("/bare", status_code=200)
async def bare(request: Request) -> Answer:  # type: ignore[type-arg]
    """Read the body and answer: no validation, no warehouse."""
    body = await request.body()
    return Answer(accepted=len(body) > 0)


@get("/bare/{event_id:str}")
async def bare_read(event_id: str) -> Answer:
    """Answer a small struct: the ceiling for the live (GET) endpoints."""
    return Answer(accepted=len(event_id))


app = Litestar(route_handlers=[bare, bare_read])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", http="httptools", loop="uvloop")
