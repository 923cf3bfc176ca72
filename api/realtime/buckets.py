"""Time buckets of the live series, aligned in the requested zone.

A bucket of N minutes (or hours) starts at a multiple of N from the local midnight; a bucket of N days at a
multiple of N local days since 1970-01-01. Buckets are periods of real time, printed in the zone: on a night
the clocks go back, Berlin's 02:00-03:00 happens twice and so gives two hour buckets (02:00+02:00 and
02:00+01:00); zones half an hour off UTC get buckets on their own hours.
"""

from __future__ import annotations

import math
import zoneinfo
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def _offsets_ms(times: Ints, zone: zoneinfo.ZoneInfo) -> Ints:
    """Each time's UTC offset in the zone, looked up at the start of each hour seen and of the hour after it.
    Most zones change on whole UTC hours; where the two differ, the change fell within the hour (St John's and
    Lord Howe change on half hours) and its second is found by bisection."""
    hours, inverse = np.unique(times // HOUR_MS, return_inverse=True)
    inverse = inverse.reshape(-1)
    edges = np.union1d(hours, hours + 1)
    at_edges = np.array([_offset_ms(int(hour) * HOUR_MS, zone) for hour in edges], dtype=np.int64)
    before, after = at_edges[np.searchsorted(edges, hours)], at_edges[np.searchsorted(edges, hours + 1)]
    offsets: Ints = before[inverse]
    for changed in np.flatnonzero(before != after):  # an hour with a change: a few a year at most
        later = (inverse == changed) & (times >= _change_ms(int(hours[changed]) * HOUR_MS, zone))
        offsets[later] = after[changed]
    return offsets


def _offset_ms(at_ms: int, zone: zoneinfo.ZoneInfo) -> int:
    offset = datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(zone).utcoffset()
    return int(offset.total_seconds() * 1000) if offset is not None else 0


def _change_ms(hour_ms: int, zone: zoneinfo.ZoneInfo) -> int:
    """The first second of the hour starting at `hour_ms` with the offset the hour ends with."""
    first = _offset_ms(hour_ms, zone)
    low, high = hour_ms // 1000, hour_ms // 1000 + 3600  # low has the first offset, high the other
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if _offset_ms(middle * 1000, zone) == first else (low, middle)
    return high * 1000


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
    fixed: Ints = local_start[firsts] - _offsets_ms(starts, zone)
    result: Ints = fixed[inverse.reshape(-1)]
    return result


def window_starts(start_ms: int, end_ms: int, zone: zoneinfo.ZoneInfo, minutes: int) -> Ints:
    """The start of every bucket from the one holding `start_ms` to the one holding `end_ms`, in order.

    Buckets begin at a local multiple of `minutes` from midnight (or of days), and zones' offsets are whole
    quarter hours, so every bucket begins on a multiple of gcd(minutes, 15) minutes of UTC and lasts at least
    that long: a time on each such multiple meets them all."""
    step = math.gcd(minutes, 15) * MINUTE_MS
    grid = np.r_[np.int64(start_ms), np.arange((start_ms // step + 1) * step, end_ms + 1, step, dtype=np.int64)]
    found: Ints = np.unique(bucket_starts(grid, zone, minutes))
    return found
