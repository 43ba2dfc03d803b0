"""Device-side hostile run, part 3: a byte changed at every position of every profile file.

The profile folder holds a profile with history, a consent and a ledger, saved
twice: ``profile.dsc``, its backup, the budget record, the settings and their
copy, and the key file beside them. Each byte of each (or ``--sample N`` seeded
positions per file) is XORed with a seeded non-zero mask, and what follows is
checked by ``tests.profile_flips`` (see its table): caught, with the error that
names it, and the last good state kept. ``tests/test_profile_flips.py`` samples
the same.

Run from the repository root; exits 1 if anything did not hold::

    .venv/bin/python scripts/hostile/device_store_flips.py [--sample N] [--seed 2026]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from tests.profile_flips import PROFILE_FILES, flip_profile_byte, profile_lab  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, help="positions per file (default: every byte)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    started = time.monotonic()
    rng = np.random.default_rng(args.seed)
    held, total, failures = 0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        lab = profile_lab(Path(tmp))
        for name in PROFILE_FILES:
            size = lab.path(name).stat().st_size
            positions = range(size) if args.sample is None else rng.choice(size, args.sample, False)
            outcomes: collections.Counter[str] = collections.Counter()
            for position in positions:
                mask = int(rng.integers(1, 256))
                try:
                    outcomes[flip_profile_byte(lab, name, int(position), mask)] += 1
                except AssertionError as exc:
                    outcomes["DID NOT HOLD"] += 1
                    print(f"DID NOT HOLD: {name} byte {position} ^ {mask:#04x}: {exc}")
                    lab.reset()
            changed = sum(outcomes.values())
            failures += outcomes["DID NOT HOLD"]
            total += changed
            held += changed - outcomes["DID NOT HOLD"]
            print(f"{name} ({size} bytes): {changed} changed")
            for outcome, count in outcomes.most_common():
                print(f"  {count:6}  {outcome}")
    print(
        f"{held}/{total} changed bytes caught with the last good state kept "
        f"({time.monotonic() - started:.0f} s)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
