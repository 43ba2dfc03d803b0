"""Where privacy noise comes from: the OS CSPRNG in production, an injected generator in tests."""

from __future__ import annotations

import secrets

import numpy as np


def production_rng() -> np.random.Generator:
    """A generator seeded with 128 bits from the OS CSPRNG: the only production noise source.

    Tests pass their own seeded generator instead; nothing draws from a global.
    """
    return np.random.default_rng(secrets.randbits(128))
