"""Opening, creating and using the profile of a home folder.

``HOME/profile/`` holds ``profile.dsc`` (the encrypted store, with its
backup and lock) and ``config.json``, which says how the profile is protected
and its retention policy. The config holds nothing personal: it is what lets
``discreet privacy`` show the data card without asking for a passphrase. It
carries a checksum of its content, and ``config.json.bak`` is a second copy:
a damaged ``config.json`` is put back from it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discreet._closing import Closable
from discreet._fs import atomic_write_bytes, canonical_json
from discreet.errors import (
    CorruptSettingsError,
    CorruptStoreError,
    StoreExistsError,
    StoreNotFoundError,
    UnknownItemError,
    UnsupportedFormatError,
)
from discreet.i18n import N_, _
from discreet.profile.export import ProfileExport
from discreet.profile.model import Event, EventKind, Profile, RetentionPolicy
from discreet.profile.schema import PROFILE_FIELDS, data_card
from discreet.store.base import ProfileStore
from discreet.store.encrypted import EncryptedStore
from discreet.store.keys import (
    KeyFileKey,
    KeyringKey,
    KeySource,
    PassphraseKey,
    describe_passphrase,
)
from discreet.store.memory import MemoryStore, TimerFactory, daemon_timer

if TYPE_CHECKING:
    from discreet.catalog.reader import Catalog

CONFIG_FORMAT_VERSION = 1
MODES = ("standard", "kiosk")


@dataclass(frozen=True)
class ProfileConfig:
    """How a home's profile is kept (no personal data)."""

    mode: str = "standard"
    key_source: str | None = "passphrase"
    keyfile: str | None = None
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    keyring_entry: tuple[str, str] | None = None  # (service, username) for "keyring"

    def to_json(self) -> dict[str, Any]:
        """The config as JSON."""
        return {
            "format_version": CONFIG_FORMAT_VERSION,
            "mode": self.mode,
            "key_source": self.key_source,
            "keyfile": self.keyfile,
            "retention": self.retention.to_json(),
            "keyring_entry": list(self.keyring_entry) if self.keyring_entry else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProfileConfig:
        """Parse a config; raise ``ValueError`` (or ``KeyError``) if malformed."""
        if not isinstance(data, Mapping):
            raise ValueError(_("the settings must be a JSON object"))
        version = data.get("format_version", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(_("format_version must be an integer"))
        if version > CONFIG_FORMAT_VERSION:
            raise UnsupportedFormatError(
                _("the profile settings were written by a newer app; update the app")
            )
        mode = data["mode"]
        if mode not in MODES:
            raise ValueError(_("unknown profile mode"))
        entry = data.get("keyring_entry")
        if entry is not None and (
            not isinstance(entry, list)
            or len(entry) != 2
            or not all(isinstance(e, str) for e in entry)
        ):
            raise ValueError(_("keyring_entry is [service, username]"))
        return cls(
            mode,
            data.get("key_source"),
            data.get("keyfile"),
            RetentionPolicy.from_json(data["retention"]),
            (entry[0], entry[1]) if entry else None,
        )

    def configured_key(self) -> KeySource | None:
        """The key source these settings name, if it needs no secret from the user.

        A key file and an OS keyring entry open by themselves; a passphrase
        (and a kiosk, which has no key) return ``None``.
        """
        if self.mode == "kiosk":
            return None
        if self.key_source == "keyfile" and self.keyfile:
            return KeyFileKey(self.keyfile)
        if self.key_source == "keyring":
            # Profiles made before entries were per profile share the default one.
            return KeyringKey(*self.keyring_entry) if self.keyring_entry else KeyringKey()
        return None


class ProfileHome:
    """The profile files of one home folder."""

    def __init__(self, home: str | Path) -> None:
        self.folder = Path(home) / "profile"

    @property
    def store_path(self) -> Path:
        """The encrypted profile."""
        return self.folder / "profile.dsc"

    @property
    def config_path(self) -> Path:
        """The (non-personal) settings."""
        return self.folder / "config.json"

    @property
    def config_copy_path(self) -> Path:
        """The second copy of the settings, which a damaged ``config.json`` is put back from."""
        return self.folder / "config.json.bak"

    def config(self) -> ProfileConfig:
        """The settings; raise :class:`StoreNotFoundError` before ``init``.

        A ``config.json`` that is unreadable, does not parse or does not match
        its checksum is put back from its copy (and a damaged copy from
        ``config.json``); if both are damaged, :class:`CorruptSettingsError`.
        """
        try:
            config = _read_settings(self.config_path)
        except FileNotFoundError:
            raise StoreNotFoundError(
                _("no profile here yet; create one with 'discreet init'")
            ) from None
        except (OSError, _DamagedSettingsError):
            try:
                config = _read_settings(self.config_copy_path)
            except (OSError, _DamagedSettingsError):
                raise CorruptSettingsError(
                    _(
                        "{config_path} is damaged, and so is its copy {name} (the "
                        "profile itself is untouched); put config.json back from a "
                        "backup of this folder"
                    ).format(config_path=self.config_path, name=self.config_copy_path.name)
                ) from None
        self._keep_settings(config)
        return config

    def _keep_settings(self, config: ProfileConfig) -> None:
        """Make both settings files hold ``config`` with its checksum, if one does not.

        Never once ``config.json`` is gone: a profile erased meanwhile stays erased.
        """
        data = _settings_bytes(config)
        for path in (self.config_path, self.config_copy_path):
            with contextlib.suppress(OSError):  # a read-only home is read as it is
                if not self.config_path.is_file():
                    return
                if not path.is_file() or path.read_bytes() != data:
                    atomic_write_bytes(path, data)

    def _write_settings(self, config: ProfileConfig) -> None:
        """The copy first: ``config.json`` existing is what says a profile exists."""
        data = _settings_bytes(config)
        atomic_write_bytes(self.config_copy_path, data)
        atomic_write_bytes(self.config_path, data)

    def remove_settings(self) -> list[str]:
        """Delete the settings (the copy first); return what was removed."""
        removed = []
        for path in (self.config_copy_path, self.config_path):
            if path.exists():
                path.unlink()
                removed.append(str(path))
        return removed

    def create(
        self, source: KeySource | None, config: ProfileConfig, today: dt.date
    ) -> ProfileSession | None:
        """Create the profile; in kiosk mode only the settings are written (returns ``None``)."""
        if self.config_path.exists():
            raise StoreExistsError(
                _("a profile already exists in {folder}; erase it first to start over").format(
                    folder=self.folder
                )
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        if config.mode == "kiosk" or source is None:
            self._write_settings(config)
            return None
        if isinstance(source, KeyringKey):
            config = replace(
                config, key_source="keyring", keyring_entry=(source.service, source.username)
            )
        profile = Profile.new(today, config.retention)
        store = EncryptedStore.create(self.store_path, source, initial=profile.to_bytes())
        self._write_settings(config)
        return ProfileSession(store, profile)

    def open(self, source: KeySource, *, lock_timeout: float = 2.0) -> ProfileSession:
        """Open the encrypted profile (holding its lock until the session closes)."""
        store = EncryptedStore.open(self.store_path, source, lock_timeout=lock_timeout)
        try:
            payload = store.load()
            profile = Profile.from_bytes(payload or b"")
            _merge_budget_record(store, profile)
        except CorruptStoreError as exc:
            # Authentic but unreadable: set it aside like any damaged file, so that
            # 'discreet profile restore' can bring back the previous save.
            raise store.set_aside(str(exc)) from None
        except BaseException:
            store.close()
            raise
        return ProfileSession(store, profile)

    def erase(self) -> list[str]:
        """Destroy the profile without needing its key; return what was removed.

        The wrapped keys are overwritten before the files are deleted
        (crypto-shredding). A key file outside the profile folder is left in
        place: without the wrapped keys it no longer opens anything.
        """
        config = self.config()
        removed = EncryptedStore.destroy(self.store_path)
        source = config.configured_key()
        if isinstance(source, KeyringKey):
            source.forget()
            removed.append(
                _("OS keyring entry '{entry_name}'").format(entry_name=source.entry_name)
            )
        return removed + self.remove_settings()

    def data_card(self) -> dict[str, Any]:
        """The data card for this home, without opening the profile."""
        config = self.config()
        if config.mode == "kiosk":
            storage = MemoryStore(idle_seconds=None).describe()
        else:
            storage = {
                "location": str(self.store_path),
                "encryption": _("AES-256-GCM with a random 256-bit data key, fresh nonce per save"),
                "key": _describe_source(config, self.store_path),
                "backup": _("{name}.bak (the previous save, equally encrypted)").format(
                    name=self.store_path.name
                ),
                "budget": _(BUDGET_NOTE).format(name=self.store_path.name),
            }
        return data_card(config.retention, storage)


class _DamagedSettingsError(Exception):
    """A settings file that does not parse, or does not match its checksum."""


def _settings_bytes(config: ProfileConfig) -> bytes:
    document = config.to_json()
    document["checksum"] = _checksum(document)
    return canonical_json(document)


def _checksum(document: Mapping[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _read_settings(path: Path) -> ProfileConfig:
    """Parse a settings file; raise :class:`_DamagedSettingsError` if it is damaged.

    A file without a checksum (written before settings had one) is read as it is.
    """
    try:
        document = json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        raise _DamagedSettingsError from None
    if not isinstance(document, dict):
        raise _DamagedSettingsError
    checksum = document.pop("checksum", None)
    if checksum is not None and checksum != _checksum(document):
        raise _DamagedSettingsError
    try:
        return ProfileConfig.from_json(document)
    except (KeyError, TypeError, ValueError):
        raise _DamagedSettingsError from None


BUDGET_RECORD = "budget"
#: How the data card and the export describe the budget record.
BUDGET_NOTE = N_(
    "{name}.budget: the report ledger and consent again, equally encrypted, so that "
    "restoring an older save cannot undo a revocation or re-spend a week's budget"
)


def _merge_budget_record(store: EncryptedStore, profile: Profile) -> None:
    """Bring the budget state forward from its own record (see :meth:`Profile.merge_budget`).

    The record is what keeps a restored backup, or an old ``profile.dsc`` copied
    back, from bringing back an older ledger or a revoked consent.
    """
    record = store.load_record(BUDGET_RECORD)
    if record is None:
        return
    try:
        document = json.loads(record)
    except ValueError:
        return  # unreadable reads as absent; the next save replaces it
    if isinstance(document, dict):
        with contextlib.suppress(CorruptStoreError):
            profile.merge_budget(document)


def _describe_source(config: ProfileConfig, store_path: Path) -> str:
    source = config.configured_key()  # a key file or keyring entry describes itself
    if source is not None:
        return source.describe()
    # The cost the profile's wrap was made with: an app may choose its own.
    for wrap in EncryptedStore.stored_wraps(store_path):
        if wrap.get("source") == PassphraseKey.kind:
            with contextlib.suppress(ValueError):
                return describe_passphrase(PassphraseKey.stored_params(wrap))
    return describe_passphrase()


class ProfileSession(Closable):
    """An open profile: its store (locked) and the parsed profile.

    >>> with ProfileHome(home).open(PassphraseKey(secret)) as session:  # doctest: +SKIP
    ...     session.record(catalog, "b-0042", "like")
    ...     session.save()
    """

    def __init__(self, store: ProfileStore, profile: Profile) -> None:
        self.store = store
        self.profile = profile

    @classmethod
    def kiosk(
        cls,
        today: dt.date,
        idle_seconds: float | None = 300.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        timer: TimerFactory = daemon_timer,
        calendar: Callable[[], dt.date] = dt.date.today,
        on_wipe: Callable[[], None] | None = None,
    ) -> ProfileSession:
        """A session that lives in memory only; when idle, it is wiped and starts afresh.

        ``clock`` and ``timer`` measure the idle period (see :class:`MemoryStore`);
        the fresh profile after a wipe is dated by ``calendar``. ``on_wipe`` is called
        after each wipe (perhaps from the timer's thread), e.g. to clear a kiosk's screen.
        """
        session: ProfileSession | None = None

        def forget() -> None:
            if session is not None:
                session.profile = session.profile.forget_keeping_budget(calendar())
            if on_wipe is not None:
                on_wipe()

        store = MemoryStore(idle_seconds=idle_seconds, clock=clock, timer=timer, on_wipe=forget)
        session = cls(store, Profile.new(today))
        store.save(session.profile.to_bytes())
        return session

    def touch(self) -> None:
        """For a kiosk session: wipe it (and start afresh) if it went idle."""
        if isinstance(self.store, MemoryStore):
            self.store.load()

    def record(
        self,
        catalog: Catalog,
        item_id: str,
        kind: EventKind | str,
        today: dt.date | None = None,
        *,
        day: dt.date | None = None,
    ) -> Event | None:
        """Record an event on a catalog item; return ``None`` if it was deliberately not kept.

        The event is dated ``day`` (default ``today``), never later than ``today``.
        Nothing is kept while personalisation is paused, or for an item in a
        sensitive category the user has not opted in to.
        """
        self.touch()
        try:
            item = catalog.item(item_id)
        except KeyError:
            raise UnknownItemError(
                _("that item is not in the installed catalog; check the id or run 'discreet sync'")
            ) from None
        if self.profile.paused or not self.profile.admits(item.categories, catalog.taxonomy):
            return None
        today = today or dt.date.today()
        return self.profile.record(item.id, kind, day or today, today=today)

    def save(self) -> None:
        """Persist the profile (atomically, for an encrypted store).

        The budget record is written first, so it is never older than the
        profile file beside it.
        """
        if isinstance(self.store, EncryptedStore):
            budget = json.dumps(self.profile.budget_json(), separators=(",", ":")).encode()
            self.store.save_record(BUDGET_RECORD, budget)
        self.store.save(self.profile.to_bytes())

    def export(self, today: dt.date | None = None) -> ProfileExport:
        """Everything kept (access and portability); ``.to_json()`` is the documented JSON."""
        fields = tuple(spec.render(self.profile.retention) for spec in PROFILE_FIELDS)
        return ProfileExport.of(
            self.profile, today or dt.date.today(), fields, self.store.describe()
        )

    def erase(self) -> list[str]:
        """Destroy the profile (crypto-shredding) and report what was removed."""
        return self.store.erase()

    def close(self) -> None:
        """Release the store."""
        self.store.close()
