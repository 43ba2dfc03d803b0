"""Popularity priors for a catalog build, from the server's aggregated estimates.

Accepted inputs:

* JSON: ``{"estimates": {"<item id>": 123.4, ...}}``, where a value may also
  be an object with an ``"estimate"`` field (the form ``discreet publish
  estimates --json`` prints, with standard errors alongside);
* CSV with a header ``id,estimate``.

Estimates from local differential privacy can be negative; they are clipped
to zero. Items without an estimate get zero. The prior stored in the catalog
is a float32 share per item that sums to one; with no input it is uniform.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from discreet.catalog import _csv, _json
from discreet.errors import PopularityInvalidError
from discreet.i18n import _


def uniform_prior(n_items: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """A prior that gives every item the same share."""
    return np.full(n_items, 1.0 / n_items, dtype=np.float32)


def load_estimates(path: str | Path) -> dict[str, float]:
    """Read item estimates from a JSON or CSV file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # with or without a byte order mark
    except (OSError, UnicodeDecodeError) as exc:
        raise PopularityInvalidError(
            _("{path}: cannot read popularity ({exc}); check the file").format(path=path, exc=exc)
        ) from None
    if path.suffix.lower() == ".csv":
        return _from_csv(text, str(path))
    try:
        data = _json.loads(text)
    except json.JSONDecodeError as exc:
        raise PopularityInvalidError(
            _("{path}:{lineno}: invalid JSON: {msg}").format(
                path=path, lineno=exc.lineno, msg=exc.msg
            )
        ) from None
    if not isinstance(data, Mapping) or not isinstance(data.get("estimates"), Mapping):
        raise PopularityInvalidError(
            _("{path}: expected an object with an 'estimates' map").format(path=path)
        )
    out: dict[str, float] = {}
    for item_id, value in data["estimates"].items():
        if isinstance(value, Mapping):
            value = value.get("estimate")
        out[item_id] = _number(
            value, _("{path}: estimate for {item_id!r}").format(path=path, item_id=item_id)
        )
    return out


def _from_csv(text: str, source: str) -> dict[str, float]:
    reader = _csv.reader(text)
    if reader.fieldnames is None or not {"id", "estimate"} <= set(reader.fieldnames):
        raise PopularityInvalidError(
            _("{source}:1: the header must have 'id' and 'estimate'").format(source=source)
        )
    out: dict[str, float] = {}
    for row in reader:
        out[row["id"]] = _number(
            _csv.decimal(row["estimate"], reader.reader.dialect.delimiter),
            _("{source}:{line_num}: field 'estimate'").format(
                source=source, line_num=reader.line_num
            ),
        )
    return out


def _number(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PopularityInvalidError(_("{where} is not a number").format(where=where)) from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise PopularityInvalidError(_("{where} is not a finite number").format(where=where))
    return number


def prior_from_estimates(
    item_ids: Iterable[str], estimates: Mapping[str, float], count: int = -1
) -> tuple[np.ndarray[Any, np.dtype[np.float32]], int]:
    """Shares aligned with ``item_ids`` (unique, read once: ``count`` of them, when
    known, spares numpy a copy), and how many estimates named unknown items."""
    known = 0

    def shares() -> Iterator[float]:
        nonlocal known
        for item_id in item_ids:
            value = estimates.get(item_id)
            if value is None:
                yield 0.0
            else:
                known += 1
                yield max(value, 0.0)

    counts = np.fromiter(shares(), dtype=np.float64, count=count)
    unknown = len(estimates) - known
    total = counts.sum()
    if total <= 0:
        return uniform_prior(len(counts)), unknown
    return (counts / total).astype(np.float32), unknown


def upper_quantile(values: np.ndarray[Any, Any], q: float) -> Any:
    """The least value ``v`` with ``(values >= v) == (values >= np.quantile(values, q))``.

    ``np.quantile`` interpolates between two neighbouring order statistics, and
    no value lies strictly between them: comparing with the upper one selects
    the same items. Two order statistics by partition cost a pass, and avoid
    the masked-array import (about 0.1 s) that ``np.quantile`` makes on first use.
    """
    n = len(values)
    # numpy's "linear" virtual index, computed as numpy computes it.
    virtual = n * q + (1.0 + q * (1.0 - 1.0 - 1.0)) - 1.0
    below = min(max(int(np.floor(virtual)), 0), n - 1)
    above = min(below + 1, n - 1)
    ordered = np.partition(values, [below, above])
    return ordered[below] if virtual - below <= 0 else ordered[above]
