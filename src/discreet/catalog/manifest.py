"""The catalog manifest: what a catalog version holds, and the notices it carries.

The manifest is a signed TUF target like every catalog file. Clients parse it
strictly, because even signed content is treated as potentially hostile: a
malformed or oversized manifest is rejected with :class:`CatalogInvalidError`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discreet.catalog import _json
from discreet.catalog.text import control_problem, per_language_problem
from discreet.errors import CatalogInvalidError, NoticesInvalidError, UnsupportedFormatError
from discreet.i18n import _
from discreet.protocol.params import ReportingParams

if TYPE_CHECKING:
    from discreet.secagg.mode import SecureAggregation

MANIFEST_FORMAT = "discreet-catalog"
MANIFEST_FORMAT_VERSION = 1
#: The files every catalog version has, as TUF target names under ``catalog/``.
CATALOG_FILES = (
    "manifest.json",
    "items.jsonl",
    "embeddings.npy",
    "popularity.npy",
    "taxonomy.json",
)
#: The int8 copy of the embeddings and one float32 scale per row, for the ranker's
#: first pass. Optional within format 1: a manifest names them when the release has
#: them, and a release without them is ranked from ``embeddings.npy`` alone.
QUANTISED_FILES = ("quantised.npy", "scales.npy")
#: The collaborative target (:mod:`discreet.catalog.collaborative`): optional within format 1.
COLLABORATIVE_FILE = "collaborative.npz"
#: What the manifest says about the collaborative target: its model card.
COLLABORATIVE_FIELDS = ("file", "built_from", "items", "neighbours", "epsilon", "delta", "devices")
#: ... and, for a target built from private aggregates, each task that gathered them
#: (:func:`task_card`) and the pad length the devices drew with (absent in older manifests).
COLLABORATIVE_OPTIONAL_FIELDS = ("pad_length", "tasks")
#: The fields of each of the card's tasks.
TASK_CARD_FIELDS = ("kind", "epsilon", "delta", "max_weight")
MAX_NOTICES = 20
SEVERITIES = ("info", "warning", "critical")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
#: What a catalog name may be, said the way an error message needs it.
NAME_RULE = "1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
#: Hard limits a client enforces before trusting a manifest's numbers.
MAX_ITEMS = 10_000_000
MAX_DIM = 1024


def check_name(name: object) -> str:
    """Return ``name`` if it is a catalog name devices accept; raise ``ValueError`` if not.

    The one rule for catalog names, on both sides: the publisher checks it before
    writing anything (a name also names the folder of its model), and every
    device checks it in :meth:`Manifest.from_json`.

    >>> check_name("lantern-books")
    'lantern-books'
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(_("the catalog name must be {NAME_RULE}").format(NAME_RULE=NAME_RULE))
    return name


