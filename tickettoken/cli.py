"""The `tickettoken` command."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tickettoken.children import stop_with_parent_if_asked
from tickettoken.settings import SettingsError, WarehouseSettings, get_settings

if TYPE_CHECKING:
    from api.auth.keys import KeyStore

PORT = click.IntRange(1, 65535)
QUIET_WAIT_SECONDS = 10.0  # `tickettoken demo` waits this long for its API before saying it is waiting
ORGANIZER_ID_MAX = 128  # the ingest contract's ids (api/ingest/schemas.py, `Id`), not imported: --help stays fast
INGEST_STREAMS = ("sale", "attendance", "revenue", "social", "event", "venue")  # api/ingest/streams.py's, likewise


class _Commands(click.Group):
    """The command group, printing a setting the commands cannot use as one line (not a traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """TicketToken Analytics: the warehouse, its API and the tools around them."""
    stop_with_parent_if_asked()  # as a child of `tickettoken serve`: the warehouse or the demo traffic


@main.group()
def warehouse() -> None:
    """The embedded ClickHouse warehouse."""


@warehouse.command("serve")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None, help="Data directory [TICKETTOKEN_DATA_DIR]."
)
@click.option("--host", default=None, help="Address to listen on [from TICKETTOKEN_CLICKHOUSE_URL].")
@click.option("--port", type=PORT, default=None, help="Port [from TICKETTOKEN_CLICKHOUSE_URL].")
@click.option(
    "--query-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A file for the line per query, rotated at 64 MiB [TICKETTOKEN_WAREHOUSE_QUERY_LOG, else standard error].",
)
def warehouse_serve(data_dir: Path | None, host: str | None, port: int | None, query_log: Path | None) -> None:
    """Serve the ClickHouse HTTP interface over the embedded engine (chDB)."""
    from warehouse.serve import RefusedToListen, serve

    settings = get_settings().warehouse
    try:
        serve(
            settings,
            data_dir=data_dir,
            host=host or settings.host,
            port=port or settings.port,
            query_log=query_log or settings.query_log,
        )
    except RefusedToListen as error:
        raise click.ClickException(str(error)) from None


@warehouse.command("migrate")
def warehouse_migrate() -> None:
    """Apply the schema migrations that have not run yet."""
    from warehouse.client import connect
    from warehouse.migrate import MigrationError, migrate

    settings = get_settings().warehouse
    with _warehouse_up(settings):
        try:
            applied = migrate(connect(settings), settings)
        except MigrationError as error:
            raise click.ClickException(str(error)) from None
    for version in applied:
        click.echo(f"applied {version}")
    click.echo(f"{len(applied)} migration(s) applied; schema is up to date")


@warehouse.command("backup")
@click.option("--name", default=None, help="The backup's name [<database>-<UTC time>].")
@click.option(
    "--max-bandwidth",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="MiB a second the backup may read, leaving the disk to the service's queries (0: no limit).",
)
def warehouse_backup(name: str | None, max_bandwidth: int) -> None:
    """Back up the service's database while it runs (to <data dir>/backups for the embedded warehouse)."""
    from functools import partial

    from warehouse.backups import back_up, default_name
    from warehouse.client import connect

    settings = get_settings().warehouse
    name = name or default_name(settings.database, datetime.now(UTC))
    # _warehouse_up makes a refusal (BackupRefused) or a warehouse error one line.
    with _warehouse_up(settings), _bytes_progress(f"backing up database {settings.database} as {name}") as progress:
        made = back_up(partial(connect, settings), settings.database, name, max_bandwidth=max_bandwidth * 2**20,
                       progress=progress)  # fmt: skip
    where = settings.backup_dir / made.name if settings.is_embedded else made.name
    click.echo(f"backup {made.name}: {made.files:,} files, {made.bytes:,} bytes; {where}")


@warehouse.command("restore")
@click.argument("name")
@click.option(
    "--replace",
    is_flag=True,
    help="Replace the database when it holds tables (its data is lost), once the backup is restored beside it.",
)
def warehouse_restore(name: str, replace: bool) -> None:
    """Restore the service's database from the backup NAME (stop the service first)."""
    from functools import partial

    from warehouse.backups import restore
    from warehouse.client import connect

    settings = get_settings().warehouse
    with _warehouse_up(settings), _bytes_progress(f"restoring database {settings.database} from {name}") as progress:
        tables = restore(partial(connect, settings), settings.database, name, replace=replace, progress=progress)
    click.echo(f"restored database {settings.database} from {name}: {tables} tables")


