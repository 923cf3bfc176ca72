"""Sending bodies to the ingest API as a patient client: a 429 or 503 is tried again after its Retry-After, and
so is a dropped connection (every record carries its own id, so a retry never counts twice); any other refusal
is raised with the service's answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyarrow as pa

RETRIES = 20
MAX_WAIT_SECONDS = 5.0  # however long a Retry-After asks for: a busy queue drains in well under that


class Refused(Exception):
    """The service refused a body for a reason a retry will not mend: its status and its answer."""

    def __init__(self, status: int, answer: dict[str, Any]) -> None:
        super().__init__(f"{status}: {answer.get('detail', answer)}")
        self.status = status
        self.answer = answer


@dataclass
class Answer:
    """What the service answered for one body (or the sum of several)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # index (in the body), field, message
    quarantine_ids: list[str] = field(default_factory=list)

    def add(self, other: Answer) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.errors += other.errors
        self.quarantine_ids += other.quarantine_ids


def arrow_body(table: pa.Table) -> bytes:
    """`table` as an Arrow IPC stream: the body of the backfill path."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def post_body(
    client: httpx.Client,
    stream: str,
    body: bytes,
    content_type: str,
    *,
    partial: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> Answer:
    """POST `body` to `/api/ingest/<stream>` until it is answered for good: its Answer, or Refused."""
    params = {"partial": "true"} if partial else None
    for attempt in range(RETRIES):
        try:
            response = client.post(
                f"/api/ingest/{stream}", content=body, params=params, headers={"Content-Type": content_type}
            )
        except httpx.TransportError:
            if attempt == RETRIES - 1:
                raise
            sleep(min(MAX_WAIT_SECONDS, 0.25 * 2**attempt))
            continue
        if response.status_code in (429, 503):
            sleep(min(MAX_WAIT_SECONDS, _seconds(response.headers.get("Retry-After"))))
            continue
        answer = _json(response)
        if response.status_code != 200 or "accepted" not in answer:  # not an ingest answer: a proxy's page, say
            raise Refused(response.status_code, answer)
        quarantine_id = answer.get("quarantine_id")
        return Answer(
            accepted=answer["accepted"],
            duplicates=answer["duplicates"],
            rejected=answer["rejected"],
            errors=answer.get("errors", []),
            quarantine_ids=[quarantine_id] if quarantine_id else [],
        )
    raise Refused(429, {"detail": f"the service stayed busy after {RETRIES} tries"})


def _seconds(retry_after: str | None) -> float:
    try:
        return max(0.0, float(retry_after or "1"))
    except ValueError:  # an HTTP date: not sent by this API, but a proxy in front may
        return 1.0


def _json(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or its text as the detail (a proxy's error page)."""
    try:
        answer = response.json()
    except ValueError:
        return {"detail": response.text[:500]}
    return answer if isinstance(answer, dict) else {"detail": answer}
