"""A secure-aggregation task: what devices measure, how it is verified, noised and released.

A task is DAP's unit: one Prio3 variant with its parameters, a minimum batch
size, the privacy target, and the HPKE public keys of the leader, the helper
and the collector. Batches are ISO weeks. Its public part (``task.json``) is
what devices and both aggregators read; each party's secrets sit in files only
it can read (0600):

* the aggregators' shared Prio3 verification key (never given to devices:
  whoever knows it with a report's proof could craft a passing invalid one);
* the bearer token the leader shows the helper;
* the bearer token the collector shows the leader.

:func:`create_task` writes a task folder (for a test, the demo, or a publisher
that runs all three parties); in a real deployment each party makes its own
HPKE key pair and sends only the public config.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from discreet._fs import atomic_write_bytes, canonical_json
from discreet.errors import HpkeConfigError, NoiseParameterError, TaskInvalidError
from discreet.i18n import _
from discreet.secagg import hpke
from discreet.secagg.accounting import NoisePlan, calibrate
from discreet.vdaf import Prio3MultihotCountVec, VdafParameterError

__all__ = [
    "COOCCURRENCE",
    "KINDS",
    "POPULARITY",
    "AggregatorSecrets",
    "Task",
    "TaskFiles",
    "b64",
    "create_task",
    "pair_count",
    "read_secrets",
    "unb64",
]

TASK_FORMAT = "discreet-secagg-task"
SECRETS_FORMAT = "discreet-secagg-secrets"
TASK_ID_SIZE = 32
VERIFY_KEY_SIZE = Prio3MultihotCountVec.VERIFY_KEY_SIZE
LEADER, HELPER, COLLECTOR = "leader", "helper", "collector"


def b64(data: bytes) -> str:
    """Unpadded base64url, as DAP writes ids in URLs and JSON."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: object, size: int | None = None) -> bytes:
    """The inverse of :func:`b64`; ``ValueError`` if malformed or not ``size`` bytes."""
    if not isinstance(text, str) or not text.isascii():
        raise ValueError("not base64url text")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if size is not None and len(data) != size:
        raise ValueError(f"not {size} bytes")
    return data


#: The reports a week takes at most unless the task says otherwise: a bound on what the
#: leader stores (a 50,000-entry report is ~1 MB until it is aggregated).
DEFAULT_MAX_UPLOADS = 1_000_000
#: What a task counts: item popularity (a multihot vector over items) or co-occurrence
#: (a multihot vector over the pairs of the top-M items its ``top_items`` names, numbered
#: by :func:`discreet.profile.contribution.pair_index`).
POPULARITY, COOCCURRENCE = "popularity", "cooccurrence"
KINDS = (POPULARITY, COOCCURRENCE)


def pair_count(m: int) -> int:
    """The entries of a co-occurrence vector over ``m`` items: m(m-1)/2."""
    return m * (m - 1) // 2


#: The largest δ a task may state: past it, (ε, δ)-DP says little (a device refuses more).
MAX_DELTA = 1e-6


