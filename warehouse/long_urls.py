"""URLs as long as ClickHouse takes them (its `http_max_uri_size`, 1 MiB).

Clients put query parameters in the URL (clickhouse-connect's `command` always does), and an IN list of a few
thousand ids passes 64 KiB. uvicorn's httptools protocol parses each request's URL with http-parser's URL
parser, whose offsets are 16-bit: past 64 KiB it answered 400 "Invalid HTTP request received.", which such a
client reports as the warehouse failing (the API's release of 15,000 replayed quarantine records got 503, every
time). Here a longer URL's query string is set aside before that parse and put back after; past 1 MiB the
request is refused as ClickHouse refuses it (400), before more of it is held.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_URI_BYTES = 1024 * 1024  # ClickHouse's http_max_uri_size
_PARSED_URL_BYTES = 0xFFFF  # what http-parser's URL parser can take


class UriTooLong(Exception):
    """Raised inside the parser's callback: httptools turns it into a parser error, which uvicorn answers 400."""


class LongUrlHttpToolsProtocol(HttpToolsProtocol):
    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URI_BYTES:
            raise UriTooLong(f"the URL is over {MAX_URI_BYTES} bytes")

    def on_headers_complete(self) -> None:
        query: bytes | None = None
        if len(self.url) > _PARSED_URL_BYTES:
            self.url, _, query = self.url.partition(b"?")
        # The request's task is only created here (it runs once this callback returns), so the query string set
        # below is the one it sees.
        super().on_headers_complete()
        if query is not None:
            self.scope["query_string"] = query
