"""Where the key-encryption key comes from: a passphrase, a key file, or the OS keyring.

A key source never sees the profile. It only produces the key that wraps the
profile's random data key, so changing a passphrase rewraps 32 bytes and
never re-encrypts the history.
"""

from __future__ import annotations

import base64
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from discreet._fs import atomic_write_bytes
from discreet.errors import KeySourceError, MissingDependencyError
from discreet.i18n import _
from discreet.store import _hazmat

KEY_FILE_MAGIC = b"discreet-key-v1:"


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any) -> bytes:
    """Decode base64 text; raise ``ValueError`` if malformed."""
    if not isinstance(text, str):
        raise ValueError(_("expected base64 text"))
    return base64.b64decode(text.encode("ascii"), validate=True)


def describe_passphrase(params: _hazmat.Argon2Params | None = None) -> str:
    """How a passphrase protects the profile: Argon2id and its cost (by default, a new wrap's)."""
    return _("a passphrase, stretched with {describe}").format(
        describe=(params or _hazmat.Argon2Params()).describe()
    )


class KeySource(ABC):
    """One way to obtain the key-encryption key."""

    #: Recorded in the file header and the data card.
    kind: str

    @abstractmethod
    def derive_new(self) -> tuple[bytes, dict[str, Any]]:
        """A key for a new wrap, and the public parameters to store beside it."""

    @abstractmethod
    def derive_existing(self, entry: dict[str, Any]) -> bytes:
        """The key for an existing wrap, from its stored public parameters."""

    @abstractmethod
    def describe(self) -> str:
        """How this source protects the profile, for the data card."""

    def wrong_key_message(self) -> str:
        """The one-line message for a key that does not open the profile."""
        return _("the {kind} does not open this profile; use the one it was created with").format(
            kind=self.kind
        )


class PassphraseKey(KeySource):
    """A passphrase stretched with Argon2id (parameters stored in the header)."""

    kind = "passphrase"

    def __init__(self, passphrase: str, params: _hazmat.Argon2Params | None = None) -> None:
        if not passphrase:
            raise KeySourceError(_("the passphrase is empty; choose a passphrase"))
        self._secret = passphrase.encode()
        self.params = params or _hazmat.Argon2Params()

    def derive_new(self) -> tuple[bytes, dict[str, Any]]:
        """Derive with a fresh salt."""
        salt = _hazmat.random_bytes(_hazmat.SALT_BYTES)
        return self.params.derive(self._secret, salt), {
            "kdf": "argon2id",
            "params": self.params.to_json(),
            "salt": b64(salt),
        }

    def derive_existing(self, entry: dict[str, Any]) -> bytes:
        """Derive with the stored salt and parameters."""
        params = self.stored_params(entry)
        return params.derive(self._secret, unb64(entry.get("salt")))

    def describe(self) -> str:
        """The KDF and the cost of the wraps this source makes."""
        return describe_passphrase(self.params)

    @staticmethod
    def stored_params(entry: Mapping[str, Any]) -> _hazmat.Argon2Params:
        """The cost a stored wrap was made with; raise ``ValueError`` if malformed."""
        if entry.get("kdf") != "argon2id":
            raise ValueError(_("unknown KDF"))
        return _hazmat.Argon2Params.from_json(entry.get("params"))

    def wrong_key_message(self) -> str:
        """Wrong passphrase."""
        return _("wrong passphrase; try again (set DISCREET_PASSPHRASE or use --passphrase-file)")


