"""HPKE (RFC 9180) for the aggregators' input shares: one suite, base mode, single shot.

The suite is DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM (``0x0020``,
``0x0001``, ``0x0001``), the one DAP deployments use; pyhpke does the
cryptography (on ``cryptography``'s primitives) and RFC 9180's published test
vectors check it. What this module adds is the shape around it, borrowed from
DAP: an :class:`HpkeConfig` (a one-byte id, the suite's codepoints and the
public key) with its bytes, a :class:`HpkeCiphertext` naming the config it was
sealed to, and key pairs kept in files only their owner can read::

    keypair = generate_keypair(config_id=1)
    write_keypair(path, keypair)                          # 0600, never overwritten
    sealed = seal(keypair.config, info, aad, plaintext)   # the device
    plaintext = open_sealed(read_keypair(path), sealed, info, aad)  # the aggregator

Opening fails with :class:`~discreet.errors.HpkeDecryptError`; a bad config
with :class:`~discreet.errors.HpkeConfigError`; a bad key file with
:class:`~discreet.errors.HpkeKeyError`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import stat
from pathlib import Path

import pyhpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from discreet._fs import atomic_write_bytes, canonical_json
from discreet.errors import HpkeConfigError, HpkeDecryptError, HpkeKeyError
from discreet.i18n import _

__all__ = [
    "AEAD_ID",
    "KDF_ID",
    "KEM_ID",
    "HpkeCiphertext",
    "HpkeConfig",
    "HpkeKeyPair",
    "generate_keypair",
    "open_sealed",
    "read_keypair",
    "seal",
    "write_keypair",
]

KEM_ID = 0x0020  # DHKEM(X25519, HKDF-SHA256)
KDF_ID = 0x0001  # HKDF-SHA256
AEAD_ID = 0x0001  # AES-128-GCM
PUBLIC_KEY_SIZE = 32
KEY_FILE_FORMAT = 1

_SUITE = pyhpke.CipherSuite.new(
    pyhpke.KEMId.DHKEM_X25519_HKDF_SHA256, pyhpke.KDFId.HKDF_SHA256, pyhpke.AEADId.AES128_GCM
)


@dataclasses.dataclass(frozen=True)
class HpkeConfig:
    """An aggregator's public key and how to encrypt to it (DAP's ``HpkeConfig``)."""

    config_id: int
    public_key: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.config_id < 256:
            raise HpkeConfigError(_("an HPKE config id is one byte (0 to 255)"))
        if len(self.public_key) != PUBLIC_KEY_SIZE:
            raise HpkeConfigError(
                _("an X25519 public key is {PUBLIC_KEY_SIZE} bytes").format(
                    PUBLIC_KEY_SIZE=PUBLIC_KEY_SIZE
                )
            )

    def encode(self) -> bytes:
        """``id (1) || kem_id (2) || kdf_id (2) || aead_id (2) || len (2) || public_key``."""
        return (
            bytes([self.config_id])
            + KEM_ID.to_bytes(2, "big")
            + KDF_ID.to_bytes(2, "big")
            + AEAD_ID.to_bytes(2, "big")
            + len(self.public_key).to_bytes(2, "big")
            + self.public_key
        )

    @classmethod
    def decode(cls, data: bytes) -> HpkeConfig:
        """Parse :meth:`encode`'s bytes; raises :class:`HpkeConfigError`."""
        if len(data) != 9 + PUBLIC_KEY_SIZE:
            raise HpkeConfigError(
                _("an HPKE config is {value} bytes").format(value=9 + PUBLIC_KEY_SIZE)
            )
        suite = tuple(int.from_bytes(data[i : i + 2], "big") for i in (1, 3, 5))
        if suite != (KEM_ID, KDF_ID, AEAD_ID):
            raise HpkeConfigError(
                _(
                    "the HPKE config names another suite; this build speaks only "
                    "X25519, HKDF-SHA256 and AES-128-GCM"
                )
            )
        if int.from_bytes(data[7:9], "big") != PUBLIC_KEY_SIZE:
            raise HpkeConfigError(
                _("an X25519 public key is {PUBLIC_KEY_SIZE} bytes").format(
                    PUBLIC_KEY_SIZE=PUBLIC_KEY_SIZE
                )
            )
        return cls(data[0], data[9:])

    def to_text(self) -> str:
        """The config as unpadded base64url, for JSON (the manifest, ``/hpke_config``)."""
        return base64.urlsafe_b64encode(self.encode()).rstrip(b"=").decode("ascii")

    @classmethod
    def from_text(cls, text: str) -> HpkeConfig:
        """Parse :meth:`to_text`; raises :class:`HpkeConfigError`."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (ValueError, TypeError):
            raise HpkeConfigError(_("an HPKE config is unpadded base64url text")) from None
        return cls.decode(raw)


@dataclasses.dataclass(frozen=True)
class HpkeKeyPair:
    """An aggregator's key pair: the private key never leaves its key file."""

    config: HpkeConfig
    private_key: bytes = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class HpkeCiphertext:
    """A sealed message: the config it was sealed to, the encapsulated key, the payload."""

    config_id: int
    enc: bytes
    payload: bytes

    def encode(self) -> bytes:
        """``config_id (1) || len (2) || enc || len (4) || payload`` (DAP's ``HpkeCiphertext``)."""
        return (
            bytes([self.config_id])
            + len(self.enc).to_bytes(2, "big")
            + self.enc
            + len(self.payload).to_bytes(4, "big")
            + self.payload
        )

    @classmethod
    def decode(cls, data: bytes) -> HpkeCiphertext:
        """Parse :meth:`encode`'s bytes; raises :class:`HpkeDecryptError`."""
        if len(data) < 3:
            raise HpkeDecryptError(_("an HPKE ciphertext is truncated; reject the report"))
        enc_end = 3 + int.from_bytes(data[1:3], "big")
        if len(data) < enc_end + 4:
            raise HpkeDecryptError(_("an HPKE ciphertext is truncated; reject the report"))
        payload_end = enc_end + 4 + int.from_bytes(data[enc_end : enc_end + 4], "big")
        if len(data) != payload_end:
            raise HpkeDecryptError(_("an HPKE ciphertext has the wrong length; reject the report"))
        return cls(data[0], data[3:enc_end], data[enc_end + 4 :])


