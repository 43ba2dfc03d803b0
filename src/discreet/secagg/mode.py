"""The manifest's secure-aggregation section: the publisher's choice of reporting mode.

A catalog asks its devices for private reports in one of two modes, named in
the signed manifest (``reporting_mode``):

* ``ldp``: the single-server mode, one randomised report per kind and week
  (the ``reporting`` section); every manifest that names no mode is this one;
* ``secure-aggregation``: one contribution per week, split between two
  aggregators that must not collude (the ``secure_aggregation`` section).

The section holds the tasks' public definitions (the Prio3 parameters, the
minimum batch size, ε and δ, the leader's, helper's and collector's HPKE
configs), the aggregators' endpoints and the week's ε budget. A device parses
it strictly: even signed content may be hostile, so a task too large to shard
on a phone, an endpoint in clear text off the loopback interface or a budget
below the tasks' ε is refused with a ``ValueError`` naming the field.
A user's consent is to this whole section, so a changed aggregator (another
endpoint, another HPKE key) or another top-M list needs fresh consent.

Two formats:

* ``format_version`` 1: one popularity task, ``{"task": {...}, "leader",
  "helper", "epsilon_per_period", "pad_length"}``; the task's endpoints are
  the aggregators' URLs themselves. Every section with no co-occurrence task
  is still written this way, so that devices and consents of the first
  release keep working.
* ``format_version`` 2: ``{"tasks": [{...}, {...}], ...}``, the popularity task
  and the co-occurrence task (its ``kind`` and ``top_items`` in its JSON). Both
  are served by the same two aggregators, each task under its own path:
  ``{leader}/tasks/{task id}`` (see :meth:`SecureAggregation.leader_url`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from discreet.errors import TaskInvalidError
from discreet.i18n import _
from discreet.protocol.params import MAX_PAD_LENGTH
from discreet.secagg.task import COOCCURRENCE, POPULARITY, Task, b64, pair_count

__all__ = [
    "LDP",
    "MAX_TOP_ITEMS",
    "REPORTING_MODES",
    "SECURE_AGGREGATION",
    "SecureAggregation",
    "check_endpoint",
    "shortest_pad",
    "task_url",
]

LDP, SECURE_AGGREGATION = "ldp", "secure-aggregation"
REPORTING_MODES = (LDP, SECURE_AGGREGATION)
SECTION_FORMAT_VERSION = 1
#: The format of a section that also names a co-occurrence task.
TASKS_FORMAT_VERSION = 2
#: What a device accepts before sharding: the proof's cost grows with both.
MAX_LENGTH = 100_000
#: The most top items a co-occurrence task may pair: 316·315/2 = 49,770 entries, which
#: take 0.24 CPU s to shard on a laptop core (``benchmarks/bench_vdaf.py``).
MAX_TOP_ITEMS = 316
MAX_WEIGHT = 1_000
MAX_EPSILON_PER_PERIOD = 10.0
MAX_URL_LENGTH = 2_048
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def check_endpoint(url: object, name: str) -> str:
    """Return ``url`` if a device may send to it; raise ``ValueError`` if not.

    HTTPS, or plain HTTP to the loopback interface only (tests and the demo);
    no credentials, query or fragment.

    >>> check_endpoint("https://leader.example/dap", "leader")
    'https://leader.example/dap'
    """
    if not isinstance(url, str) or not url.isascii() or not 0 < len(url) <= MAX_URL_LENGTH:
        raise ValueError(f"{name} must be a URL of at most {MAX_URL_LENGTH} ASCII characters")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError(f"{name} holds a space or a control character")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (a malformed port raises here)
    except ValueError:
        raise ValueError(f"{name} is not a valid URL") from None
    if not host or parts.username is not None or parts.password is not None:
        raise ValueError(f"{name} must name a host and carry no credentials")
    if parts.query or parts.fragment:
        raise ValueError(f"{name} must carry no query or fragment")
    if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK):
        raise ValueError(f"{name} must use https (plain http only on the loopback interface)")
    return url


@dataclasses.dataclass(frozen=True)
class SecureAggregation:
    """The ``secure_aggregation`` section of a manifest, validated."""

    task: Task
    leader: str
    helper: str
    #: ε a device may spend per ISO week, across both modes (at least the task's ε).
    epsilon_per_period: float
    #: A week's items are padded with "none" up to this many before K are sampled, so
    #: that estimates follow interaction counts (as the LDP item report's ``pad_length``).
    #: The co-occurrence task pads the same way before drawing pairs: with popularity's
    #: K = P and co-occurrence's K = C(P, 2), a device with at most P items reports all
    #: of them and all their pairs (see :func:`shortest_pad`).
    pad_length: int
    #: The co-occurrence task over the top-M items, if the catalog asks for one.
    cooccurrence: Task | None = None

    def __post_init__(self) -> None:
        check_endpoint(self.leader, "the leader's endpoint")
        check_endpoint(self.helper, "the helper's endpoint")
        if self.leader.rstrip("/") == self.helper.rstrip("/"):
            raise ValueError("the leader and the helper must be two different endpoints")
        if self.task.kind != POPULARITY:
            raise ValueError(_("the section's first task must be a popularity task"))
        pairs = self.cooccurrence
        if pairs is not None:
            if pairs.kind != COOCCURRENCE:
                raise ValueError(_("the section's second task must be a co-occurrence task"))
            if pairs.task_id == self.task.task_id:
                raise ValueError(_("the section's two tasks must have two different ids"))
            _check_top_items(len(pairs.top_items))
        for task in self.tasks:
            _check_task(task, self.pad_length)
        budget, total = self.epsilon_per_period, sum(task.epsilon for task in self.tasks)
        if not (math.isfinite(budget) and total <= budget <= MAX_EPSILON_PER_PERIOD):
            raise ValueError(
                _("epsilon_per_period must be in [the sum of the tasks' ε, {cap}]").format(
                    cap=f"{MAX_EPSILON_PER_PERIOD:g}"
                )
            )

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The section's tasks: the popularity task, then the co-occurrence one if any."""
        return (self.task,) if self.cooccurrence is None else (self.task, self.cooccurrence)

    def leader_url(self, task: Task) -> str:
        """Where a device uploads ``task``'s reports (the base of its routes); the
        helper serves the task under the same path."""
        if self.cooccurrence is None:
            return self.leader  # format 1: the aggregators' URLs are the task's
        return task_url(self.leader, task)

    def check_fits(self, item_ids: Collection[str] | int) -> None:
        """Raise ``ValueError`` unless the task's entries name items of this catalog.

        Entry ``i`` is the item labelled ``labels[i]``; a task without labels
        counts every item, in catalog order. The publisher passes the item ids
        (every label must be one); a device passes the item count, and a label
        that names no item of its catalog is simply never set.
        """
        count = item_ids if isinstance(item_ids, int) else len(item_ids)
        if not self.task.labels:
            if self.task.length != count:
                raise ValueError(
                    f"a task without labels counts every item: its length must be {count}"
                )
            return
        if not isinstance(item_ids, int):
            unknown = set(self.task.labels) - set(item_ids)
            if unknown:
                raise ValueError(f"the task's label {sorted(unknown)[0]!r} is no catalog item")

    def check_top_items(self, item_ids: Collection[str]) -> None:
        """Raise ``ValueError`` unless every top item of the co-occurrence task is one of
        ``item_ids`` (the publisher's check; a device simply never pairs an unknown id)."""
        if self.cooccurrence is not None:
            unknown = set(self.cooccurrence.top_items) - set(item_ids)
            if unknown:
                raise ValueError(
                    _("the co-occurrence task's top item {item!r} is no catalog item").format(
                        item=sorted(unknown)[0]
                    )
                )

    def consent_terms(self) -> dict[str, Any]:
        """What a user's consent binds: the mode, the task (HPKE configs included), the
        endpoints, the budget and the padding. Another aggregator needs new consent."""
        return {"reporting_mode": SECURE_AGGREGATION, "secure_aggregation": self.to_json()}

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``secure_aggregation`` section (format 1 for a popularity task
        alone, 2 with a co-occurrence task)."""
        tasks: dict[str, Any] = (
            {"format_version": SECTION_FORMAT_VERSION, "task": self.task.to_json()}
            if self.cooccurrence is None
            else {
                "format_version": TASKS_FORMAT_VERSION,
                "tasks": [task.to_json() for task in self.tasks],
            }
        )
        return {
            **tasks,
            "leader": self.leader,
            "helper": self.helper,
            "epsilon_per_period": self.epsilon_per_period,
            "pad_length": self.pad_length,
        }

    @classmethod
    def from_json(cls, data: Any) -> SecureAggregation:
        """Parse :meth:`to_json`'s content; raise ``ValueError`` naming what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("secure_aggregation must be an object")
        version = data.get("format_version")
        if version not in (SECTION_FORMAT_VERSION, TASKS_FORMAT_VERSION):
            raise ValueError("unsupported secure_aggregation format; update the app")
        name = "task" if version == SECTION_FORMAT_VERSION else "tasks"
        fields = {"format_version", name, "leader", "helper", "epsilon_per_period", "pad_length"}
        if set(data) != fields:
            raise ValueError(
                f"secure_aggregation has exactly the fields {', '.join(sorted(fields))}"
            )
        budget, pad = data["epsilon_per_period"], data["pad_length"]
        if isinstance(budget, bool) or not isinstance(budget, (int, float)):
            raise ValueError("epsilon_per_period must be a number")
        if isinstance(pad, bool) or not isinstance(pad, int):
            raise ValueError("pad_length must be an integer")
        listed = [data["task"]] if name == "task" else data["tasks"]
        if not isinstance(listed, list) or (len(listed) != 2 and name == "tasks"):
            raise ValueError(_("tasks lists a popularity task and a co-occurrence task"))
        tasks = [_parse_task(task) for task in listed]
        if isinstance(budget, int) and abs(budget) > 10**6:  # else float() may overflow
            raise ValueError("epsilon_per_period is out of range")
        pairs = tasks[1] if len(tasks) == 2 else None
        return cls(tasks[0], data["leader"], data["helper"], float(budget), pad, pairs)


