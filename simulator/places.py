"""Real cities the market plays in: region, country, coordinates, metro population, time zone, currency and
price level (1.0 = the typical ticket price)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class City:
    name: str
    region: str
    country: str
    lat: float
    lon: float
    population: int
    timezone: str
    currency: str
    price_level: float
    postal_prefix: str


CITIES: tuple[City, ...] = (
    City("Berlin", "Berlin", "DE", 52.520, 13.405, 3_700_000, "Europe/Berlin", "EUR", 1.0, "10"),
    City("Hamburg", "Hamburg", "DE", 53.551, 9.994, 1_900_000, "Europe/Berlin", "EUR", 1.0, "20"),
    City("Munich", "Bavaria", "DE", 48.135, 11.582, 1_500_000, "Europe/Berlin", "EUR", 1.1, "80"),
    City("Cologne", "North Rhine-Westphalia", "DE", 50.938, 6.960, 1_100_000, "Europe/Berlin", "EUR", 1.0, "50"),
    City("Frankfurt", "Hesse", "DE", 50.110, 8.682, 760_000, "Europe/Berlin", "EUR", 1.05, "60"),
    City("Leipzig", "Saxony", "DE", 51.340, 12.375, 600_000, "Europe/Berlin", "EUR", 0.85, "04"),
    City("Vienna", "Vienna", "AT", 48.208, 16.373, 1_900_000, "Europe/Vienna", "EUR", 1.0, "10"),
    City("Zurich", "Zurich", "CH", 47.377, 8.541, 420_000, "Europe/Zurich", "CHF", 1.5, "80"),
    City("Amsterdam", "North Holland", "NL", 52.368, 4.904, 900_000, "Europe/Amsterdam", "EUR", 1.1, "10"),
    City("Rotterdam", "South Holland", "NL", 51.924, 4.478, 650_000, "Europe/Amsterdam", "EUR", 0.95, "30"),
    City("Brussels", "Brussels", "BE", 50.850, 4.352, 1_200_000, "Europe/Brussels", "EUR", 1.0, "10"),
    City("Paris", "Ile-de-France", "FR", 48.857, 2.352, 11_000_000, "Europe/Paris", "EUR", 1.15, "75"),
    City("Lyon", "Auvergne-Rhone-Alpes", "FR", 45.764, 4.836, 1_700_000, "Europe/Paris", "EUR", 0.95, "69"),
    City("Marseille", "Provence-Alpes-Cote d'Azur", "FR", 43.296, 5.370, 1_600_000, "Europe/Paris", "EUR", 0.9, "13"),
    City("London", "England", "GB", 51.507, -0.128, 9_500_000, "Europe/London", "GBP", 1.2, "EC"),
    City("Manchester", "England", "GB", 53.481, -2.243, 2_800_000, "Europe/London", "GBP", 1.0, "M1"),
    City("Glasgow", "Scotland", "GB", 55.864, -4.252, 1_000_000, "Europe/London", "GBP", 0.95, "G1"),
    City("Dublin", "Leinster", "IE", 53.350, -6.260, 1_400_000, "Europe/Dublin", "EUR", 1.1, "D0"),
    City("Madrid", "Community of Madrid", "ES", 40.417, -3.704, 6_700_000, "Europe/Madrid", "EUR", 0.9, "28"),
    City("Barcelona", "Catalonia", "ES", 41.385, 2.173, 5_600_000, "Europe/Madrid", "EUR", 0.95, "08"),
    City("Milan", "Lombardy", "IT", 45.464, 9.190, 3_200_000, "Europe/Rome", "EUR", 1.0, "20"),
    City("Rome", "Lazio", "IT", 41.903, 12.496, 4_300_000, "Europe/Rome", "EUR", 0.95, "00"),
    City("Copenhagen", "Capital Region", "DK", 55.676, 12.568, 1_400_000, "Europe/Copenhagen", "DKK", 1.2, "10"),
    City("Stockholm", "Stockholm", "SE", 59.329, 18.069, 1_600_000, "Europe/Stockholm", "SEK", 1.1, "11"),
    City("Oslo", "Oslo", "NO", 59.914, 10.752, 1_000_000, "Europe/Oslo", "NOK", 1.3, "01"),
    City("Warsaw", "Masovia", "PL", 52.230, 21.012, 1_800_000, "Europe/Warsaw", "PLN", 0.7, "00"),
    City("Prague", "Prague", "CZ", 50.076, 14.438, 1_300_000, "Europe/Prague", "CZK", 0.75, "11"),
    City("New York", "New York", "US", 40.713, -74.006, 19_500_000, "America/New_York", "USD", 1.3, "10"),
    City("Boston", "Massachusetts", "US", 42.360, -71.059, 4_900_000, "America/New_York", "USD", 1.2, "02"),
    City("Chicago", "Illinois", "US", 41.878, -87.630, 9_400_000, "America/Chicago", "USD", 1.1, "60"),
    City("Austin", "Texas", "US", 30.267, -97.743, 2_300_000, "America/Chicago", "USD", 1.0, "78"),
    City("Denver", "Colorado", "US", 39.739, -104.990, 2_900_000, "America/Denver", "USD", 1.0, "80"),
    City("Los Angeles", "California", "US", 34.052, -118.244, 13_000_000, "America/Los_Angeles", "USD", 1.25, "90"),
    City("Seattle", "Washington", "US", 47.606, -122.332, 4_000_000, "America/Los_Angeles", "USD", 1.15, "98"),
    City("Toronto", "Ontario", "CA", 43.653, -79.383, 6_200_000, "America/Toronto", "CAD", 1.1, "M5"),
    City("Montreal", "Quebec", "CA", 45.502, -73.567, 4_300_000, "America/Toronto", "CAD", 1.0, "H2"),
    City("Vancouver", "British Columbia", "CA", 49.283, -123.121, 2_600_000, "America/Vancouver", "CAD", 1.1, "V6"),
    City("Sydney", "New South Wales", "AU", -33.869, 151.209, 5_300_000, "Australia/Sydney", "AUD", 1.2, "20"),
    City("Melbourne", "Victoria", "AU", -37.814, 144.963, 5_100_000, "Australia/Melbourne", "AUD", 1.15, "30"),
)

# Venue kinds: capacity range (inclusive).
VENUE_KINDS: tuple[tuple[str, int, int], ...] = (
    ("Club", 400, 1_500),
    ("Hall", 1_500, 5_000),
    ("Theatre", 800, 3_000),
    ("Arena", 8_000, 20_000),
    ("Stadium", 30_000, 60_000),
)
VENUE_KIND_WEIGHTS = (0.17, 0.22, 0.15, 0.32, 0.14)


def distances_km(cities: tuple[City, ...] | list[City]) -> npt.NDArray[np.float64]:
    """Great-circle distances between every pair of `cities`."""
    lat = np.radians([c.lat for c in cities])
    lon = np.radians([c.lon for c in cities])
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    result: npt.NDArray[np.float64] = 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    return result


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))