@dataclass(frozen=True)
class Notice:
    """A signed message from the publisher to every user (policy change, incident, ...).

    ``title`` and ``body`` are one text each, or one per language (``{"en": ..., "es": ...}``),
    shown with :func:`discreet.i18n.pick`.
    """

    id: str
    severity: str
    title: str | dict[str, str]
    body: str | dict[str, str]
    date: dt.date

    def to_json(self) -> dict[str, Any]:
        """The notice as a JSON object."""
        return {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "body": self.body,
            "date": self.date.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Notice:
        """Validate one notice; raise ``ValueError`` with a message naming ``where``."""
        if not isinstance(data, Mapping):
            raise ValueError(_("{where}: expected an object").format(where=where))
        unknown = set(data) - {"id", "severity", "title", "body", "date"}
        if unknown:
            raise ValueError(
                _("{where}: unknown field {value!r}").format(where=where, value=sorted(unknown)[0])
            )
        for key, limit in (("id", 64), ("title", 200), ("body", 4000)):
            value = data.get(key)
            texts: dict[Any, Any] = {"": value}
            problem = None
            if key != "id" and isinstance(value, Mapping):  # one text per language
                texts = dict(value)
                problem = per_language_problem(texts)
            if problem is not None:
                raise ValueError(
                    _("{where}: field {key!r} {problem}").format(
                        where=where, key=key, problem=problem
                    )
                )
            for text in texts.values():
                if not isinstance(text, str) or not text.strip() or len(text) > limit:
                    raise ValueError(
                        _("{where}: field {key!r} must be text of 1-{limit} characters").format(
                            where=where, key=key, limit=limit
                        )
                    )
                kept = text if key == "id" else text.strip()  # what the notice will hold
                problem = control_problem(kept, multiline=key == "body")
                if problem is not None:
                    raise ValueError(
                        _("{where}: field {key!r} {problem}").format(
                            where=where, key=key, problem=problem
                        )
                    )
        severity = data.get("severity", "info")
        if severity not in SEVERITIES:
            raise ValueError(
                _("{where}: field 'severity' must be one of {join}").format(
                    where=where, join=", ".join(SEVERITIES)
                )
            )
        try:
            date = dt.date.fromisoformat(str(data.get("date")))
        except ValueError:
            raise ValueError(
                _("{where}: field 'date' must be an ISO date like 2024-05-31").format(where=where)
            ) from None
        return cls(data["id"], severity, _stripped(data["title"]), _stripped(data["body"]), date)


def _stripped(text: str | Mapping[str, str]) -> str | dict[str, str]:
    if isinstance(text, str):
        return text.strip()
    return {tag: t.strip() for tag, t in text.items()}


def load_notices(path: str | Path) -> tuple[Notice, ...]:
    """Read a notices file: a JSON list of ``{id, severity, title, body, date}``."""
    path = Path(path)
    try:
        data = _json.loads(path.read_text(encoding="utf-8-sig"))  # a byte order mark is fine
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NoticesInvalidError(
            _("{path}: cannot read notices ({exc}); fix the file").format(path=path, exc=exc)
        ) from None
    if not isinstance(data, list) or len(data) > MAX_NOTICES:
        raise NoticesInvalidError(
            _("{path}: expected a JSON list of at most {MAX_NOTICES} notices").format(
                path=path, MAX_NOTICES=MAX_NOTICES
            )
        )
    try:
        return tuple(Notice.from_json(n, f"{path}: notice #{i}") for i, n in enumerate(data, 1))
    except ValueError as exc:
        raise NoticesInvalidError(
            _("{exc}; fix the notices file and build again").format(exc=exc)
        ) from None


@dataclass(frozen=True)
class Manifest:
    """The description of one catalog version."""

    name: str
    version: int
    built_at: dt.datetime
    item_count: int
    dim: int
    embedding: Mapping[str, Any]
    popularity_source: str
    category_count: int
    dtype: str = "float32"
    #: Whether the release carries :data:`QUANTISED_FILES`.
    quantised: bool = False
    #: The collaborative target's model card (see :func:`collaborative_card`); ``None``:
    #: the release has no such target.
    collaborative: Mapping[str, Any] | None = None
    #: Parsed once here; every reader (device, server, CLI) uses this record.
    reporting: ReportingParams = field(default_factory=ReportingParams)
    #: The secure-aggregation mode's task and aggregators; ``None``: the LDP mode.
    secure_aggregation: SecureAggregation | None = None
    notices: tuple[Notice, ...] = ()
    format_version: int = MANIFEST_FORMAT_VERSION
    #: Where devices send LDP reports (``None``: where the catalog came from).
    #: Optional within format 1: older manifests have none.
    reports_url: str | None = None

    @property
    def reporting_mode(self) -> str:
        """``"ldp"`` or ``"secure-aggregation"``: how this catalog's devices report."""
        return "ldp" if self.secure_aggregation is None else "secure-aggregation"

    @property
    def files(self) -> tuple[str, ...]:
        """Every file of this release, as TUF target names under ``catalog/``."""
        return (
            CATALOG_FILES
            + (QUANTISED_FILES if self.quantised else ())
            + ((COLLABORATIVE_FILE,) if self.collaborative is not None else ())
        )

    def to_json(self) -> dict[str, Any]:
        """The manifest in its versioned JSON form."""
        embeddings: dict[str, Any] = {
            "file": "embeddings.npy",
            "dim": self.dim,
            "dtype": self.dtype,
            "model": dict(self.embedding),
        }
        if self.quantised:
            embeddings["int8"] = dict(zip(("codes", "scales"), QUANTISED_FILES, strict=True))
        return {
            "format": MANIFEST_FORMAT,
            "format_version": self.format_version,
            "catalog": {
                "name": self.name,
                "version": self.version,
                "built_at": self.built_at.isoformat(),
            },
            "items": {"file": "items.jsonl", "count": self.item_count},
            "embeddings": embeddings,
            "popularity": {"file": "popularity.npy", "source": self.popularity_source},
            "taxonomy": {"file": "taxonomy.json", "categories": self.category_count},
            **({} if self.collaborative is None else {"collaborative": dict(self.collaborative)}),
            "reporting": self.reporting.to_json(),
            "reporting_mode": self.reporting_mode,
            **(
                {}
                if self.secure_aggregation is None
                else {"secure_aggregation": self.secure_aggregation.to_json()}
            ),
            "notices": [n.to_json() for n in self.notices],
            **({} if self.reports_url is None else {"reports_url": self.reports_url}),
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """Parse and validate a manifest; raise :class:`CatalogInvalidError` if malformed."""
        try:
            return _parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogInvalidError(
                _("the catalog manifest is malformed ({exc}); report it to the publisher").format(
                    exc=exc
                )
            ) from None


def _int(value: Any, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(
            _("{name} must be an integer in [{low}, {high}]").format(name=name, low=low, high=high)
        )
    return value


def _parse(data: Any) -> Manifest:
    if not isinstance(data, Mapping) or data.get("format") != MANIFEST_FORMAT:
        raise ValueError(_("not a discreet catalog manifest"))
    version = _int(data["format_version"], "format_version", 1, 2**31)
    if version > MANIFEST_FORMAT_VERSION:
        raise UnsupportedFormatError(
            _(
                "the catalog uses format {version}, newer than this app "
                "reads ({MANIFEST_FORMAT_VERSION}); update the app"
            ).format(version=version, MANIFEST_FORMAT_VERSION=MANIFEST_FORMAT_VERSION)
        )
    catalog, items, emb = data["catalog"], data["items"], data["embeddings"]
    name = check_name(catalog["name"])
    built_at = dt.datetime.fromisoformat(catalog["built_at"])
    if emb["dtype"] != "float32":
        raise ValueError(_("embeddings.dtype must be float32"))
    notices_raw = data["notices"]
    if not isinstance(notices_raw, list) or len(notices_raw) > MAX_NOTICES:
        raise ValueError(
            _("notices must be a list of at most {MAX_NOTICES}").format(MAX_NOTICES=MAX_NOTICES)
        )
    model = emb["model"]
    if not isinstance(model, Mapping):
        raise ValueError(_("embeddings.model must be an object"))
    try:
        reporting = ReportingParams.from_json(data["reporting"])
    except ValueError as exc:
        raise ValueError(
            _("the reporting parameters are malformed: {exc}").format(exc=exc)
        ) from None
    secure_aggregation = _secure_aggregation(data)
    quantised = "int8" in emb
    if quantised and emb["int8"] != dict(zip(("codes", "scales"), QUANTISED_FILES, strict=True)):
        raise ValueError(
            _("embeddings.int8 must name {join}").format(join=" and ".join(QUANTISED_FILES))
        )
    source = data["popularity"]["source"]
    if not isinstance(source, str):
        raise ValueError(_("popularity.source must be text"))
    return Manifest(
        name=name,
        version=_int(catalog["version"], "catalog.version", 1, 2**53),
        built_at=built_at,
        item_count=_int(items["count"], "items.count", 1, MAX_ITEMS),
        dim=_int(emb["dim"], "embeddings.dim", 1, MAX_DIM),
        embedding=dict(model),
        popularity_source=source,
        category_count=_int(data["taxonomy"]["categories"], "taxonomy.categories", 1, 100_000),
        quantised=quantised,
        collaborative=_collaborative(data.get("collaborative")),
        reporting=reporting,
        secure_aggregation=secure_aggregation,
        notices=tuple(Notice.from_json(n, f"notice #{i}") for i, n in enumerate(notices_raw, 1)),
        format_version=version,
        reports_url=_reports_url(data.get("reports_url")),
    )


def _reports_url(value: Any) -> str | None:
    """Where reports go, checked as the aggregators' endpoints are (``None``: not named)."""
    if value is None:
        return None
    from discreet.secagg.mode import check_endpoint

    return check_endpoint(value, "reports_url")


def task_card(kind: str, epsilon: float, delta: float, max_weight: int) -> dict[str, Any]:
    """One task of the collaborative model card: its kind (``popularity`` or
    ``cooccurrence``), its ε and δ per week, and K (``max_weight``: the most a device
    reports to it)."""
    return {"kind": kind, "epsilon": epsilon, "delta": delta, "max_weight": max_weight}


def collaborative_card(
    built_from: str,
    items: int,
    neighbours: int,
    devices: int,
    tasks: Sequence[Mapping[str, Any]] = (),
    pad_length: int | None = None,
) -> dict[str, Any]:
    """The manifest's ``collaborative`` section: the target's file and its model card.

    ``tasks`` (:func:`task_card`) gathered the data and ``pad_length`` is what devices
    padded their history to before drawing; ``epsilon`` and ``delta`` are the tasks'
    sums, what a device spends on the target per week (0 for exact counts, no tasks).
    """
    card: dict[str, Any] = {
        "file": COLLABORATIVE_FILE,
        "built_from": built_from,
        "items": items,
        "neighbours": neighbours,
        "epsilon": float(sum(task["epsilon"] for task in tasks)),
        "delta": float(sum(task["delta"] for task in tasks)),
        "devices": devices,
    }
    if tasks:
        card["tasks"] = [dict(task) for task in tasks]
    if pad_length is not None:
        card["pad_length"] = pad_length
    return card


def _collaborative(section: Any) -> Mapping[str, Any] | None:
    """The ``collaborative`` section, checked field by field; ``None`` when absent."""
    if section is None:
        return None
    if (
        not isinstance(section, Mapping)
        or not set(COLLABORATIVE_FIELDS) <= set(section)
        or not set(section) <= {*COLLABORATIVE_FIELDS, *COLLABORATIVE_OPTIONAL_FIELDS}
    ):
        raise ValueError(
            _("collaborative must have exactly {fields} (and optionally {optional})").format(
                fields=", ".join(COLLABORATIVE_FIELDS),
                optional=", ".join(COLLABORATIVE_OPTIONAL_FIELDS),
            )
        )
    if section["file"] != COLLABORATIVE_FILE:
        raise ValueError(_("collaborative.file must be {file}").format(file=COLLABORATIVE_FILE))
    built_from = section["built_from"]
    if not isinstance(built_from, str) or len(built_from) > 200 or control_problem(built_from):
        raise ValueError(_("collaborative.built_from must be one line of at most 200 characters"))
    _int(section["items"], "collaborative.items", 2, 100_000)
    _int(section["neighbours"], "collaborative.neighbours", 1, 10_000)
    _int(section["devices"], "collaborative.devices", 0, 2**53)
    for key in ("epsilon", "delta"):
        value = section[key]
        if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
            raise ValueError(_("collaborative.{key} must be a non-negative number").format(key=key))
    if "pad_length" in section:
        _int(section["pad_length"], "collaborative.pad_length", 1, 100_000)
    if "tasks" in section:
        _task_cards(section)
    return dict(section)


def _task_cards(section: Mapping[str, Any]) -> None:
    """The card's ``tasks``: one or two distinct kinds, whose ε and δ add up to the card's."""
    tasks = section["tasks"]
    if (
        not isinstance(tasks, list)
        or not 1 <= len(tasks) <= 2
        or not all(isinstance(t, Mapping) and sorted(t) == sorted(TASK_CARD_FIELDS) for t in tasks)
        or len({t["kind"] for t in tasks}) != len(tasks)
        or not all(t["kind"] in ("popularity", "cooccurrence") for t in tasks)
    ):
        raise ValueError(
            _(
                "collaborative.tasks must list one popularity and one cooccurrence task, "
                "each with exactly {fields}"
            ).format(fields=", ".join(TASK_CARD_FIELDS))
        )
    for task in tasks:
        for key in ("epsilon", "delta"):
            value = task[key]
            if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
                raise ValueError(
                    _("collaborative.tasks' {key} must be a non-negative number").format(key=key)
                )
        _int(task["max_weight"], "collaborative.tasks' max_weight", 1, 10**6)
    for key in ("epsilon", "delta"):
        if not math.isclose(sum(t[key] for t in tasks), section[key], rel_tol=1e-9, abs_tol=0.0):
            raise ValueError(_("collaborative.{key} must be the sum of its tasks'").format(key=key))


def _secure_aggregation(data: Mapping[str, Any]) -> SecureAggregation | None:
    """The mode's section; a manifest that names no mode is an LDP one (older builds)."""
    mode = data.get("reporting_mode", "ldp")
    if mode == "ldp":
        if "secure_aggregation" in data:
            raise ValueError(_("an ldp manifest carries no secure_aggregation section"))
        return None
    if mode != "secure-aggregation":
        raise ValueError(_("reporting_mode must be 'ldp' or 'secure-aggregation'"))
    # Loaded only for such a catalog: HPKE and Prio3 stay out of every other start-up.
    from discreet.secagg.mode import SecureAggregation

    try:
        return SecureAggregation.from_json(data["secure_aggregation"])
    except ValueError as exc:
        raise ValueError(
            _("the secure-aggregation section is malformed: {exc}").format(exc=exc)
        ) from None