@dataclasses.dataclass(frozen=True)
class Task:
    """The public definition of one task (``task.json``)."""

    task_id: bytes
    length: int
    max_weight: int
    chunk_length: int
    min_batch_size: int
    epsilon: float
    delta: float
    leader_config: hpke.HpkeConfig
    helper_config: hpke.HpkeConfig
    collector_config: hpke.HpkeConfig
    labels: tuple[str, ...] = ()
    max_uploads: int = DEFAULT_MAX_UPLOADS
    kind: str = POPULARITY
    #: A co-occurrence task's top-M item ids, in order (entry ``pair_index(i, j, M)``
    #: counts the pair ``{top_items[i], top_items[j]}``); fixed for the task's life, so
    #: that every report of a batch counts pairs of the same items.
    top_items: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.task_id) != TASK_ID_SIZE:
            raise TaskInvalidError(
                _("a task id is {TASK_ID_SIZE} bytes").format(TASK_ID_SIZE=TASK_ID_SIZE)
            )
        if not 1 <= self.min_batch_size <= 10**9:
            raise TaskInvalidError(_("min_batch_size is a positive integer"))
        if not self.min_batch_size <= self.max_uploads <= 10**9:
            raise TaskInvalidError(
                _("max_uploads is an integer between min_batch_size and 1,000,000,000")
            )
        if not 0 < self.delta <= MAX_DELTA:
            raise TaskInvalidError(
                _("a task's delta must be in (0, {MAX_DELTA:g}]").format(MAX_DELTA=MAX_DELTA)
            )
        if self.labels and len(self.labels) != self.length:
            raise TaskInvalidError(
                _("the task has {length} entries but {n_labels} labels").format(
                    length=self.length, n_labels=len(self.labels)
                )
            )
        self._check_kind()
        try:
            self.vdaf()
            self.noise_plan()
        except (VdafParameterError, NoiseParameterError) as exc:
            raise TaskInvalidError(
                _("the task's parameters are impossible: {exc}").format(exc=exc)
            ) from None

    def _check_kind(self) -> None:
        if self.kind not in KINDS:
            raise TaskInvalidError(
                _("a task's kind is one of {kinds}").format(kinds=", ".join(KINDS))
            )
        if self.kind == POPULARITY:
            if self.top_items:
                raise TaskInvalidError(_("a popularity task names no top_items"))
            return
        m = len(self.top_items)
        if self.labels or m < 2 or len(set(self.top_items)) != m:
            raise TaskInvalidError(
                _("a co-occurrence task names at least 2 distinct top_items and no labels")
            )
        if self.length != pair_count(m):
            raise TaskInvalidError(
                _("a co-occurrence task over {m} items has {count} entries, not {length}").format(
                    m=m, count=pair_count(m), length=self.length
                )
            )

    def vdaf(self) -> Prio3MultihotCountVec:
        """The task's Prio3 (two aggregators): a multihot vector with at most K ones."""
        return Prio3MultihotCountVec(2, self.length, self.max_weight, self.chunk_length)

    @property
    def sensitivity_sq(self) -> int:
        """The squared L2 distance between two batches that differ in one device: ``2K``.

        The number of reports in a batch is released exactly (as in DAP), so two
        neighbouring batches have the same size and differ by *replacing* one
        device's contribution with another's: two 0/1 vectors with at most K ones
        each, at squared distance at most 2K (disjoint supports).
        """
        return 2 * self.max_weight

    def noise_plan(self) -> NoisePlan:
        """The discrete Gaussian each aggregator adds to its share of a batch."""
        return calibrate(self.epsilon, self.delta, self.sensitivity_sq)

    @property
    def ctx(self) -> bytes:
        """The VDAF's application context: binds every share and proof to this task."""
        return b"discreet secagg " + self.task_id

    def to_json(self) -> dict[str, Any]:
        """``task.json``'s content."""
        return {
            "format": TASK_FORMAT,
            "format_version": 1,
            "task_id": b64(self.task_id),
            "vdaf": {
                "type": "Prio3MultihotCountVec",
                "length": self.length,
                "max_weight": self.max_weight,
                "chunk_length": self.chunk_length,
            },
            "batch": {
                "period": "iso-week",
                "min_batch_size": self.min_batch_size,
                # Written only when set, so that a task's JSON (and consent to it) is
                # the first release's unless the publisher changes the cap.
                **(
                    {"max_uploads": self.max_uploads}
                    if self.max_uploads != DEFAULT_MAX_UPLOADS
                    else {}
                ),
            },
            "privacy": {"epsilon": self.epsilon, "delta": self.delta},
            "hpke": {
                LEADER: self.leader_config.to_text(),
                HELPER: self.helper_config.to_text(),
                COLLECTOR: self.collector_config.to_text(),
            },
            "labels": list(self.labels),
            # A popularity task's JSON is the first release's, so that consents to it hold.
            **(
                {"kind": self.kind, "top_items": list(self.top_items)}
                if self.kind != POPULARITY
                else {}
            ),
        }

    @classmethod
    def from_json(cls, data: Any) -> Task:
        """Parse :meth:`to_json`'s content; raises :class:`TaskInvalidError`."""
        try:
            if data["format"] != TASK_FORMAT or data["format_version"] != 1:
                raise TaskInvalidError(_("not a discreet secure-aggregation task (format 1)"))
            vdaf = data["vdaf"]
            if vdaf["type"] != "Prio3MultihotCountVec":
                raise TaskInvalidError(_("this build runs Prio3MultihotCountVec tasks only"))
            labels, top = data.get("labels", []), data.get("top_items", [])
            for name, names in (("labels", labels), ("top_items", top)):
                if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
                    raise TaskInvalidError(_("{name} is a list of strings").format(name=name))
            return cls(
                task_id=unb64(data["task_id"], TASK_ID_SIZE),
                length=_int(vdaf["length"]),
                max_weight=_int(vdaf["max_weight"]),
                chunk_length=_int(vdaf["chunk_length"]),
                min_batch_size=_int(data["batch"]["min_batch_size"]),
                epsilon=_number(data["privacy"]["epsilon"]),
                delta=_number(data["privacy"]["delta"]),
                leader_config=hpke.HpkeConfig.from_text(data["hpke"][LEADER]),
                helper_config=hpke.HpkeConfig.from_text(data["hpke"][HELPER]),
                collector_config=hpke.HpkeConfig.from_text(data["hpke"][COLLECTOR]),
                labels=tuple(labels),
                max_uploads=_int(data["batch"].get("max_uploads", DEFAULT_MAX_UPLOADS)),
                kind=data.get("kind", POPULARITY),
                top_items=tuple(top),
            )
        except (KeyError, TypeError, ValueError, HpkeConfigError) as exc:
            raise TaskInvalidError(
                _("the task definition is malformed ({exc})").format(exc=exc)
            ) from None

    @classmethod
    def load(cls, path: Path) -> Task:
        """Read ``task.json``; raises :class:`TaskInvalidError`."""
        try:
            data = json.loads(Path(path).read_bytes())
        except FileNotFoundError:
            raise TaskInvalidError(
                _("no task file at {path}; check --task").format(path=path)
            ) from None
        except (OSError, ValueError) as exc:
            raise TaskInvalidError(
                _("{path}: cannot read the task ({exc})").format(path=path, exc=exc)
            ) from None
        try:
            return cls.from_json(data)
        except TaskInvalidError as exc:
            raise TaskInvalidError(_("{path}: {exc}").format(path=path, exc=exc)) from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("expected a number")
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        raise ValueError("a number out of range") from None


