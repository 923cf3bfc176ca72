"""What `tickettoken load` prints: a progress bar per file, then a line per file of what was committed, the
records refused (with their place in the file), and where quarantined records wait."""

from __future__ import annotations

from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tickettoken.file_loader import Loaded, LoadStopped, UnreadableFile, chunks, load_chunks, record_count

SHOWN_PROBLEMS = 20  # refused records listed per file; the count says how many more


def load_files(
    url: str, key: str, stream: str, files: list[tuple[Path, str]], *, rows: int, concurrency: int, partial: bool
) -> None:
    """Send each (file, format) in turn; ClickException when the service refuses a body or does not answer."""
    _check_answers(url)
    console = Console(stderr=True)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=600) as client:
        for path, fmt in files:
            with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
                try:
                    task = progress.add_task(path.name, total=record_count(path, fmt))
                    loaded = load_chunks(
                        client,
                        stream,
                        chunks(path, fmt, rows),
                        concurrency=concurrency,
                        partial=partial,
                        on_sent=lambda n, task=task: progress.advance(task, n),  # type: ignore[misc]
                    )
                except LoadStopped as stopped:
                    _report(path, stopped.loaded)
                    if not stopped.loaded.requests:
                        raise click.ClickException(str(stopped)) from None
                    raise click.ClickException(
                        f"{stopped}. The records before were committed: loading the file again is safe (those"
                        " stored count as duplicates)."
                    ) from None
                except UnreadableFile as error:
                    raise click.ClickException(str(error)) from None
            _report(path, loaded)


def _check_answers(url: str) -> None:
    """One line, at once, when nothing answers at `url` (rather than a minute of retries)."""
    try:
        httpx.get(url + "/health", timeout=5)
    except httpx.HTTPError as error:
        raise click.ClickException(
            f"nothing answers at {url}/health ({error}): is `tickettoken serve` running?"
        ) from None


def _report(path: Path, loaded: Loaded) -> None:
    """What the file's answered requests committed (nothing when none was answered), and the problems found."""
    answer = loaded.answer
    sent = answer.accepted + answer.duplicates + answer.rejected
    if loaded.requests:
        requests = f"{loaded.requests:,} request{'s' if loaded.requests > 1 else ''}"
        click.echo(
            f"{path.name}: {sent:,} records in {requests}: {answer.accepted:,} accepted,"
            f" {answer.duplicates:,} duplicates, {answer.rejected:,} rejected"
        )
    for problem in loaded.problems[:SHOWN_PROBLEMS]:
        click.echo(f"  {problem}")
    if len(loaded.problems) > SHOWN_PROBLEMS:
        click.echo(f"  and {len(loaded.problems) - SHOWN_PROBLEMS:,} more")
    for quarantine_id in answer.quarantine_ids:
        click.echo(f"  quarantined under {quarantine_id} (POST /api/ingest/quarantine/{quarantine_id}/replay)")
