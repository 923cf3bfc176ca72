"""Social activity: posts, mentions, shares, likes and comments per day, by the genre's platforms, scaled by
the artist's popularity and multiplied by viral bursts (which lead sales: see demand.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.catalog import Event
from simulator.sales import DAY_MS

Ints = npt.NDArray[np.int64]
PLATFORMS = ("x", "instagram", "tiktok", "facebook", "youtube", "reddit", "other")
KINDS = ("post", "mention", "share", "like", "comment")
KIND_WEIGHTS = np.array([0.22, 0.2, 0.18, 0.28, 0.12])


@dataclass(frozen=True)
class EventSocial:
    posted_ms: Ints
    platform: npt.NDArray[np.int8]
    kind: npt.NDArray[np.int8]
    reach: Ints
    engagement: Ints
    sentiment: npt.NDArray[np.float32]
    followers: Ints


def social(
    event: Event, first_day_ms: int, burst: npt.NDArray[np.float64], *, rng: np.random.Generator, now_ms: int
) -> EventSocial:
    """Activity from `first_day_ms` (some days before the on-sale), one entry of `burst` per day, until two
    days after the show (or `now_ms`)."""
    after_show = np.full(2, 0.0)
    level = np.concatenate([burst, after_show])
    rate = event.genre.social_intensity * event.popularity**0.8 * (1 + level)
    counts = rng.poisson(rate)
    day = np.repeat(np.arange(len(counts)), counts)
    posted = first_day_ms + day * DAY_MS + rng.integers(0, DAY_MS, len(day))
    names = list(event.genre.platforms)
    weights = np.array(list(event.genre.platforms.values()))
    platform = np.array([PLATFORMS.index(n) for n in names], dtype=np.int8)[
        rng.choice(len(names), size=len(day), p=weights / weights.sum())
    ]
    followers = rng.lognormal(6.5, 1.6, len(day)).astype(np.int64)
    reach = (followers * rng.uniform(0.05, 0.6, len(day)) * (1 + level[day] / 4)).astype(np.int64)
    engagement = (reach * rng.beta(2, 30, len(day))).astype(np.int64)
    sentiment = np.clip(rng.normal(0.25 + 0.04 * np.minimum(level[day], 5), 0.35), -1, 1).astype(np.float32)
    kind = rng.choice(len(KINDS), size=len(day), p=KIND_WEIGHTS).astype(np.int8)
    order = np.argsort(posted, kind="stable")
    seen = posted[order] <= now_ms
    rows = order[seen]
    return EventSocial(posted[rows], platform[rows], kind[rows], reach[rows], engagement[rows], sentiment[rows],
                       followers[rows])  # fmt: skip
