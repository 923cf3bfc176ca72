"""The shape of every refusal the API answers itself: `{"status_code": ..., "detail": ...}`, as Litestar's own;
and the plain JSON answer the fast paths send without Litestar."""

from __future__ import annotations

from litestar import Response
from litestar.types import Send

_JSON = (b"content-type", b"application/json")


def detail_response(status: int, detail: str, headers: dict[str, str] | None = None) -> Response[dict[str, object]]:
    return Response({"status_code": status, "detail": detail}, status_code=status, headers=headers)


async def send_json(send: Send, body: bytes) -> None:
    """A 200 with a JSON body, with the headers Litestar gives one."""
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