@contextmanager
def _bytes_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """`description ...` on standard error (a log's line), then a bar of bytes done against bytes in all, gone once
    done; the callback moves it."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn, TransferSpeedColumn

    click.echo(f"{description} ...", err=True)
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn())
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total or None)


@main.command("serve")
@click.option("--host", default=None, help="Address to listen on [TICKETTOKEN_HOST].")
@click.option("--port", type=PORT, default=None, help="Port [TICKETTOKEN_PORT, default 3009].")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="API worker processes [TICKETTOKEN_WORKERS].")
@click.option("--demo", is_flag=True, help="Load a demo market when no sales are stored, then send live traffic.")
def serve(host: str | None, port: int | None, workers: int | None, demo: bool) -> None:
    """Serve the API; starts the embedded warehouse too when nothing answers at the default URL."""
    # Arrow's buffers from the C library's allocator, not pyarrow's bundled mimalloc: `perf` on the API ingesting
    # Arrow bodies showed a third of its CPU in the kernel zeroing huge pages faulted in again and again under
    # mimalloc. Arrow reads this at its first allocation, so before anything is imported; an operator's own wins.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    from api.run import run_api

    api = get_settings().api
    sys.exit(run_api(host or api.host, port or api.port, workers or api.workers, demo=demo))


def _organizer(value: str | None) -> str | None:
    """An organizer id as the ingest contract bounds it: an empty one would make a key bound to no organizer,
    that is to every one (say, `--organizer "$ORG"` with ORG unset)."""
    if value is not None and not 1 <= len(value) <= ORGANIZER_ID_MAX:
        raise click.BadParameter(f"must be 1 to {ORGANIZER_ID_MAX} characters (leave it out: a key of any organizer)")
    return value


@main.group()
def keys() -> None:
    """API keys: scopes ingest, read and admin, optionally bound to one organizer."""


@keys.command("create")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(["ingest", "read", "admin"]))
@click.option(
    "--organizer",
    default=None,
    callback=lambda _ctx, _param, value: _organizer(value),
    help="Bind the key to one organizer's events (an organizer_id as events carry it).",
)
@click.option("--name", default="", help="What the key is for.")
def keys_create(scopes: tuple[str, ...], organizer: str | None, name: str) -> None:
    """Make a key. It is printed once, as the last line; only its hash is stored."""
    from api.auth.keys import Scope

    with _key_store() as store:
        key, record = store.create({Scope(s) for s in scopes}, organizer_id=organizer, name=name)
    click.echo(f"key id {record.key_id}: scopes {', '.join(sorted(record.scopes))}; organizer {organizer or 'any'}")
    click.echo("store it now, it cannot be shown again:")
    click.echo(key)


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (workers notice within a few seconds)."""
    from api.auth.keys import KeyRefused

    with _key_store() as store:
        try:
            store.revoke(key_id)
        except KeyRefused as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"revoked {key_id}")


@keys.command("list")
def keys_list() -> None:
    """List keys (ids, scopes, organizer, state); never the secrets."""
    with _key_store() as store:
        listed = store.list()
    if not listed:
        click.echo("no keys yet: make one with `tickettoken keys create --scope ingest|read|admin`")
        return
    line = "{:<12}  {:<20} {:<16} {:<20} {:<24} {}"
    click.echo(line.format("id", "scopes", "organizer", "created (UTC)", "state", "name").rstrip())
    for key in listed:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M %Z}" if key.revoked_at else "active"
        scopes = ",".join(sorted(key.scopes))
        created = f"{key.created_at:%Y-%m-%d %H:%M}"
        click.echo(line.format(key.key_id, scopes, key.organizer_id or "*", created, state, key.name).rstrip())


@contextmanager
def _key_store() -> Iterator[KeyStore]:
    """The keys in the warehouse (started for the command when it is the embedded one and not running)."""
    from api.auth.keys import KeyStore
    from warehouse.client import connect
    from warehouse.migrate import migrate

    settings = get_settings().warehouse
    with _warehouse_up(settings) as started:
        if started:  # a data directory the API never ran on has no keys table yet
            migrate(connect(settings), settings)
        yield KeyStore(connect(settings, database=settings.database))


