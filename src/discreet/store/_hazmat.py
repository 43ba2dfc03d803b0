"""The dangerous layer: raw AES-256-GCM and Argon2id calls from ``cryptography``.

Nothing here is hand-rolled; this module only fixes sizes and parameters in
one place. Higher layers (:mod:`discreet.store.envelope`) turn every failure
into one opaque error, so callers never learn *why* authentication failed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from discreet.i18n import _, ngettext

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96-bit GCM nonce, fresh from the OS CSPRNG on every encryption
SALT_BYTES = 16

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "Argon2Params",
    "InvalidTag",
    "open_",
    "random_bytes",
    "seal",
]


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the OS CSPRNG."""
    return os.urandom(n)


def seal(key: bytes, plaintext: bytes, associated: bytes) -> tuple[bytes, bytes]:
    """Encrypt with a fresh random nonce; return ``(nonce, ciphertext_with_tag)``."""
    nonce = random_bytes(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, associated)


def open_(key: bytes, nonce: bytes, ciphertext: bytes, associated: bytes) -> bytes:
    """Decrypt and authenticate; raise ``InvalidTag`` on any mismatch."""
    return AESGCM(key).decrypt(nonce, ciphertext, associated)


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost parameters, stored in the file header so they can be raised later.

    The defaults exceed the OWASP minimum (19 MiB, t=2, p=1) and cost well
    over 100 ms per derivation on the reference 2-core machine.
    """

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 1

    #: The OWASP minimum; parameters below it are refused.
    MIN_MEMORY_KIB = 19 * 1024
    MIN_ITERATIONS = 2

    def __post_init__(self) -> None:
        if self.memory_kib < self.MIN_MEMORY_KIB or self.iterations < self.MIN_ITERATIONS:
            raise ValueError("Argon2id parameters are below the OWASP minimum (19 MiB, t=2)")
        if not 1 <= self.lanes <= 16 or self.memory_kib > 4 * 1024 * 1024:
            raise ValueError("Argon2id parameters are out of range")

    def derive(self, secret: bytes, salt: bytes) -> bytes:
        """A 256-bit key from ``secret`` and ``salt``."""
        kdf = Argon2id(
            salt=salt,
            length=KEY_BYTES,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        )
        return kdf.derive(secret)

    def describe(self) -> str:
        """The cost in words, for the data card.

        >>> Argon2Params().describe()
        'Argon2id (64 MiB, 3 passes, 1 lane)'
        """
        lanes = ngettext("{lanes} lane", "{lanes} lanes", self.lanes).format(lanes=self.lanes)
        return _("Argon2id ({mib:g} MiB, {passes} passes, {lanes})").format(
            mib=self.memory_kib / 1024, passes=self.iterations, lanes=lanes
        )

    def to_json(self) -> dict[str, Any]:
        """The parameters as a JSON object."""
        return {"m": self.memory_kib, "t": self.iterations, "p": self.lanes}

    @classmethod
    def from_json(cls, data: Any) -> Argon2Params:
        """Parse parameters from a header; raise ``ValueError`` if malformed."""
        if not isinstance(data, dict) or set(data) != {"m", "t", "p"}:
            raise ValueError("bad Argon2id parameters")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in data.values()):
            raise ValueError("bad Argon2id parameters")
        return cls(data["m"], data["t"], data["p"])
