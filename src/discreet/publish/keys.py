"""The publisher's signing keys: Ed25519, PKCS#8 PEM files readable by the owner only.

Keys live in their own folder, apart from the folder that is served to
clients, so that serving the repository can never expose a private key.

The four TUF roles (see the README's "Signing keys"):

* **root** signs which keys each role has; needed only to create the
  repository and to rotate a key. It should stay offline: ``publish init
  --offline-root DIR`` writes it to ``DIR``, outside the repository folder,
  encrypted with a passphrase (PKCS#8 with the best encryption
  ``cryptography`` has), and the passphrase is asked for only when root signs;
* **targets** signs each catalog release (``publish build``);
* **snapshot** and **timestamp** are online: the service re-signs them before
  they expire, so they stay unencrypted beside the repository.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner

from discreet._fs import atomic_write_bytes, fsync_dir
from discreet.errors import RepositoryNotFoundError, RootPassphraseError
from discreet.i18n import _

ROLES = ("root", "targets", "snapshot", "timestamp")
_ENCRYPTED = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


def generate_signer(passphrase: str | None = None) -> tuple[CryptoSigner, bytes]:
    """A fresh Ed25519 signer (from the OS CSPRNG) and its private key as PEM,
    encrypted with ``passphrase`` if one is given."""
    private = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
        if passphrase
        else serialization.NoEncryption()
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    return CryptoSigner(private), pem


class KeyFolder:
    """The folder of private keys, one ``<role>.pem`` per TUF role.

    Root's key may sit in a folder of its own (``root_dir``, kept offline) and
    be encrypted; ``passphrase`` is then called, once, the first time it is loaded.
    """

    def __init__(
        self,
        path: Path,
        *,
        root_dir: Path | None = None,
        passphrase: Callable[[], str] | None = None,
    ) -> None:
        self.path = path
        self.root_dir = root_dir
        self._ask = passphrase
        self._passphrase: str | None = None

    def create(self) -> None:
        """Create the folder, readable by the owner only."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=False)
        os.chmod(self.path, 0o700)

    def file_of(self, role: str) -> Path:
        """Where ``role``'s private key is kept."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        folder = self.root_dir if role == "root" and self.root_dir is not None else self.path
        return folder / f"{role}.pem"

    def save(self, role: str, pem: bytes) -> None:
        """Write ``role``'s private key atomically with mode 0600."""
        atomic_write_bytes(self.file_of(role), pem, mode=0o600)

    def passphrase_of(self, role: str) -> str | None:
        """The passphrase ``role``'s key is encrypted with (asked for once), or ``None``."""
        try:
            encrypted = self.file_of(role).read_bytes().startswith(_ENCRYPTED)
        except OSError:
            return None
        if not encrypted:
            return None
        if self._passphrase is None:
            if self._ask is None:
                raise RootPassphraseError(
                    _("the {role} key is encrypted; give its passphrase").format(role=role)
                )
            self._passphrase = self._ask()
        return self._passphrase

    def load(self, role: str) -> CryptoSigner:
        """The signer for ``role``; raise :class:`RepositoryNotFoundError` if the key is missing,
        :class:`RootPassphraseError` if it is encrypted and the passphrase is wrong."""
        path = self.file_of(role)
        try:
            pem = path.read_bytes()
        except OSError:
            message = _(
                "no {role} signing key at {path}; restore the keys folder or run 'publish init'"
            ).format(role=role, path=path)
            if role == "root" and self.root_dir is not None:
                message = _(
                    "no root key at {path}; mount the offline root folder (--offline-root DIR)"
                ).format(path=path)
            raise RepositoryNotFoundError(message) from None
        passphrase = self.passphrase_of(role)
        try:
            private = serialization.load_pem_private_key(
                pem, password=passphrase.encode("utf-8") if passphrase else None
            )
        except ValueError:
            if passphrase is None:
                raise
            self._passphrase = None  # asked again next time
            raise RootPassphraseError(
                _("wrong passphrase for the {role} key at {path}; try again").format(
                    role=role, path=path
                )
            ) from None
        if not isinstance(private, Ed25519PrivateKey):
            raise RepositoryNotFoundError(
                _("{path} is not an Ed25519 key; restore the original key").format(path=path)
            )
        return CryptoSigner(private)

    def retire(self, role: str) -> None:
        """Delete ``role``'s key file after rotation (the new key is already saved)."""
        path = self.file_of(role)
        path.unlink(missing_ok=True)
        fsync_dir(self.path)