@contextmanager
def _warehouse_up(settings: WarehouseSettings) -> Iterator[bool]:
    """The warehouse for a one-shot command; True when started for it. Not answering, or failing to start, is
    one line naming the warehouse, not a traceback."""
    from api.embedded import embedded_when_needed
    from warehouse.analyst import error_text

    logging.getLogger("clickhouse_connect").setLevel(logging.ERROR)  # its retries' warnings: the error says it
    try:
        # The command prints its own lines; the server's go to a file.
        with embedded_when_needed(settings, output=settings.data_dir / "logs" / "warehouse.log") as started:
            if started:
                click.echo(f"the warehouse was not running: started the embedded one on {settings.data_dir} for this"
                           " command", err=True)  # fmt: skip
            yield started
    except (click.ClickException, click.exceptions.Exit):
        raise
    except Exception as error:  # noqa: BLE001 - any warehouse or client error is one line
        raise click.ClickException(error_text(error, settings)) from None


@main.command("sql")
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default=None,
    help="How to print the rows [table]. A statement ending in its own FORMAT clause is printed as the warehouse"
    " answers it.",
)
def sql(query: str, fmt: str | None) -> None:
    """Run one SQL statement as the read-only analyst user and print the result."""
    from warehouse.analyst import run_analyst_query, statement_error_text
    from warehouse.sql_text import trailing_format

    if not query.strip():
        raise click.UsageError('give a SQL statement, e.g. tickettoken sql "SELECT count() FROM tickettoken.sales"')
    logging.getLogger("clickhouse_connect").setLevel(logging.ERROR)  # its retries' warnings: the error says it
    own = trailing_format(query)
    if own is not None and fmt is not None:
        raise click.UsageError(f"the statement names its own format (FORMAT {own[1]}): leave out --format")
    out = sys.stdout.buffer
    try:
        run_analyst_query(get_settings().warehouse, query, None if own else fmt or "table", out)
        out.flush()
    except BrokenPipeError:  # the reader has all it wanted (`| head`); the statement stopped as the client closed
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())  # so that the exit's own flush does not fail
        sys.exit(1)
    except Exception as error:  # noqa: BLE001 - any client error is shown as one line, not a traceback
        raise click.ClickException(statement_error_text(error, get_settings().warehouse)) from None


@main.command("demo")
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=600,
    show_default=True,
    envvar="TICKETTOKEN_DEMO_EVENTS",
    help="Events in the market.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="The same seed gives the same market.")
@click.option(
    "--now",
    "now_time",
    default=None,
    callback=lambda _ctx, _param, value: _aware_time(value),
    help="ISO time with its offset, splitting past from upcoming events [now].",
)
@click.option("--url", default=None, help="The API [http://TICKETTOKEN_HOST:TICKETTOKEN_PORT].")
@click.option("--key", default=None, envvar="TICKETTOKEN_API_KEY", help="An ingest key [made for the demo].")
@click.option("--live", is_flag=True, help="Then keep sending sales and social posts for upcoming events.")
@click.option(
    "--rate", type=click.FloatRange(min=0, min_open=True), default=20.0, show_default=True, help="Live sales a second."
)
@click.option("--if-empty", is_flag=True, help="Load only when the warehouse holds no sales yet.")
def demo(**options: Any) -> None:
    """Generate a ticket market (simulator/params.py documents it) and load it through the ingest API."""
    from simulator.loader import load
    from simulator.market import generate
    from simulator.params import MarketParams

    events, seed, now_time = options["events"], options["seed"], options["now_time"]
    key, live, rate = options["key"], options["live"], options["rate"]
    if not options["if_empty"]:  # checked before it waits for its API; with --if-empty, only when it loads
        _fits(events)
    settings = get_settings()
    url = options["url"] or f"http://{settings.api.host}:{settings.api.port}"
    _wait_for(url)  # first: the API's warehouse is up then, and holds the demo's key
    if key is None:
        from api.auth.keys import Scope

        with _key_store() as store:
            key, made = store.create({Scope.INGEST}, name="demo")
        click.echo(f"made ingest key {made.key_id} for the demo")
    now = now_time or datetime.now(UTC).replace(microsecond=0)
    params = MarketParams(seed=seed, events=events, now=now)
    if options["if_empty"] and _sales_stored() > 0:
        click.echo("the warehouse holds sales already: nothing loaded")
    else:
        if options["if_empty"]:
            _fits(events)
        from rich.progress import Progress

        with Progress(transient=True) as progress:
            task = progress.add_task("generating", total=events)
            market = generate(params, lambda n: progress.advance(task, n))
        click.echo(", ".join(f"{t.num_rows:,} {name}" for name, t in market.streams().items()) + " generated")
        from tickettoken.ingest_client import Refused

        try:
            loaded_streams = load(market, url, key)
        except Refused as error:  # a key without the ingest scope, say: one line, not a traceback
            raise click.ClickException(f"the API refused the demo's records: {error}") from None
        for stream, loaded in loaded_streams.items():
            click.echo(f"{stream:<10} {loaded.accepted:>10,} accepted {loaded.duplicates:>10,} already there")
    if live:
        from simulator.live import run_live, sold_so_far
        from warehouse.client import connect

        warehouse = settings.warehouse
        run_live(params, url, key, rate, lambda ids: sold_so_far(connect(warehouse, database=warehouse.database), ids))


