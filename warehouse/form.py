"""`multipart/form-data` request bodies: clickhouse-connect sends a query and its parameters this way when
they would make the URL too long (real ClickHouse reads `query` and `param_*` from such a form)."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import HTTP

from warehouse.errors import BAD_ARGUMENTS, NOT_IMPLEMENTED, WarehouseError


def is_form(content_type: str) -> bool:
    return content_type.lower().startswith("multipart/form-data")


def parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """The form's fields by name. File parts (external tables) are refused: not supported here."""
    message = message_from_bytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body, policy=HTTP)
    if not message.is_multipart():
        raise WarehouseError(BAD_ARGUMENTS, "malformed multipart/form-data body")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise WarehouseError(BAD_ARGUMENTS, "a form field has no name")
        if part.get_filename() is not None:
            raise WarehouseError(NOT_IMPLEMENTED, f"external data ({name!r} as a file) is not supported")
        payload = part.get_payload(decode=True)
        fields[name] = payload.decode("utf-8") if isinstance(payload, bytes) else str(payload or "")
    return fields
