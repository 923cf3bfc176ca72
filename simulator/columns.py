"""Row selection for the simulator's per-event results: dataclasses of NumPy arrays, one entry per row."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields, replace
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

C = TypeVar("C")


def rows_where(columns: C, keep: npt.NDArray[np.bool_], per_row: Collection[str] | None = None) -> C:
    """`columns` with only the rows in `keep`; with `per_row`, the other fields (per tier, per event) stay whole."""
    chosen: dict[str, Any] = {
        f.name: getattr(columns, f.name)[keep]
        for f in fields(columns)  # type: ignore[arg-type]
        if per_row is None or f.name in per_row
    }
    return replace(columns, **chosen)  # type: ignore[type-var]
