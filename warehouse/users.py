"""The warehouse's users: a read-write one (API, dbt) and a read-only analyst, from settings."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from tickettoken.settings import WarehouseSettings
from warehouse.errors import AUTHENTICATION_FAILED, WarehouseError


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password: str
    readonly: bool


class Users:
    """Checks credentials from Basic auth, X-ClickHouse-User/Key headers or user/password parameters."""

    def __init__(self, users: list[User]) -> None:
        self._by_name = {user.name: user for user in users}

    @classmethod
    def from_settings(cls, settings: WarehouseSettings) -> Users:
        return cls(
            [
                User(settings.user, settings.password, readonly=False),
                User(settings.analyst_user, settings.analyst_password, readonly=True),
            ]
        )

    @property
    def all_have_passwords(self) -> bool:
        return all(user.password for user in self._by_name.values())

    def authenticate(self, headers: Mapping[str, str], params: Mapping[str, str]) -> User:
        credentials = _credentials(headers, params)
        if credentials is None:
            raise WarehouseError(AUTHENTICATION_FAILED, "Authentication failed: unreadable Authorization header.")
        name, password = credentials
        user = self._by_name.get(name)
        # Compare against something even for unknown users so the timing says nothing about names.
        expected = user.password if user else "\0unknown-user"
        if not hmac.compare_digest(password.encode(), expected.encode()) or user is None:
            raise WarehouseError(
                AUTHENTICATION_FAILED,
                f"{name}: Authentication failed: password is incorrect, or there is no user with such name.",
            )
        return user


def _credentials(headers: Mapping[str, str], params: Mapping[str, str]) -> tuple[str, str] | None:
    if "x-clickhouse-user" in headers:
        return headers["x-clickhouse-user"], headers.get("x-clickhouse-key", "")
    authorization = headers.get("authorization", "")
    if authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
            return None
        name, _, password = decoded.partition(":")
        return name, password
    if "user" in params:
        return params["user"], params.get("password", "")
    # None given: ClickHouse's user `default`, as a server takes such requests. clickhouse-connect's
    # get_client() without a username sends none, so it reaches the default user with its empty password.
    return "default", ""