@dataclasses.dataclass(frozen=True)
class AggregatorSecrets:
    """One party's secrets for a task; ``None`` where that party has no such secret."""

    verify_key: bytes | None = dataclasses.field(default=None, repr=False)
    aggregator_token: str | None = dataclasses.field(default=None, repr=False)
    collector_token: str | None = dataclasses.field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The secrets file's content."""
        return {
            "format": SECRETS_FORMAT,
            "format_version": 1,
            "verify_key": None if self.verify_key is None else b64(self.verify_key),
            "aggregator_token": self.aggregator_token,
            "collector_token": self.collector_token,
        }


def read_secrets(path: Path) -> AggregatorSecrets:
    """Read a secrets file; raises :class:`TaskInvalidError` if missing, malformed or
    readable by others."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise TaskInvalidError(
            _("no secrets file at {path}; check --secrets").format(path=path)
        ) from None
    except (OSError, ValueError) as exc:
        raise TaskInvalidError(
            _("{path}: cannot read the secrets ({exc})").format(path=path, exc=exc)
        ) from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TaskInvalidError(
            _("{path} is readable by others; run `chmod 600 {path}`").format(path=path)
        )
    try:
        if data["format"] != SECRETS_FORMAT or data["format_version"] != 1:
            raise TaskInvalidError(_("{path} is not a secrets file (format 1)").format(path=path))
        key = data["verify_key"]
        tokens = (data["aggregator_token"], data["collector_token"])
        if not all(t is None or (isinstance(t, str) and len(t) >= 32) for t in tokens):
            raise TypeError("a token is text of 32 characters or more")
        return AggregatorSecrets(
            None if key is None else unb64(key, VERIFY_KEY_SIZE), tokens[0], tokens[1]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TaskInvalidError(
            _("{path}: the secrets are malformed ({exc})").format(path=path, exc=exc)
        ) from None


@dataclasses.dataclass(frozen=True)
class TaskFiles:
    """Where :func:`create_task` wrote each file."""

    task: Path
    keys: dict[str, Path]
    secrets: dict[str, Path]


def create_task(
    folder: Path,
    *,
    length: int,
    max_weight: int,
    min_batch_size: int,
    epsilon: float,
    delta: float,
    labels: tuple[str, ...] = (),
    chunk_length: int | None = None,
    max_uploads: int = DEFAULT_MAX_UPLOADS,
    top_items: tuple[str, ...] = (),
) -> TaskFiles:
    """A new task in ``folder`` (which must not hold one): ``task.json``, three HPKE key
    files and three secrets files, every private one 0600, all from the OS CSPRNG.

    With ``top_items`` (M item ids) it is a co-occurrence task of M(M-1)/2 entries, and
    ``length`` is ignored."""
    folder = Path(folder)
    if (folder / "task.json").exists():
        raise TaskInvalidError(
            _("{folder} already holds a task; choose another folder").format(folder=folder)
        )
    folder.mkdir(parents=True, exist_ok=True)
    if top_items:
        length = pair_count(len(top_items))
    chunk = chunk_length or max(1, round((length + max_weight.bit_length()) ** 0.5))
    pairs = {role: hpke.generate_keypair(i) for i, role in enumerate((LEADER, HELPER, COLLECTOR))}
    task = Task(
        task_id=secrets.token_bytes(TASK_ID_SIZE),
        length=length,
        max_weight=max_weight,
        chunk_length=chunk,
        min_batch_size=min_batch_size,
        epsilon=epsilon,
        delta=delta,
        leader_config=pairs[LEADER].config,
        helper_config=pairs[HELPER].config,
        collector_config=pairs[COLLECTOR].config,
        labels=labels,
        max_uploads=max_uploads,
        kind=COOCCURRENCE if top_items else POPULARITY,
        top_items=top_items,
    )
    verify_key = secrets.token_bytes(VERIFY_KEY_SIZE)
    aggregator_token, collector_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    role_secrets = {
        LEADER: AggregatorSecrets(verify_key, aggregator_token, collector_token),
        HELPER: AggregatorSecrets(verify_key, aggregator_token, None),
        COLLECTOR: AggregatorSecrets(None, None, collector_token),
    }
    files = TaskFiles(folder / "task.json", {}, {})
    for role, pair in pairs.items():
        files.keys[role] = folder / f"{role}.key"
        hpke.write_keypair(files.keys[role], pair)
        files.secrets[role] = folder / f"{role}.secrets.json"
        atomic_write_bytes(
            files.secrets[role], canonical_json(role_secrets[role].to_json()), mode=0o600
        )
    atomic_write_bytes(files.task, canonical_json(task.to_json()))
    return files
