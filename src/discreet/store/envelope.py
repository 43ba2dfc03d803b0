"""The encrypted file format: a random data key, wrapped by one or more key sources.

Layout (all integers big-endian)::

    magic (8) | header length (4) | header (JSON) | SHA-256 of the header (32)
    | nonce (12) | AES-256-GCM ciphertext and tag

The header holds the format version, the data key's id, a generation counter
and one *wrap* per key source: the data key encrypted under a key-encryption
key (from a passphrase through Argon2id, a key file, or the OS keyring). The
header is authenticated as associated data of the payload. Its unkeyed
checksum exists only to tell damage apart from a wrong key: a flipped header
byte is reported as corruption, not as a wrong passphrase.

Failures are opaque: :class:`WrongKeyError` when no wrap opens with the given
key, :class:`CorruptStoreError` for anything else.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

from discreet.errors import CorruptStoreError, UnsupportedFormatError, WrongKeyError
from discreet.i18n import _
from discreet.store import _hazmat
from discreet.store.keys import KeySource, b64, unb64

MAGIC = b"\x89DSCRT\r\n"
FORMAT_VERSION = 1
_LENGTH = struct.Struct(">I")
_DIGEST = 32
MAX_HEADER_BYTES = 64 * 1024


def _corrupt() -> CorruptStoreError:
    return CorruptStoreError(
        _("the profile file is damaged or was altered; it cannot be authenticated")
    )


@dataclass(frozen=True)
class Sealed:
    """A parsed, not yet decrypted, store file."""

    header: dict[str, Any]
    associated: bytes
    nonce: bytes
    ciphertext: bytes


def parse(data: bytes) -> Sealed:
    """Split a file into its parts and check the header; raise :class:`CorruptStoreError`."""
    if len(data) < len(MAGIC) + _LENGTH.size or not data.startswith(MAGIC):
        raise _corrupt()
    (length,) = _LENGTH.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + _LENGTH.size
    end = start + length
    if length > MAX_HEADER_BYTES or len(data) < end + _DIGEST + _hazmat.NONCE_BYTES + 16:
        raise _corrupt()
    header_bytes = data[start:end]
    if hashlib.sha256(header_bytes).digest() != data[end : end + _DIGEST]:
        raise _corrupt()
    try:
        header = json.loads(header_bytes)
    except ValueError:
        raise _corrupt() from None
    if not isinstance(header, dict) or not isinstance(header.get("format_version"), int):
        raise _corrupt()
    if header["format_version"] > FORMAT_VERSION:
        raise UnsupportedFormatError(
            _(
                "the profile uses store format {format_version}, newer than "
                "this app reads ({FORMAT_VERSION}); update the app"
            ).format(format_version=header["format_version"], FORMAT_VERSION=FORMAT_VERSION)
        )
    nonce_at = end + _DIGEST
    return Sealed(
        header,
        data[:end],
        data[nonce_at : nonce_at + _hazmat.NONCE_BYTES],
        data[nonce_at + _hazmat.NONCE_BYTES :],
    )


def _wrap_context(key_id: str, source: str) -> bytes:
    return f"discreet/wrap/v1/{key_id}/{source}".encode()


def wrap(source: KeySource, data_key: bytes, key_id: str) -> dict[str, Any]:
    """The header entry that lets ``source`` unwrap ``data_key``."""
    kek, public = source.derive_new()
    nonce, wrapped = _hazmat.seal(kek, data_key, _wrap_context(key_id, source.kind))
    return {**public, "source": source.kind, "nonce": b64(nonce), "key": b64(wrapped)}


def unwrap(header: dict[str, Any], source: KeySource) -> bytes:
    """The data key, using the first wrap of ``source``'s kind that opens.

    Raises :class:`WrongKeyError` if none does.
    """
    key_id = header.get("key_id")
    wraps = header.get("wraps")
    if not isinstance(key_id, str) or not isinstance(wraps, list):
        raise _corrupt()
    candidates = [w for w in wraps if isinstance(w, dict) and w.get("source") == source.kind]
    if not candidates:
        raise WrongKeyError(
            _("this profile is not protected by a {kind}; use the key it was created with").format(
                kind=source.kind
            )
        )
    for entry in candidates:
        try:
            kek = source.derive_existing(entry)
            return _hazmat.open_(
                kek, unb64(entry["nonce"]), unb64(entry["key"]), _wrap_context(key_id, source.kind)
            )
        except _hazmat.InvalidTag:
            continue
        except (KeyError, ValueError):
            raise _corrupt() from None
    raise WrongKeyError(source.wrong_key_message())


def seal(header: dict[str, Any], data_key: bytes, payload: bytes) -> bytes:
    """The complete file bytes for ``payload`` under ``data_key``."""
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    associated = MAGIC + _LENGTH.pack(len(header_bytes)) + header_bytes
    nonce, ciphertext = _hazmat.seal(data_key, payload, associated)
    return associated + hashlib.sha256(header_bytes).digest() + nonce + ciphertext


def open_payload(sealed: Sealed, data_key: bytes) -> bytes:
    """Decrypt the payload; raise :class:`CorruptStoreError` if it fails authentication."""
    try:
        return _hazmat.open_(data_key, sealed.nonce, sealed.ciphertext, sealed.associated)
    except _hazmat.InvalidTag:
        raise _corrupt() from None
