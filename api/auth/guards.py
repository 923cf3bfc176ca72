"""API keys at the door: every endpoint but health, readiness and the docs needs an API key of a scope.

The check is a middleware on each router rather than a Litestar guard: Litestar copies the route handler for
every guard call, which was an eighth of a cached live answer's time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import anyio
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, ServiceUnavailableException
from litestar.types import ASGIApp, Receive, Send
from litestar.types import Scope as AsgiScope

from api.auth.keys import ApiKey, KeyStore, Scope
from api.warehouse_handle import WarehouseHandle

Middleware = Callable[[ASGIApp], ASGIApp]
RETRY_AFTER_SECONDS = "5"


def presented_key(connection: ASGIConnection) -> str | None:  # type: ignore[type-arg]
    """The key from `X-API-Key`, or from `Authorization: Bearer <key>`."""
    return key_in(connection.headers.get("x-api-key"), connection.headers.get("authorization", ""))


def key_in(x_api_key: str | None, authorization: str) -> str | None:
    """The key from an `X-API-Key` value, or from an `Authorization: Bearer <key>` value."""
    if x_api_key:
        return x_api_key
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def key_store(state: State) -> KeyStore:
    """The worker's key store, made on first use (the warehouse may come up after the API)."""
    store: KeyStore | None = getattr(state, "key_store", None)
    if store is None:
        handle: WarehouseHandle = state.warehouse
        store = KeyStore(handle.client())
        state.key_store = store
    return store


def header_map(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """An ASGI scope's headers by (lower-case) name; the first of a repeated header wins, as in Litestar."""
    return dict(reversed(list(headers)))


def cached_key(state: State, headers: Mapping[bytes, bytes], scope: Scope) -> ApiKey | None:
    """The request's key when the worker's key cache vouches for it and it has `scope`; None whenever the
    cache cannot tell (no key, an unknown or expired one, another scope): the route's own check then answers.
    For the fast paths, which answer before routing (api/realtime/fast_path.py, api/ingest/fast_path.py)."""
    store: KeyStore | None = getattr(state, "key_store", None)  # made by the first keyed request
    if store is None:
        return None
    presented = key_in(
        headers.get(b"x-api-key", b"").decode("latin-1") or None,
        headers.get(b"authorization", b"").decode("latin-1"),
    )
    found = store.authenticate_cached(presented) if presented is not None else None
    return found if isinstance(found, ApiKey) and found.allows(scope) else None


async def authenticate(connection: ASGIConnection) -> ApiKey:  # type: ignore[type-arg]
    presented = presented_key(connection)
    if presented is None:
        raise NotAuthorizedException("an API key is required: send it as X-API-Key or Authorization: Bearer")
    return await check_key(lambda: key_store(connection.app.state), presented)


async def check_key(store_of: Callable[[], KeyStore], presented: str) -> ApiKey:
    """The key's record (from the worker's cache when fresh): 401 for an invalid or revoked key, 503 when keys
    cannot be checked now. Used by the HTTP guards and by Socket.IO's connect."""
    try:
        store = store_of()
        found = store.authenticate_cached(presented)
        if found is True:
            found = await anyio.to_thread.run_sync(store.authenticate, presented)
    except Exception as error:
        raise ServiceUnavailableException(
            f"cannot check API keys now: {type(error).__name__}", headers={"Retry-After": RETRY_AFTER_SECONDS}
        ) from error
    if not isinstance(found, ApiKey):
        raise NotAuthorizedException("invalid or revoked API key")
    return found


def require(scope: Scope) -> Middleware:
    """Middleware admitting keys with `scope` (or admin); the key is left in the ASGI scope's "api_key"."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def admit(asgi_scope: AsgiScope, receive: Receive, send: Send) -> None:
            if asgi_scope["type"] == ScopeType.HTTP:
                key = await authenticate(ASGIConnection(asgi_scope))
                if not key.allows(scope):
                    raise PermissionDeniedException(f"this API key lacks the '{scope}' scope")
                asgi_scope["api_key"] = key  # type: ignore[typeddict-unknown-key]
            await app(asgi_scope, receive, send)

        return admit

    return middleware
