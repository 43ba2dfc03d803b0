"""Profile stores: encrypted file (``EncryptedStore``) and in-memory kiosk (``MemoryStore``)."""

from discreet.store._hazmat import Argon2Params
from discreet.store.base import ProfileStore
from discreet.store.encrypted import EncryptedStore
from discreet.store.keys import KeyFileKey, KeyringKey, KeySource, PassphraseKey
from discreet.store.memory import MemoryStore

__all__ = [
    "Argon2Params",
    "EncryptedStore",
    "KeyFileKey",
    "KeySource",
    "KeyringKey",
    "MemoryStore",
    "PassphraseKey",
    "ProfileStore",
]