class KeyFileKey(KeySource):
    """A random 256-bit key in a file readable only by its owner (headless kiosks)."""

    kind = "keyfile"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: str | Path) -> KeyFileKey:
        """Write a new random key file with mode 0600; refuse to overwrite one."""
        path = Path(path)
        if path.exists():
            raise KeySourceError(
                _("{path} already exists; choose another path or reuse it").format(path=path)
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        key = _hazmat.random_bytes(_hazmat.KEY_BYTES)
        atomic_write_bytes(path, KEY_FILE_MAGIC + key.hex().encode() + b"\n", mode=0o600)
        return cls(path)

    def _key(self) -> bytes:
        try:
            info = self.path.stat()
            data = self.path.read_bytes().strip()
        except OSError as exc:
            raise KeySourceError(
                _("cannot read the key file {path} ({strerror}); check the path").format(
                    path=self.path, strerror=exc.strerror
                )
            ) from None
        if os.name == "posix" and stat.S_IMODE(info.st_mode) & 0o077:
            raise KeySourceError(
                _("the key file {path} is readable by other users; run 'chmod 600 {path}'").format(
                    path=self.path
                )
            )
        if not data.startswith(KEY_FILE_MAGIC):
            raise KeySourceError(_("{path} is not a discreet key file").format(path=self.path))
        try:
            key = bytes.fromhex(data[len(KEY_FILE_MAGIC) :].decode("ascii"))
        except ValueError:
            raise KeySourceError(
                _("{path} is not a discreet key file").format(path=self.path)
            ) from None
        if len(key) != _hazmat.KEY_BYTES:
            raise KeySourceError(_("{path} is not a discreet key file").format(path=self.path))
        return key

    def derive_new(self) -> tuple[bytes, dict[str, Any]]:
        """The file's key."""
        return self._key(), {}

    def derive_existing(self, entry: dict[str, Any]) -> bytes:
        """The file's key."""
        return self._key()

    def describe(self) -> str:
        """Where the key file is."""
        return _("a random 256-bit key in {path} (mode 0600)").format(path=self.path)


class KeyringKey(KeySource):
    """A random 256-bit key kept in the operating system's keyring (``keyring`` extra).

    Each profile needs an entry of its own: create one with :meth:`fresh`, so
    that erasing one profile never shreds another's key. The entry's name is
    kept in the profile's settings (``ProfileHome.configured_key`` finds it).
    """

    kind = "keyring"

    def __init__(self, service: str = "discreet", username: str = "profile-key") -> None:
        self.service = service
        self.username = username

    @classmethod
    def fresh(cls, service: str = "discreet") -> KeyringKey:
        """A source for a new entry under ``service`` (say, the app's name), never shared."""
        return cls(service, f"profile-key-{_hazmat.random_bytes(8).hex()}")

    def _backend(self) -> Any:
        try:
            import keyring  # type: ignore[import-not-found,unused-ignore]
            import keyring.errors  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise MissingDependencyError(
                _("the OS keyring needs the 'keyring' extra: pip install 'discreet[keyring]'")
            ) from None
        return keyring

    def _call(self, operation: str, *args: str) -> Any:
        """One keyring call; a machine without a usable keyring is a :class:`KeySourceError`."""
        backend = self._backend()
        try:
            return getattr(backend, operation)(self.service, self.username, *args)
        except backend.errors.KeyringError as exc:
            raise KeySourceError(
                _(
                    "the OS keyring is not usable here ({name__}); use a key "
                    "file instead: discreet init --keyfile FILE"
                ).format(name__=type(exc).__name__)
            ) from None

    def derive_new(self) -> tuple[bytes, dict[str, Any]]:
        """Create a key in the keyring (or reuse the one there)."""
        stored = self._call("get_password")
        if stored is None:
            stored = _hazmat.random_bytes(_hazmat.KEY_BYTES).hex()
            self._call("set_password", stored)
        return bytes.fromhex(stored), {"service": self.service, "username": self.username}

    def derive_existing(self, entry: dict[str, Any]) -> bytes:
        """Read the key from the keyring."""
        stored = self._call("get_password")
        if stored is None:
            raise KeySourceError(
                _("the profile key is missing from the OS keyring; restore it or erase the profile")
            )
        return bytes.fromhex(stored)

    def forget(self) -> None:
        """Delete the key from the keyring (crypto-shredding)."""
        if self._call("get_password") is not None:
            self._call("delete_password")

    def describe(self) -> str:
        """Where the key lives."""
        return _("a random 256-bit key in the OS keyring (entry '{entry_name}')").format(
            entry_name=self.entry_name
        )

    @property
    def entry_name(self) -> str:
        """``service/username``, as keyring tools show it."""
        return f"{self.service}/{self.username}"