@main.command("load")
@click.argument("stream", type=click.Choice(INGEST_STREAMS))
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "arrow", "ndjson", "json"]),
    default=None,
    help="The files' format [from each one's extension: .parquet, .arrow/.feather/.arrows, .ndjson/.jsonl, .json;"
    " the last two also gzipped, .ndjson.gz].",
)
@click.option("--url", default=None, help="The API [http://TICKETTOKEN_HOST:TICKETTOKEN_PORT].")
@click.option("--key", required=True, envvar="TICKETTOKEN_API_KEY", help="An ingest key [TICKETTOKEN_API_KEY].")
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    default=50_000,
    show_default=True,
    help="Records per request (a request the API finds too large is split).",
)
@click.option("--concurrency", type=click.IntRange(1, 16), default=2, show_default=True, help="Requests at once.")
@click.option("--partial", is_flag=True, help="Write the valid records and quarantine the rest, instead of stopping.")
def load_files_command(
    stream: str, files: tuple[Path, ...], fmt: str | None, url: str | None, key: str, **options: Any
) -> None:
    """Load files of STREAM records (sale, attendance, revenue, social, event, venue) through the ingest API.

    Columns or fields as the ingest contract names them (docs/ingest.md). Stops at the first request the API
    refuses, listing its records' problems by line or record number; loading a file again is safe."""
    from tickettoken.file_loader import file_format
    from tickettoken.load_command import load_files

    try:
        formats = [(path, file_format(path, fmt)) for path in files]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="FILES") from None
    settings = get_settings().api
    url = url or f"http://{settings.host}:{settings.port}"
    load_files(url, key, stream, formats, **options)


def _fits(events: int) -> None:
    from simulator.footprint import TooLarge, check_fits

    try:
        check_fits(events)
    except TooLarge as error:
        raise click.BadParameter(f"{error}: ask for fewer", param_hint="'--events' (TICKETTOKEN_DEMO_EVENTS)") from None


def _aware_time(value: str | None) -> datetime | None:
    """An ISO time with its offset, in UTC: checked before the demo waits for its API, not after."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO time (say 2026-11-27T18:00:00+01:00)") from None
    if parsed.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no time zone: add its offset (+01:00) or Z")
    return parsed.astimezone(UTC)


def _wait_for(url: str, timeout: float = 300.0) -> None:
    """Until the API answers /health (`tickettoken serve --demo` starts the demo beside the API)."""
    import time

    import httpx

    started = time.monotonic()
    deadline = started + timeout
    said = False
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise click.ClickException(f"nothing answers at {url}/health (is `tickettoken serve` running?)")
        # Else a demo started before its API sat silent for minutes; not at once: `serve --demo` starts both.
        if not said and time.monotonic() - started > QUIET_WAIT_SECONDS:
            click.echo(f"waiting for the API at {url} (start it with `tickettoken serve`)", err=True)
            said = True
        time.sleep(0.5)


def _sales_stored() -> int:
    from warehouse.client import connect

    settings = get_settings().warehouse
    client = connect(settings, database=settings.database)
    return int(client.command("SELECT count() FROM sales"))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
