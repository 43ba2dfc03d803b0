"""The publisher's signing keys: Ed25519, PKCS#8 PEM files readable by the owner only.

Keys live in their own folder, apart from the folder that is served to
clients, so that serving the repository can never expose a private key.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner

from discreet._fs import atomic_write_bytes, fsync_dir
from discreet.errors import RepositoryNotFoundError
from discreet.i18n import _

ROLES = ("root", "targets", "snapshot", "timestamp")


def generate_signer() -> tuple[CryptoSigner, bytes]:
    """A fresh Ed25519 signer (from the OS CSPRNG) and its private key as PEM."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return CryptoSigner(private), pem


class KeyFolder:
    """The folder of private keys, one ``<role>.pem`` per TUF role."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self) -> None:
        """Create the folder, readable by the owner only."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=False)
        os.chmod(self.path, 0o700)

    def _file(self, role: str) -> Path:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        return self.path / f"{role}.pem"

    def save(self, role: str, pem: bytes) -> None:
        """Write ``role``'s private key atomically with mode 0600."""
        atomic_write_bytes(self._file(role), pem, mode=0o600)

    def load(self, role: str) -> CryptoSigner:
        """The signer for ``role``; raise :class:`RepositoryNotFoundError` if the key is missing."""
        path = self._file(role)
        try:
            pem = path.read_bytes()
        except OSError:
            raise RepositoryNotFoundError(
                _(
                    "no {role} signing key at {path}; restore the keys folder or run 'publish init'"
                ).format(role=role, path=path)
            ) from None
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise RepositoryNotFoundError(
                _("{path} is not an Ed25519 key; restore the original key").format(path=path)
            )
        return CryptoSigner(private)

    def retire(self, role: str) -> None:
        """Delete ``role``'s key file after rotation (the new key is already saved)."""
        path = self._file(role)
        path.unlink(missing_ok=True)
        fsync_dir(self.path)
