"""Datasets in the evaluation format, and the MovieLens converter.

The evaluation format is the publisher's ``items.csv`` plus ``interactions.csv``
(``user_id,item_id,timestamp[,rating]``); a ``taxonomy.json`` beside them is
optional (without one, every category found is a plain, non-sensitive one).
Any dataset converted to this form can be evaluated; none is special-cased.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from discreet.catalog import _csv
from discreet.catalog.items import Item, read_items
from discreet.catalog.taxonomy import Taxonomy, load_taxonomy
from discreet.errors import InputError
from discreet.i18n import _

IntArray = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class Dataset:
    """Items and interactions, with users and items as dense indices."""

    items: list[Item]
    taxonomy: Taxonomy
    users: IntArray  # interaction -> user index
    rows: IntArray  # interaction -> item row
    timestamps: IntArray  # interaction -> Unix seconds
    user_ids: list[str]

    @property
    def n_items(self) -> int:
        """Catalog size."""
        return len(self.items)

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.user_ids)


def _taxonomy_from_items(path: Path) -> Taxonomy:
    rows = _csv.reader(path.read_text(encoding="utf-8"))
    found = sorted({c for row in rows for c in (row.get("categories") or "").split("|") if c})
    return Taxonomy.from_json({"categories": [{"id": c, "label": c} for c in found]})


def load_dataset(items_path: str | Path, interactions_path: str | Path) -> Dataset:
    """Read a dataset in the evaluation format; raise :class:`InputError` if malformed."""
    items_path, interactions_path = Path(items_path), Path(interactions_path)
    taxonomy_path = items_path.with_name("taxonomy.json")
    taxonomy = (
        load_taxonomy(taxonomy_path) if taxonomy_path.exists() else _taxonomy_from_items(items_path)
    )
    items = read_items(items_path, taxonomy)
    row_of = {item.id: row for row, item in enumerate(items)}
    user_index: dict[str, int] = {}
    users, rows, stamps = [], [], []
    try:
        reader = _csv.reader(interactions_path.read_text(encoding="utf-8"))
        missing = {"user_id", "item_id", "timestamp"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(
                _(
                    "{interactions_path}:1: missing field {value!r}; the header "
                    "is user_id,item_id,timestamp[,rating]"
                ).format(interactions_path=interactions_path, value=sorted(missing)[0])
            )
        for line, record in enumerate(reader, start=2):
            row = row_of.get(record["item_id"])
            if row is None:
                raise InputError(
                    _("{interactions_path}:{line}: field 'item_id': not in {name}").format(
                        interactions_path=interactions_path, line=line, name=items_path.name
                    )
                )
            users.append(user_index.setdefault(record["user_id"], len(user_index)))
            rows.append(row)
            stamps.append(int(float(record["timestamp"])))
    except (OSError, ValueError) as exc:
        raise InputError(
            _("{interactions_path}: cannot read interactions ({exc})").format(
                interactions_path=interactions_path, exc=exc
            )
        ) from None
    return Dataset(
        items,
        taxonomy,
        np.asarray(users, dtype=np.int64),
        np.asarray(rows, dtype=np.int64),
        np.asarray(stamps, dtype=np.int64),
        list(user_index),
    )


def _slug(genre: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", genre.lower()).strip("-") or "none"


def convert_movielens(source: str | Path, out: str | Path) -> tuple[Path, Path]:
    """Convert MovieLens (latest-small layout) to the evaluation format in ``out``.

    Item text is the title, the genres and the movie's tags; categories are
    the genres. Returns the paths of ``items.csv`` and ``interactions.csv``.
    The converted files stay wherever ``out`` is: the data's terms allow
    research use only, so keep them out of any repository.
    """
    source, out = Path(source), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tags: dict[str, list[str]] = defaultdict(list)
    with (source / "tags.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            tag = row["tag"].strip()
            if tag and tag.lower() not in (t.lower() for t in tags[row["movieId"]]):
                tags[row["movieId"]].append(tag)
    genres_seen: dict[str, str] = {}
    items_path = out / "items.csv"
    with (
        (source / "movies.csv").open(encoding="utf-8", newline="") as f,
        items_path.open("w", encoding="utf-8", newline="") as dst,
    ):
        writer = csv.writer(dst)
        writer.writerow(["id", "title", "text", "categories"])
        for row in csv.DictReader(f):
            genres = [g for g in row["genres"].split("|") if g and g != "(no genres listed)"]
            for g in genres:
                genres_seen[_slug(g)] = g
            text = " ".join([*genres, *tags.get(row["movieId"], [])])
            writer.writerow(
                [row["movieId"], row["title"], text, "|".join(_slug(g) for g in genres)]
            )
    taxonomy = {
        "format_version": 1,
        "categories": [{"id": k, "label": v} for k, v in sorted(genres_seen.items())],
    }
    (out / "taxonomy.json").write_text(json.dumps(taxonomy, indent=1), encoding="utf-8")
    interactions_path = out / "interactions.csv"
    with (
        (source / "ratings.csv").open(encoding="utf-8", newline="") as f,
        interactions_path.open("w", encoding="utf-8", newline="") as dst,
    ):
        writer = csv.writer(dst)
        writer.writerow(["user_id", "item_id", "timestamp", "rating"])
        for row in csv.DictReader(f):
            writer.writerow([row["userId"], row["movieId"], row["timestamp"], row["rating"]])
    return items_path, interactions_path
