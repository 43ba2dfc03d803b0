"""The category taxonomy: ids, labels, parents and which topics are sensitive.

A taxonomy file is JSON or TOML with a list of categories::

    {"format_version": 1,
     "categories": [
        {"id": "fiction", "label": "Fiction"},
        {"id": "health", "label": "Health & wellbeing", "sensitive": true},
        {"id": "mental-health", "label": "Mental health", "parent": "health"},
        {"id": "crime", "label": {"en": "Crime", "es": "Novela negra"}}]}

A label is one text, or one per language (``{"en": ..., "es": ...}``), shown in
the user's language with a fallback (:func:`discreet.i18n.pick`).

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
from discreet.catalog.text import control_problem, per_language_problem
from discreet.errors import TaxonomyInvalidError, UnsupportedFormatError
from discreet.i18n import DEFAULT, _, pick

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
    #: The label per language, as (tag, text) pairs, when the taxonomy gives more than one.
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def shown_label(self) -> str:
        """The label in the language in use (else English, else the first given)."""
        return pick(dict(self.labels)) if self.labels else self.label

    def to_json(self) -> dict[str, Any]:
        """The category as a JSON object."""
        label: str | dict[str, str] = dict(self.labels) if self.labels else self.label
        out: dict[str, Any] = {"id": self.id, "label": label, "sensitive": self.sensitive}
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
            raise TaxonomyInvalidError(
                _("{source}: expected an object with a 'categories' list").format(source=source)
            )
        version = data.get("format_version", TAXONOMY_FORMAT_VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise TaxonomyInvalidError(
                _("{source}: field 'format_version' must be an integer").format(source=source)
            )
        if version > TAXONOMY_FORMAT_VERSION:
            raise UnsupportedFormatError(
                _(
                    "{source}: taxonomy format {version} is newer than this "
                    "discreet reads ({TAXONOMY_FORMAT_VERSION}); upgrade discreet"
                ).format(
                    source=source, version=version, TAXONOMY_FORMAT_VERSION=TAXONOMY_FORMAT_VERSION
                )
            )
        unknown = set(data) - {"format_version", "categories"}
        if unknown:
            raise TaxonomyInvalidError(
                _("{source}: unknown field {value!r}").format(
                    source=source, value=sorted(unknown)[0]
                )
            )
        raw = data.get("categories")
        if not isinstance(raw, list) or not raw:
            raise TaxonomyInvalidError(
                _("{source}: 'categories' must be a non-empty list").format(source=source)
            )
        return cls(tuple(_validate_categories(raw, source)))


def _validate_categories(raw: Iterable[Any], source: str) -> list[Category]:
    problems: list[str] = []
    categories: list[Category] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw, start=1):
        where = _("{source}: category #{index}").format(source=source, index=index)
        if not isinstance(entry, Mapping):
            problems.append(_("{where}: expected an object").format(where=where))
            continue
        cid = entry.get("id")
        if isinstance(cid, str):
            where = f"{where} ({cid!r})"
        for key in sorted(set(entry) - _FIELDS):
            problems.append(_("{where}: unknown field {key!r}").format(where=where, key=key))
        if not isinstance(cid, str) or not _ID_PATTERN.match(cid):
            problems.append(
                _(
                    "{where}: field 'id' must be 1-64 lowercase letters, digits, '-', '_' or '.'"
                ).format(where=where)
            )
            continue
        if cid in seen:
            problems.append(
                _("{where}: field 'id': duplicate id {cid!r}").format(where=where, cid=cid)
            )
            continue
        seen.add(cid)
        label = entry.get("label")
        given: dict[Any, Any] = dict(label) if isinstance(label, Mapping) else {"": label}
        if isinstance(label, Mapping) and (problem := per_language_problem(given)) is not None:
            problems.append(
                _("{where}: field 'label' {problem}").format(where=where, problem=problem)
            )
            continue
        if not all(isinstance(text, str) and text.strip() for text in given.values()):
            problems.append(_("{where}: field 'label' is missing or empty").format(where=where))
            continue
        labels: dict[str, str] = {tag: text.strip() for tag, text in given.items()}
        if (problem := _first(control_problem(text) for text in labels.values())) is not None:
            problems.append(
                _("{where}: field 'label' {problem}").format(where=where, problem=problem)
            )
            continue
        parent = entry.get("parent")
        if parent is not None and not isinstance(parent, str):
            problems.append(_("{where}: field 'parent' must be a category id").format(where=where))
            continue
        sensitive = entry.get("sensitive", False)
        if not isinstance(sensitive, bool):
            problems.append(
                _("{where}: field 'sensitive' must be true or false").format(where=where)
            )
            continue
        description = entry.get("description", "")
        if not isinstance(description, str):
            problems.append(_("{where}: field 'description' must be text").format(where=where))
            continue
        if (problem := control_problem(description, multiline=True)) is not None:
            problems.append(
                _("{where}: field 'description' {problem}").format(where=where, problem=problem)
            )
            continue
        per_language = tuple(labels.items()) if isinstance(label, Mapping) else ()
        default = pick(labels, DEFAULT) if per_language else labels[""]
        categories.append(Category(cid, default, parent, sensitive, description, per_language))
    by_id = {c.id: c for c in categories}
    for c in categories:
        if c.parent is not None and c.parent not in by_id:
            problems.append(
                _("{source}: category {id!r}: field 'parent': unknown {parent!r}").format(
                    source=source, id=c.id, parent=c.parent
                )
            )
    if not problems:
        problems.extend(_cycles(by_id, source))
    if problems:
        raise TaxonomyInvalidError(_summary(problems), tuple(problems))
    return categories


def _first(problems: Iterable[str | None]) -> str | None:
    return next((p for p in problems if p is not None), None)


def _cycles(by_id: Mapping[str, Category], source: str) -> list[str]:
    problems = []
    for start in by_id:
        seen = {start}
        parent = by_id[start].parent
        while parent is not None:
            if parent in seen:
                problems.append(
                    _("{source}: category {start!r}: field 'parent' forms a cycle").format(
                        source=source, start=start
                    )
                )
                break
            seen.add(parent)
            parent = by_id[parent].parent
    return problems


def _summary(problems: list[str]) -> str:
    more = (
        _(" (+{value} more problems)").format(value=len(problems) - 1) if len(problems) > 1 else ""
    )
    return _("{value}{more}; fix the taxonomy file and build again").format(
        value=problems[0], more=more
    )


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Read and validate a taxonomy file (``.json`` or ``.toml``).

    >>> load_taxonomy("taxonomy.toml")  # doctest: +SKIP
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TaxonomyInvalidError(
            _("{path}: cannot read the taxonomy ({strerror}); check the path").format(
                path=path, strerror=exc.strerror
            )
        ) from None
    try:
        text = raw.decode("utf-8-sig")  # with or without a byte order mark
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TaxonomyInvalidError(
            _("{path}:{line}: invalid UTF-8; save the file as UTF-8").format(path=path, line=line)
        ) from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        else:
            data = _json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyInvalidError(
            _("{path}: invalid TOML: {exc}").format(path=path, exc=exc)
        ) from None
    except json.JSONDecodeError as exc:
        raise TaxonomyInvalidError(
            _("{path}:{lineno}: invalid JSON: {msg}").format(
                path=path, lineno=exc.lineno, msg=exc.msg
            )
        ) from None
    return Taxonomy.from_json(data, source=str(path))