def task_url(base: str, task: Task) -> str:
    """``task``'s path at an aggregator serving several tasks: ``{base}/tasks/{task id}``."""
    return f"{base.rstrip('/')}/tasks/{b64(task.task_id)}"


def _parse_task(data: Any) -> Task:
    """A task of the section, its size checked before anything is built from it."""
    _check_size(data)
    top = data.get("top_items", [])
    _check_top_items(len(top) if isinstance(top, list) else 0)
    try:
        return Task.from_json(data)
    except TaskInvalidError as exc:
        raise ValueError(str(exc)) from None


def _check_top_items(count: int) -> None:
    if count > MAX_TOP_ITEMS:
        raise ValueError(
            _("a co-occurrence task pairs at most {cap} top items").format(cap=MAX_TOP_ITEMS)
        )


def _check_task(task: Task, pad_length: int) -> None:
    """What a device checks of each task once it is parsed."""
    if task.leader_config.public_key == task.helper_config.public_key:
        raise ValueError("the leader and the helper must have two different HPKE keys")
    _check_size(
        {
            "vdaf": {
                "length": task.length,
                "max_weight": task.max_weight,
                "chunk_length": task.chunk_length,
            }
        }
    )
    if len(set(task.labels)) != len(task.labels):
        raise ValueError("the task's labels repeat an item")
    shortest = shortest_pad(task.kind, task.max_weight)
    if not shortest <= pad_length <= MAX_PAD_LENGTH:
        raise ValueError(
            f"pad_length must be in [{shortest}, {MAX_PAD_LENGTH}] for a task of "
            f"max_weight {task.max_weight}"
        )


