"""Who buys: most buyers live in the venue's city, some travel (weighted by population and distance decay);
ages and genders follow the genre; a share of sales go to earlier buyers of the same genre in the same city
(repeat customers, so cohorts form)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.params import Genre, MarketParams
from simulator.places import CITIES, distances_km

Ints = npt.NDArray[np.int64]
GENDERS = ("female", "male", "nonbinary")


@dataclass
class Customers:
    """Every customer so far, as growing columns; pools of customer numbers by (city, genre)."""

    params: MarketParams
    birth_year: list[Ints] = field(default_factory=list)
    gender: list[npt.NDArray[np.int8]] = field(default_factory=list)
    city: list[Ints] = field(default_factory=list)
    lat: list[npt.NDArray[np.float64]] = field(default_factory=list)
    lon: list[npt.NDArray[np.float64]] = field(default_factory=list)
    postal: list[Ints] = field(default_factory=list)
    count: int = 0
    pools: dict[tuple[int, str], list[Ints]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        distances = distances_km(CITIES)
        population = np.array([c.population for c in CITIES], dtype=np.float64)
        weights = population[None, :] * np.exp(-distances / self.params.travel_scale_km)
        np.fill_diagonal(weights, 0)
        self._travel = weights / weights.sum(axis=1, keepdims=True)

    def buyers(self, count: int, city: int, genre: Genre, *, year: int, rng: np.random.Generator) -> Ints:
        """Customer numbers for `count` sales of an event of `genre` in `city` in `year`."""
        home = np.where(
            rng.random(count) < self.params.travel_share,
            rng.choice(len(CITIES), size=count, p=self._travel[city]),
            city,
        )
        result = np.empty(count, dtype=np.int64)
        for place in np.unique(home):
            rows = np.flatnonzero(home == place)
            pool = self.pools.setdefault((int(place), genre.name), [])
            known = np.concatenate(pool) if pool else np.zeros(0, dtype=np.int64)
            pool[:] = [known]  # one array from now on: the next event's concatenation copies less
            again = rng.random(len(rows)) < self.params.repeat_rate if len(known) else np.zeros(len(rows), bool)
            result[rows[again]] = known[rng.integers(0, len(known), int(again.sum()))] if len(known) else []
            fresh = rows[~again]
            numbers = self._new(len(fresh), int(place), genre, year=year, rng=rng)
            result[fresh] = numbers
            pool.append(numbers)
        return result

    def _new(self, count: int, city: int, genre: Genre, *, year: int, rng: np.random.Generator) -> Ints:
        ages = np.clip(rng.normal(genre.age_mean, genre.age_sd, count), 16, 85)
        self.birth_year.append((year - ages).astype(np.int64))
        roll = rng.random(count)
        nonbinary = self.params.nonbinary_share
        self.gender.append(
            np.where(roll < nonbinary, 2, np.where(roll < nonbinary + genre.female_share, 0, 1)).astype(np.int8)
        )
        self.city.append(np.full(count, city, dtype=np.int64))
        place = CITIES[city]
        self.lat.append(np.round(place.lat + rng.normal(0, 0.08, count), 4))
        self.lon.append(np.round(place.lon + rng.normal(0, 0.08, count), 4))
        self.postal.append(rng.integers(0, 1000, count))
        numbers = np.arange(self.count, self.count + count, dtype=np.int64)
        self.count += count
        return numbers

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        def joined(parts: Sequence[npt.NDArray[Any]], dtype: type) -> npt.NDArray[Any]:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        return {
            "birth_year": joined(self.birth_year, np.int64),
            "gender": joined(self.gender, np.int8),
            "city": joined(self.city, np.int64),
            "lat": joined(self.lat, np.float64),
            "lon": joined(self.lon, np.float64),
            "postal": joined(self.postal, np.int64),
        }
