"""The `tickettoken` command."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tickettoken.settings import get_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """TicketToken Analytics: the warehouse, its API and the tools around them."""


@main.group()
def warehouse() -> None:
    """The embedded ClickHouse warehouse."""


@warehouse.command("serve")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None, help="Data directory [TICKETTOKEN_DATA_DIR]."
)
@click.option("--host", default=None, help="Address to listen on [from TICKETTOKEN_CLICKHOUSE_URL].")
@click.option("--port", type=int, default=None, help="Port [from TICKETTOKEN_CLICKHOUSE_URL].")
def warehouse_serve(data_dir: Path | None, host: str | None, port: int | None) -> None:
    """Serve the ClickHouse HTTP interface over the embedded engine (chDB)."""
    from warehouse.serve import RefusedToListen, serve

    settings = get_settings().warehouse
    try:
        serve(settings, data_dir=data_dir, host=host or settings.host, port=port or settings.port)
    except RefusedToListen as error:
        raise click.ClickException(str(error)) from None


@warehouse.command("migrate")
def warehouse_migrate() -> None:
    """Apply the schema migrations that have not run yet."""
    from warehouse.client import connect
    from warehouse.migrate import MigrationError, migrate

    settings = get_settings().warehouse
    try:
        applied = migrate(connect(settings), settings)
    except MigrationError as error:
        raise click.ClickException(str(error)) from None
    for version in applied:
        click.echo(f"applied {version}")
    click.echo(f"{len(applied)} migration(s) applied; schema is up to date")


@main.command("serve")
@click.option("--host", default=None, help="Address to listen on [TICKETTOKEN_HOST].")
@click.option("--port", type=int, default=None, help="Port [TICKETTOKEN_PORT, default 3009].")
@click.option("--workers", type=int, default=None, help="API worker processes [TICKETTOKEN_WORKERS].")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the API; starts the embedded warehouse too when nothing answers at the default URL."""
    from api.run import run_api

    api = get_settings().api
    sys.exit(run_api(host or api.host, port or api.port, workers or api.workers))


@main.command("sql")
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def sql(query: str, fmt: str) -> None:
    """Run one SQL statement as the read-only analyst user and print the result."""
    from warehouse.analyst import run_analyst_query

    try:
        click.echo(run_analyst_query(get_settings().warehouse, query, fmt), nl=False)
    except Exception as error:  # noqa: BLE001 - any client error is shown as one line, not a traceback
        raise click.ClickException(str(error).strip()) from None


if __name__ == "__main__":
    main()