def generate_keypair(config_id: int) -> HpkeKeyPair:
    """A fresh X25519 key pair from the OS CSPRNG."""
    private = X25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return HpkeKeyPair(HpkeConfig(config_id, public), raw)


def seal(config: HpkeConfig, info: bytes, aad: bytes, plaintext: bytes) -> HpkeCiphertext:
    """Encrypt ``plaintext`` to ``config``'s key (base mode; a fresh ephemeral key)."""
    return _seal_with(config, info, aad, plaintext, None)


def _seal_with(
    config: HpkeConfig,
    info: bytes,
    aad: bytes,
    plaintext: bytes,
    ephemeral: pyhpke.KEMKeyPair | None,
) -> HpkeCiphertext:
    try:
        recipient = _SUITE.kem.deserialize_public_key(config.public_key)
    except (ValueError, pyhpke.PyHPKEError):
        raise HpkeConfigError(_("the HPKE public key is not an X25519 point")) from None
    enc, context = _SUITE.create_sender_context(recipient, info=info, eks=ephemeral)
    return HpkeCiphertext(config.config_id, enc, context.seal(plaintext, aad=aad))


def open_sealed(keypair: HpkeKeyPair, sealed: HpkeCiphertext, info: bytes, aad: bytes) -> bytes:
    """Decrypt a :class:`HpkeCiphertext`; raises :class:`HpkeDecryptError` if it does not
    open with this key, ``info`` and ``aad``."""
    if sealed.config_id != keypair.config.config_id:
        raise HpkeDecryptError(
            _(
                "the ciphertext is for HPKE config {config_id}, this "
                "aggregator's is {config_id2}; the device has an old manifest"
            ).format(config_id=sealed.config_id, config_id2=keypair.config.config_id)
        )
    if len(sealed.enc) != PUBLIC_KEY_SIZE:
        raise HpkeDecryptError(_("an HPKE encapsulated key is 32 bytes; reject the report"))
    try:
        private = _SUITE.kem.deserialize_private_key(keypair.private_key)
        context = _SUITE.create_recipient_context(sealed.enc, private, info=info)
        return context.open(sealed.payload, aad=aad)
    except (ValueError, pyhpke.PyHPKEError):
        raise HpkeDecryptError(_("an HPKE ciphertext did not open; reject the report")) from None


def write_keypair(path: Path, keypair: HpkeKeyPair) -> None:
    """Write a key file readable by its owner only (0600); never over an existing file."""
    path = Path(path)
    if path.exists():
        raise HpkeKeyError(
            _("{path} exists; keep it, or remove it to make a new key pair").format(path=path)
        )
    record = {
        "format": KEY_FILE_FORMAT,
        "suite": [KEM_ID, KDF_ID, AEAD_ID],
        "config_id": keypair.config.config_id,
        "public_key": keypair.config.public_key.hex(),
        "private_key": keypair.private_key.hex(),
    }
    atomic_write_bytes(path, canonical_json(record), mode=0o600)


def read_keypair(path: Path) -> HpkeKeyPair:
    """Read a key file; raises :class:`HpkeKeyError` if it is missing, malformed or
    readable by anyone but its owner."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except FileNotFoundError:
        raise HpkeKeyError(
            _("no HPKE key file at {path}; create the aggregator's keys").format(path=path)
        ) from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise HpkeKeyError(
            _("{path} is readable by others; run `chmod 600 {path}`").format(path=path)
        )
    try:
        record = json.loads(raw)
        if record["format"] != KEY_FILE_FORMAT or record["suite"] != [KEM_ID, KDF_ID, AEAD_ID]:
            raise HpkeKeyError(
                _("{path} is a key file of another format or suite").format(path=path)
            )
        private = bytes.fromhex(record["private_key"])
        config = HpkeConfig(int(record["config_id"]), bytes.fromhex(record["public_key"]))
        derived = X25519PrivateKey.from_private_bytes(private).public_key()
    except (ValueError, KeyError, TypeError, HpkeConfigError):
        raise HpkeKeyError(_("{path} is not an HPKE key file").format(path=path)) from None
    if derived.public_bytes(Encoding.Raw, PublicFormat.Raw) != config.public_key:
        raise HpkeKeyError(
            _("{path}: the public key does not match the private key").format(path=path)
        )
    return HpkeKeyPair(config, private)
