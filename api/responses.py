"""The shape of every refusal the API answers itself: `{"status_code": ..., "detail": ...}`, as Litestar's own."""

from __future__ import annotations

from litestar import Response


def detail_response(status: int, detail: str, headers: dict[str, str] | None = None) -> Response[dict[str, object]]:
    return Response({"status_code": status, "detail": detail}, status_code=status, headers=headers)
