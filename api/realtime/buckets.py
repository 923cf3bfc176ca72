"""Time buckets of the live series, aligned in the requested zone.

A bucket of N minutes (or hours) starts at a multiple of N from the local midnight; a bucket of N days at a
multiple of N local days since 1970-01-01. Buckets are periods of real time, printed in the zone: on a night
the clocks go back, Berlin's 02:00-03:00 happens twice and so gives two hour buckets (02:00+02:00 and
02:00+01:00); zones half an hour off UTC get buckets on their own hours.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def _offsets_ms(times: Ints, zone: zoneinfo.ZoneInfo) -> Ints:
    """Each time's UTC offset in the zone (offsets change on whole UTC hours; one lookup per hour seen)."""
    hours, inverse = np.unique(times // HOUR_MS, return_inverse=True)
    per_hour = np.array([_offset_ms(int(hour) * HOUR_MS, zone) for hour in hours], dtype=np.int64)
    found: Ints = per_hour[inverse.reshape(-1)]
    return found


def _offset_ms(at_ms: int, zone: zoneinfo.ZoneInfo) -> int:
    offset = datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(zone).utcoffset()
    return int(offset.total_seconds() * 1000) if offset is not None else 0


def bucket_starts(times: Ints, zone: zoneinfo.ZoneInfo, minutes: int) -> Ints:
    """The start (epoch milliseconds) of each time's bucket of `minutes`."""
    if not len(times):
        return times
    offsets = _offsets_ms(times, zone)
    local = times + offsets
    if minutes % 1440 == 0:
        days = local // DAY_MS
        local_start = days - days % (minutes // 1440)
        local_start *= DAY_MS
    else:
        midnight = local - local % DAY_MS
        size = minutes * MINUTE_MS
        local_start = midnight + (local - midnight) // size * size
    guess = local_start - offsets
    # A bucket that begins before a change of offset (a day bucket on a DST night) starts at its own offset.
    starts, firsts, inverse = np.unique(guess, return_index=True, return_inverse=True)
    fixed = np.array(
        [int(local_start[row]) - _offset_ms(int(start), zone) for start, row in zip(starts, firsts, strict=True)],
        dtype=np.int64,
    )
    result: Ints = fixed[inverse.reshape(-1)]
    return result
