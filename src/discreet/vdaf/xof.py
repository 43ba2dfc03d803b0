"""XofTurboShake128 (draft section "XofTurboShake128") over pycryptodome's TurboSHAKE128,
and the domain separation tags of section "The Domain Separation Tag and Binder String".
"""

from __future__ import annotations

from Crypto.Hash import TurboSHAKE128

from discreet.vdaf.fields import Field, Vec

__all__ = ["VERSION", "XofTurboShake128", "format_dst"]

#: The draft's ``VERSION`` constant (draft-irtf-cfrg-vdaf-18 to -20 all use 18).
VERSION = 18


def format_dst(algo_class: int, algo: int, usage: int) -> bytes:
    """The draft's ``format_dst``: version, class, algorithm id and usage, big-endian."""
    return (
        VERSION.to_bytes(1, "big")
        + algo_class.to_bytes(1, "big")
        + algo.to_bytes(4, "big")
        + usage.to_bytes(2, "big")
    )


class XofTurboShake128:
    """An XOF stream: ``TurboSHAKE128(len(dst) || dst || len(seed) || seed || binder, 1)``."""

    SEED_SIZE = 32

    def __init__(self, seed: bytes, dst: bytes, binder: bytes) -> None:
        if len(seed) > 255 or len(dst) > 65535:
            raise ValueError("XofTurboShake128 takes a seed of at most 255 bytes")
        message = len(dst).to_bytes(2, "little") + dst + len(seed).to_bytes(1, "little")
        self._stream = TurboSHAKE128.new(domain=1, data=message + seed + binder)

    def next(self, length: int) -> bytes:
        """The next ``length`` bytes of the stream."""
        return self._stream.read(length)

    def next_vec(self, field: Field, length: int) -> Vec:
        """The next ``length`` field elements, by rejection sampling (``next_vec``).

        Exactly as many candidates are read as the draft reads: each round asks
        for the number still missing, so the stream is never read ahead.
        """
        parts = []
        missing = length
        while missing > 0:
            accepted = field.accept(self.next(missing * field.encoded_size))
            parts.append(accepted)
            missing -= field.shape(accepted)[0]
        return field.concat(parts) if parts else field.zeros((0,))

    @classmethod
    def derive_seed(cls, seed: bytes, dst: bytes, binder: bytes) -> bytes:
        """A fresh seed from a seed (the draft's ``derive_seed``)."""
        return cls(seed, dst, binder).next(cls.SEED_SIZE)

    @classmethod
    def expand_into_vec(
        cls, field: Field, seed: bytes, dst: bytes, binder: bytes, length: int
    ) -> Vec:
        """``length`` field elements from a seed (the draft's ``expand_into_vec``)."""
        return cls(seed, dst, binder).next_vec(field, length)