def shortest_pad(kind: str, max_weight: int) -> int:
    """The shortest pad length a task's K = ``max_weight`` draws fit in: K slots for
    popularity, and for co-occurrence the least P with C(P, 2) ≥ K pairs of slots
    (K = C(P, 2) lets a device with at most P items report every pair it holds).

    >>> [shortest_pad(COOCCURRENCE, k) for k in (1, 3, 45, 46, 190)], shortest_pad(POPULARITY, 20)
    ([2, 3, 10, 11, 20], 20)
    """
    if kind != COOCCURRENCE:
        return max_weight
    p = max(2, math.isqrt(2 * max_weight))
    while pair_count(p) < max_weight:
        p += 1
    return p


def _check_size(task: Any) -> None:
    """Refuse a task too large to shard on a device, before anything is built from it."""
    vdaf = task["vdaf"] if isinstance(task, Mapping) else None
    if not isinstance(vdaf, Mapping):
        raise ValueError("the task names no vdaf")
    length, weight = vdaf.get("length"), vdaf.get("max_weight")
    if not isinstance(length, int) or not 1 <= length <= MAX_LENGTH:
        raise ValueError(f"the task's length must be at most {MAX_LENGTH}")
    if not isinstance(weight, int) or not 1 <= weight <= min(MAX_WEIGHT, length):
        raise ValueError(f"the task's max_weight must be at most {MAX_WEIGHT} and its length")
    chunk = vdaf.get("chunk_length")
    if not isinstance(chunk, int) or not 1 <= chunk <= length + weight.bit_length():
        raise ValueError("the task's chunk_length must be in [1, its encoded length]")
