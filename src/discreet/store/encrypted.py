"""``EncryptedStore``: the profile on disk, AES-256-GCM under an envelope key.

Files, for a store at ``profile.dsc``::

    profile.dsc             the current generation
    profile.dsc.bak         the previous generation (a hard link, so no copy)
    profile.dsc.lock        held while the store is open: one writer at a time
    profile.dsc.damaged-*   files that failed authentication, set aside, never deleted
                            (a passphrase change rewraps them, or destroys their wraps)
    .profile.dsc.*.tmp      a save under way; one killed half-way is removed at open
    profile.dsc.budget      a small record the layer above keeps apart from the profile
                            (its budget), sealed under the same data key, no backup

Every save writes a temporary file in the same folder, fsyncs it, links the
current file to the backup name, renames the temporary file over the current
one and fsyncs the folder. A crash at any point leaves a file that opens.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discreet._fs import acquire_lock, atomic_write_bytes, disk_full_means, fsync_dir
from discreet.errors import (
    CorruptStoreError,
    DiscreetError,
    StoreExistsError,
    StoreLockedError,
    StoreNotFoundError,
    StoreReadOnlyError,
)
from discreet.i18n import _
from discreet.store import _hazmat, envelope
from discreet.store.base import ProfileStore
from discreet.store.keys import KeyringKey, KeySource

if TYPE_CHECKING:
    import filelock

DEFAULT_LOCK_TIMEOUT = 2.0
#: The side records a store may hold beside its file (see :meth:`EncryptedStore.save_record`).
RECORDS = ("budget",)
#: What opening the lock file in a folder this process cannot write fails with.
_NOT_WRITABLE = frozenset((errno.EROFS, errno.EACCES, errno.EPERM))


def _write_durably(path: Path, data: bytes) -> None:
    """Atomically replace ``path``, keeping its previous generation as ``.bak``."""

    def keep_backup() -> None:
        if path.exists():
            backup_tmp = path.with_name(f".{path.name}.bak.tmp")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(backup_tmp)
            os.link(path, backup_tmp)  # a hard link: no copy, and atomic
            os.replace(backup_tmp, path.with_name(path.name + ".bak"))

    with disk_full_means(
        _(
            "the disk is full, so the profile was not saved; free some space and try again "
            "(the previous profile is intact)"
        )
    ):
        atomic_write_bytes(path, data, mode=0o600, before_replace=keep_backup)


class EncryptedStore(ProfileStore):
    """A profile file encrypted at rest and locked against concurrent writers.

    >>> key = PassphraseKey("correct horse battery staple")  # doctest: +SKIP
    >>> with EncryptedStore.create("profile.dsc", key) as store:  # doctest: +SKIP
    ...     store.save(b"{}")
    """

    def __init__(
        self, path: Path, source: KeySource, data_key: bytes, header: dict[str, Any], lock: Any
    ) -> None:
        self.path = path
        self.source = source
        self._data_key: bytes | None = data_key
        self._header = header
        self._lock = lock
        self._payload: bytes | None = None
        #: Opened from a folder this process cannot write: readable, never saved.
        self.read_only = lock is None

    # ---- opening --------------------------------------------------------------
    @staticmethod
    def _acquire(path: Path, timeout: float) -> filelock.BaseFileLock:
        path.parent.mkdir(parents=True, exist_ok=True)
        return acquire_lock(
            path.with_name(path.name + ".lock"),
            timeout=timeout,
            error=StoreLockedError,
            message=_("the profile is open in another process; close it there and try again"),
            held_here=_(
                "the profile is already open in this process; use that Engine, "
                "or close it before opening another"
            ),
        )

    @classmethod
    def create(
        cls,
        path: str | Path,
        source: KeySource,
        *,
        initial: bytes = b"",
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> EncryptedStore:
        """Create a new store protected by ``source``; refuse if one exists."""
        path = Path(path)
        lock = cls._acquire(path, lock_timeout)
        try:
            if path.exists():
                raise StoreExistsError(
                    _("a profile already exists at {path}; open it, or erase it first").format(
                        path=path
                    )
                )
            key_id = _hazmat.random_bytes(16).hex()
            data_key = _hazmat.random_bytes(_hazmat.KEY_BYTES)
            header = {
                "format_version": envelope.FORMAT_VERSION,
                "cipher": "aes-256-gcm",
                "key_id": key_id,
                "generation": 0,
                "wraps": [envelope.wrap(source, data_key, key_id)],
            }
            store = cls(path, source, data_key, header, lock)
            store.save(initial)
            return store
        except BaseException:
            lock.release()
            raise

    @classmethod
    def open(
        cls, path: str | Path, source: KeySource, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> EncryptedStore:
        """Open an existing store.

        Raises :class:`WrongKeyError`, :class:`CorruptStoreError` (after setting the
        damaged file aside), :class:`StoreLockedError` or :class:`StoreNotFoundError`.
        """
        path = Path(path)
        try:
            lock: filelock.BaseFileLock | None = cls._acquire(path, lock_timeout)
        except OSError as exc:
            if exc.errno not in _NOT_WRITABLE or not path.exists():
                raise
            # A read-only home (a read-only mount, or a folder this user may only
            # read): nobody here can save, so no lock is needed to read.
            lock = None
        try:
            if lock is not None:
                _remove_orphans(path)  # we hold the lock: no save is under way
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                backup = path.with_name(path.name + ".bak")
                hint = (
                    " (a backup exists: run 'discreet profile restore')" if backup.exists() else ""
                )
                raise StoreNotFoundError(
                    _("no profile at {path}; create one with 'discreet init'{hint}").format(
                        path=path, hint=hint
                    )
                ) from None
            try:
                sealed = envelope.parse(data)
                data_key = envelope.unwrap(sealed.header, source)
                payload = envelope.open_payload(sealed, data_key)
            except CorruptStoreError as exc:
                if lock is None:
                    raise CorruptStoreError(
                        _(
                            "{exc}; the profile folder is read-only, so it was left in "
                            "place: make the folder writable, then open the profile again"
                        ).format(exc=exc)
                    ) from None
                raise cls._set_aside(path, str(exc)) from None
            store = cls(path, source, data_key, sealed.header, lock)
            store._payload = payload
            return store
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    @staticmethod
    def _set_aside(path: Path, reason: str) -> CorruptStoreError:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        aside = path.with_name(f"{path.name}.damaged-{stamp}")
        os.replace(path, aside)
        fsync_dir(path.parent)
        backup = path.with_name(path.name + ".bak")
        # A restored backup is the backup itself (a hard link): never offer it twice.
        usable = backup.exists() and not backup.samefile(aside)
        if usable:
            offer = _("; run 'discreet profile restore' to go back to the previous save")
        elif backup.exists():
            offer = _(
                "; it was the backup, so no undamaged save is left: start again with "
                "'discreet profile erase', then 'discreet init'"
            )
        else:
            offer = _(
                "; no backup exists, so start again with 'discreet profile erase', "
                "then 'discreet init'"
            )
        return CorruptStoreError(
            _("{reason}. It was set aside as {name}{offer}").format(
                reason=reason, name=aside.name, offer=offer
            ),
            set_aside=str(aside),
            backup=str(backup) if usable else None,
        )

    def set_aside(self, reason: str) -> CorruptStoreError:
        """Set the current file aside as damaged (never deleting it) and close the store.

        For a file that authenticated but whose content the layer above cannot
        read. Returns the error to raise: it names the file set aside and
        offers the backup, which :meth:`restore_backup` then brings back.
        """
        try:
            return self._set_aside(self.path, reason)
        finally:
            self.close()

    @staticmethod
    def restore_backup(path: str | Path) -> None:
        """Make the previous generation current again (after a damaged file was set aside)."""
        path = Path(path)
        backup = path.with_name(path.name + ".bak")
        if not backup.exists():
            raise StoreNotFoundError(_("there is no backup to restore"))
        for aside in path.parent.glob(f"{path.name}.damaged-*"):
            if aside.samefile(backup):
                raise CorruptStoreError(
                    _(
                        "the backup is damaged too (it was set aside as {name}), so "
                        "no undamaged save is left: start again with 'discreet "
                        "profile erase', then 'discreet init'"
                    ).format(name=aside.name)
                )
        if path.exists():
            raise StoreExistsError(
                _(
                    "{path} exists; a backup is only restored after a damaged file was set aside"
                ).format(path=path)
            )
        os.link(backup, path)
        fsync_dir(path.parent)

    @staticmethod
    def stored_wraps(path: str | Path) -> list[dict[str, Any]]:
        """The key wraps in the file's header, read without a key and not yet authenticated.

        For describing the protection (the data card); empty if the file is
        missing or does not parse.
        """
        try:
            wraps = envelope.parse(Path(path).read_bytes()).header.get("wraps")
        except (OSError, DiscreetError):
            return []
        return [w for w in wraps if isinstance(w, dict)] if isinstance(wraps, list) else []

    # ---- the ProfileStore contract -----------------------------------------
    def _key(self) -> bytes:
        if self._data_key is None:
            raise StoreNotFoundError(_("the profile store is closed; open it again"))
        return self._data_key

    def _writable_key(self) -> bytes:
        key = self._key()
        if self.read_only:
            raise StoreReadOnlyError(
                _(
                    "{parent} is read-only, so nothing can be saved; make it "
                    "writable to record, change or erase anything"
                ).format(parent=self.path.parent)
            )
        return key

    def load(self) -> bytes | None:
        """The decrypted payload read when the store was opened or last saved."""
        self._key()
        return self._payload

    def save(self, payload: bytes) -> None:
        """Encrypt ``payload`` with a fresh nonce and replace the file durably."""
        key = self._writable_key()
        header = {**self._header, "generation": int(self._header["generation"]) + 1}
        _write_durably(self.path, envelope.seal(header, key, payload))
        self._header = header
        self._payload = payload

    def _record_path(self, name: str) -> Path:
        if name not in RECORDS:
            raise ValueError(f"unknown record {name!r}")
        return self.path.with_name(f"{self.path.name}.{name}")

    def load_record(self, name: str) -> bytes | None:
        """A side record sealed under this store's data key; ``None`` if absent or unreadable.

        An unreadable record (damaged, or sealed under another key) reads as
        absent: it must never keep the profile from opening, and the next
        :meth:`save_record` replaces it.
        """
        key = self._key()
        try:
            sealed = envelope.parse(self._record_path(name).read_bytes())
            if (
                sealed.header.get("record") != name
                or sealed.header.get("key_id") != (self._header["key_id"])
            ):
                return None
            return envelope.open_payload(sealed, key)
        except (OSError, DiscreetError):
            return None

    def save_record(self, name: str, payload: bytes) -> None:
        """Seal ``payload`` under the data key and replace the record atomically.

        Unlike the profile, a record keeps no previous generation: restoring a
        backup of the profile must not bring back an older record.
        """
        key = self._writable_key()
        header = {
            "format_version": envelope.FORMAT_VERSION,
            "cipher": "aes-256-gcm",
            "key_id": self._header["key_id"],
            "record": name,
        }
        with disk_full_means(
            _(
                "the disk is full, so the profile was not saved; free some space and try again "
                "(the previous profile is intact)"
            )
        ):
            sealed = envelope.seal(header, key, payload)
            atomic_write_bytes(self._record_path(name), sealed, mode=0o600)

    def rewrap(self, new_source: KeySource) -> None:
        """Protect the data key with ``new_source`` instead of the current source's kind.

        The profile itself is not re-encrypted; only the 32-byte data key is.
        """
        key = self._writable_key()
        kept = [w for w in self._header["wraps"] if w.get("source") != self.source.kind]
        wraps = [*kept, envelope.wrap(new_source, key, self._header["key_id"])]
        self._header = {**self._header, "wraps": wraps}
        self.save(self._payload or b"")
        self.source = new_source
        # The previous generation still holds the old wrap: replace it too.
        self.save(self._payload or b"")
        # So do a killed save's leftovers and the copies set aside as damaged.
        _remove_orphans(self.path)
        for aside in sorted(self.path.parent.glob(f"{self.path.name}.damaged-*")):
            self._rewrap_aside(aside, key)

    def _rewrap_aside(self, aside: Path, key: bytes) -> None:
        """Re-seal a set-aside copy under the current wraps, or destroy its old wraps.

        A copy that still authenticates under the data key keeps its content;
        one that does not can never be read again anyway, so only the wrapped
        keys at its start are overwritten. Either way the file is kept.
        """
        try:
            sealed = envelope.parse(aside.read_bytes())
            if sealed.header.get("key_id") != self._header["key_id"]:
                raise CorruptStoreError(_("another data key"))
            payload = envelope.open_payload(sealed, key)
        except (OSError, DiscreetError):
            # A new file in its place, so that no other link to the old one is touched.
            data = bytearray(aside.read_bytes())
            size = min(len(data), envelope.MAX_HEADER_BYTES)
            data[:size] = _hazmat.random_bytes(size)
            atomic_write_bytes(aside, bytes(data), mode=0o600)
            return
        header = {**sealed.header, "wraps": self._header["wraps"]}
        atomic_write_bytes(aside, envelope.seal(header, key, payload), mode=0o600)

    def erase(self) -> list[str]:
        """Crypto-shred: overwrite the wrapped keys, delete every file, forget the keys."""
        self._writable_key()
        removed = _shred_files(self.path)
        if isinstance(self.source, KeyringKey):
            self.source.forget()
            removed.append(f"OS keyring entry '{self.source.entry_name}'")
        self.close()
        return removed

    @classmethod
    def destroy(cls, path: str | Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> list[str]:
        """Crypto-shred a store without its key (a forgotten passphrase must not block erasure)."""
        path = Path(path)
        lock = cls._acquire(path, lock_timeout)
        try:
            return _shred_files(path)
        finally:
            lock.release()

    def close(self) -> None:
        """Forget the data key and release the lock."""
        self._data_key = None
        self._payload = None
        if self._lock is not None and self._lock.is_locked:
            self._lock.release()

    def describe(self) -> dict[str, str]:
        """Where and how the profile is kept."""
        return {
            "location": str(self.path),
            "encryption": "AES-256-GCM with a random 256-bit data key, fresh nonce per save",
            "key": self.source.describe(),
            "backup": f"{self.path.name}.bak (the previous save, equally encrypted)",
        }


def _shred_files(path: Path) -> list[str]:
    """Shred and delete the store, its backup, set-aside copies and temporary files."""
    removed: list[str] = []
    folder = path.parent
    candidates = [path, path.with_name(path.name + ".bak")]
    candidates += [path.with_name(f"{path.name}.{name}") for name in RECORDS]
    candidates += sorted(folder.glob(f"{path.name}.damaged-*"))
    candidates += sorted(folder.glob(f".{path.name}.*"))
    for file in candidates:
        if not file.exists() or file.name.endswith(".lock"):
            continue
        _shred_header(file)
        file.unlink()
        removed.append(str(file))
    if folder.exists():
        fsync_dir(folder)
    return removed


def _remove_orphans(path: Path) -> None:
    """Shred and delete the temporary files of saves that were killed half-way.

    Only call it holding the store's lock, when no save can be under way.
    """
    orphans = sorted(path.parent.glob(f".{path.name}.*tmp"))
    for orphan in orphans:
        with contextlib.suppress(FileNotFoundError):
            # The backup's temporary name is a hard link to the current file: never
            # shred through a link, only through a file's one name.
            if orphan.stat().st_nlink == 1:
                _shred_header(orphan)
            orphan.unlink()
    if orphans:
        fsync_dir(path.parent)


def _shred_header(file: Path) -> None:
    """Overwrite the start of the file, where the wrapped keys are, with random bytes."""
    with contextlib.suppress(OSError), open(file, "r+b") as f:
        size = min(file.stat().st_size, envelope.MAX_HEADER_BYTES)
        f.write(_hazmat.random_bytes(size))
        f.flush()
        os.fsync(f.fileno())
