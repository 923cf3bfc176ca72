"""What generating a market takes in memory, checked before it starts: the market is generated whole, so too many
events for the machine would run for minutes (about 4.5 s per 200 events here) and end in the kernel's OOM killer,
not in an error."""

from __future__ import annotations

from pathlib import Path

# Measured with the default parameters: 600 events (3.3 M sales, 6.9 M scans) peaked at 2.9 GB resident.
BYTES_PER_EVENT = 5_000_000


class TooLarge(Exception):
    """The market would not fit in the memory available now."""


def check_fits(events: int, meminfo: Path = Path("/proc/meminfo")) -> None:
    """Raise TooLarge when `events` would take more memory than the machine has available (unknown: allowed)."""
    available = _available_bytes(meminfo)
    needed = events * BYTES_PER_EVENT
    if available is not None and needed > available:
        most = available // BYTES_PER_EVENT
        raise TooLarge(
            f"{events:,} events need about {needed / 1e9:.1f} GB to generate; {available / 1e9:.1f} GB is available "
            f"(at most about {most:,} events)"
        )


def _available_bytes(meminfo: Path) -> int | None:
    try:
        lines = meminfo.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None
