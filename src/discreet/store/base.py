"""The contract every profile store fulfils: an opaque byte payload, kept safe."""

from __future__ import annotations

from abc import ABC, abstractmethod

from discreet._closing import Closable


class ProfileStore(Closable, ABC):
    """Holds one serialised profile. Implementations: encrypted file, memory (kiosk)."""

    @abstractmethod
    def load(self) -> bytes | None:
        """The last saved payload, or ``None`` if nothing was saved."""

    @abstractmethod
    def save(self, payload: bytes) -> None:
        """Replace the payload; either the old or the new one survives any crash."""

    @abstractmethod
    def erase(self) -> list[str]:
        """Destroy everything kept; return a description of each thing removed."""

    @abstractmethod
    def close(self) -> None:
        """Release locks and forget keys held in memory."""

    @abstractmethod
    def describe(self) -> dict[str, str]:
        """Where the data lives and how it is protected, for the data card."""
