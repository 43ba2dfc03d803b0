"""A byte changed in every file of a profile folder is caught, and the last good state stays.

A seeded sample of positions; ``scripts/hostile/device_store_flips.py`` changes every byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.profile_flips import PROFILE_FILES, flip_profile_byte, profile_lab


@pytest.mark.parametrize("name", PROFILE_FILES)
def test_a_byte_changed_in_any_profile_file_is_caught(tmp_path: Path, name: str) -> None:
    lab = profile_lab(tmp_path)
    rng = np.random.default_rng([2026, PROFILE_FILES.index(name)])
    size = lab.path(name).stat().st_size
    for position in rng.choice(size, size=8, replace=False):
        # Each check asserts what must hold for that file, then puts every file back.
        flip_profile_byte(lab, name, int(position), int(rng.integers(1, 256)))
