"""The manifest's secure-aggregation section: the publisher's choice of reporting mode.

A catalog asks its devices for private reports in one of two modes, named in
the signed manifest (``reporting_mode``):

* ``ldp``: the single-server mode, one randomised report per kind and week
  (the ``reporting`` section); every manifest that names no mode is this one;
* ``secure-aggregation``: one contribution per week, split between two
  aggregators that must not collude (the ``secure_aggregation`` section).

The section holds the task's public definition (the Prio3 parameters, the
minimum batch size, ε and δ, the leader's, helper's and collector's HPKE
configs), the aggregators' endpoints and the week's ε budget. A device parses
it strictly: even signed content may be hostile, so a task too large to shard
on a phone, an endpoint in clear text off the loopback interface or a budget
below the task's ε is refused with a ``ValueError`` naming the field.
A user's consent is to this whole section, so a changed aggregator (another
endpoint, another HPKE key) needs fresh consent.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from discreet.errors import TaskInvalidError
from discreet.protocol.params import MAX_PAD_LENGTH
from discreet.secagg.task import Task

__all__ = ["LDP", "REPORTING_MODES", "SECURE_AGGREGATION", "SecureAggregation", "check_endpoint"]

LDP, SECURE_AGGREGATION = "ldp", "secure-aggregation"
REPORTING_MODES = (LDP, SECURE_AGGREGATION)
SECTION_FORMAT_VERSION = 1
#: What a device accepts before sharding: the proof's cost grows with both.
MAX_LENGTH = 100_000
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
    pad_length: int

    def __post_init__(self) -> None:
        check_endpoint(self.leader, "the leader's endpoint")
        check_endpoint(self.helper, "the helper's endpoint")
        if self.leader.rstrip("/") == self.helper.rstrip("/"):
            raise ValueError("the leader and the helper must be two different endpoints")
        task = self.task
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
        if not task.max_weight <= self.pad_length <= MAX_PAD_LENGTH:
            raise ValueError(f"pad_length must be in [the task's max_weight, {MAX_PAD_LENGTH}]")
        budget = self.epsilon_per_period
        if not (math.isfinite(budget) and task.epsilon <= budget <= MAX_EPSILON_PER_PERIOD):
            raise ValueError(
                f"epsilon_per_period must be in [the task's ε, {MAX_EPSILON_PER_PERIOD:g}]"
            )

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

    def consent_terms(self) -> dict[str, Any]:
        """What a user's consent binds: the mode, the task (HPKE configs included), the
        endpoints, the budget and the padding. Another aggregator needs new consent."""
        return {"reporting_mode": SECURE_AGGREGATION, "secure_aggregation": self.to_json()}

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``secure_aggregation`` section."""
        return {
            "format_version": SECTION_FORMAT_VERSION,
            "task": self.task.to_json(),
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
        fields = {"format_version", "task", "leader", "helper", "epsilon_per_period", "pad_length"}
        if set(data) != fields:
            raise ValueError(
                f"secure_aggregation has exactly the fields {', '.join(sorted(fields))}"
            )
        if data["format_version"] != SECTION_FORMAT_VERSION:
            raise ValueError("unsupported secure_aggregation format; update the app")
        budget, pad = data["epsilon_per_period"], data["pad_length"]
        if isinstance(budget, bool) or not isinstance(budget, (int, float)):
            raise ValueError("epsilon_per_period must be a number")
        if isinstance(pad, bool) or not isinstance(pad, int):
            raise ValueError("pad_length must be an integer")
        _check_size(data["task"])
        try:
            task = Task.from_json(data["task"])
        except TaskInvalidError as exc:
            raise ValueError(str(exc)) from None
        if isinstance(budget, int) and abs(budget) > 10**6:  # else float() may overflow
            raise ValueError("epsilon_per_period is out of range")
        return cls(task, data["leader"], data["helper"], float(budget), pad)


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
