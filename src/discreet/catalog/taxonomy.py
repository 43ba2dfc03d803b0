"""The category taxonomy: ids, labels, parents and which topics are sensitive.

A taxonomy file is JSON or TOML with a list of categories::

    {"format_version": 1,
     "categories": [
        {"id": "fiction", "label": "Fiction"},
        {"id": "health", "label": "Health & wellbeing", "sensitive": true},
        {"id": "mental-health", "label": "Mental health", "parent": "health"}]}

A category is sensitive if it, or any ancestor, says ``sensitive: true``.
Sensitive topics are never profiled without an explicit opt-in and never reported.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discreet.catalog import _json
from discreet.catalog.text import control_problem
from discreet.errors import TaxonomyInvalidError, UnsupportedFormatError

TAXONOMY_FORMAT_VERSION = 1
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_FIELDS = {"id", "label", "parent", "sensitive", "description"}


@dataclass(frozen=True)
class Category:
    """One category of the taxonomy."""

    id: str
    label: str
    parent: str | None = None
    sensitive: bool = False
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        """The category as a JSON object."""
        out: dict[str, Any] = {"id": self.id, "label": self.label, "sensitive": self.sensitive}
        if self.parent is not None:
            out["parent"] = self.parent
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Taxonomy:
    """An ordered, validated set of categories.

    >>> t = Taxonomy.from_json({"categories": [{"id": "a", "label": "A"}]})
    >>> t["a"].label
    'A'
    """

    categories: tuple[Category, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {c.id: c for c in self.categories})

    def __getitem__(self, category_id: str) -> Category:
        by_id: dict[str, Category] = self._by_id  # type: ignore[attr-defined]
        return by_id[category_id]

    def __contains__(self, category_id: object) -> bool:
        return category_id in self._by_id  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def ids(self) -> tuple[str, ...]:
        """Category ids in file order."""
        return tuple(c.id for c in self.categories)

    def ancestors(self, category_id: str) -> tuple[str, ...]:
        """The chain of parents of ``category_id``, nearest first."""
        chain: list[str] = []
        parent = self[category_id].parent
        while parent is not None:
            chain.append(parent)
            parent = self[parent].parent
        return tuple(chain)

    def is_sensitive(self, category_id: str) -> bool:
        """Whether the category or any of its ancestors is sensitive."""
        return any(self[c].sensitive for c in (category_id, *self.ancestors(category_id)))

    @property
    def sensitive_ids(self) -> frozenset[str]:
        """Every category that is sensitive, directly or through an ancestor."""
        return frozenset(c.id for c in self.categories if self.is_sensitive(c.id))

    @property
    def reportable_ids(self) -> tuple[str, ...]:
        """The categories a private report may name: every one that is not sensitive."""
        sensitive = self.sensitive_ids
        return tuple(c for c in self.ids if c not in sensitive)

    def to_json(self) -> dict[str, Any]:
        """The taxonomy in its versioned JSON form."""
        return {
            "format_version": TAXONOMY_FORMAT_VERSION,
            "categories": [c.to_json() for c in self.categories],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str = "taxonomy") -> Taxonomy:
        """Validate a parsed taxonomy document; raise :class:`TaxonomyInvalidError`."""
        if not isinstance(data, Mapping):
            raise TaxonomyInvalidError(f"{source}: expected an object with a 'categories' list")
        version = data.get("format_version", TAXONOMY_FORMAT_VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise TaxonomyInvalidError(f"{source}: field 'format_version' must be an integer")
        if version > TAXONOMY_FORMAT_VERSION:
            raise UnsupportedFormatError(
                f"{source}: taxonomy format {version} is newer than this discreet reads "
                f"({TAXONOMY_FORMAT_VERSION}); upgrade discreet"
            )
        unknown = set(data) - {"format_version", "categories"}
        if unknown:
            raise TaxonomyInvalidError(f"{source}: unknown field {sorted(unknown)[0]!r}")
        raw = data.get("categories")
        if not isinstance(raw, list) or not raw:
            raise TaxonomyInvalidError(f"{source}: 'categories' must be a non-empty list")
        return cls(tuple(_validate_categories(raw, source)))


def _validate_categories(raw: Iterable[Any], source: str) -> list[Category]:
    problems: list[str] = []
    categories: list[Category] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw, start=1):
        where = f"{source}: category #{index}"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: expected an object")
            continue
        cid = entry.get("id")
        if isinstance(cid, str):
            where = f"{where} ({cid!r})"
        for key in sorted(set(entry) - _FIELDS):
            problems.append(f"{where}: unknown field {key!r}")
        if not isinstance(cid, str) or not _ID_PATTERN.match(cid):
            problems.append(
                f"{where}: field 'id' must be 1-64 lowercase letters, digits, '-', '_' or '.'"
            )
            continue
        if cid in seen:
            problems.append(f"{where}: field 'id': duplicate id {cid!r}")
            continue
        seen.add(cid)
        label = entry.get("label")
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{where}: field 'label' is missing or empty")
            continue
        if (problem := control_problem(label.strip())) is not None:
            problems.append(f"{where}: field 'label' {problem}")
            continue
        parent = entry.get("parent")
        if parent is not None and not isinstance(parent, str):
            problems.append(f"{where}: field 'parent' must be a category id")
            continue
        sensitive = entry.get("sensitive", False)
        if not isinstance(sensitive, bool):
            problems.append(f"{where}: field 'sensitive' must be true or false")
            continue
        description = entry.get("description", "")
        if not isinstance(description, str):
            problems.append(f"{where}: field 'description' must be text")
            continue
        if (problem := control_problem(description, multiline=True)) is not None:
            problems.append(f"{where}: field 'description' {problem}")
            continue
        categories.append(Category(cid, label.strip(), parent, sensitive, description))
    by_id = {c.id: c for c in categories}
    for c in categories:
        if c.parent is not None and c.parent not in by_id:
            problems.append(f"{source}: category {c.id!r}: field 'parent': unknown {c.parent!r}")
    if not problems:
        problems.extend(_cycles(by_id, source))
    if problems:
        raise TaxonomyInvalidError(_summary(problems), tuple(problems))
    return categories


def _cycles(by_id: Mapping[str, Category], source: str) -> list[str]:
    problems = []
    for start in by_id:
        seen = {start}
        parent = by_id[start].parent
        while parent is not None:
            if parent in seen:
                problems.append(f"{source}: category {start!r}: field 'parent' forms a cycle")
                break
            seen.add(parent)
            parent = by_id[parent].parent
    return problems


def _summary(problems: list[str]) -> str:
    more = f" (+{len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}; fix the taxonomy file and build again"


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Read and validate a taxonomy file (``.json`` or ``.toml``).

    >>> load_taxonomy("taxonomy.toml")  # doctest: +SKIP
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TaxonomyInvalidError(
            f"{path}: cannot read the taxonomy ({exc.strerror}); check the path"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TaxonomyInvalidError(
            f"{path}:{line}: invalid UTF-8; save the file as UTF-8"
        ) from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        else:
            data = _json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyInvalidError(f"{path}: invalid TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise TaxonomyInvalidError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    return Taxonomy.from_json(data, source=str(path))
