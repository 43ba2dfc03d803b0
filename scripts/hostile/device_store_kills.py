"""Device-side hostile run, part 2: ``kill -9`` in the middle of profile saves.

Real child processes save a profile forever and are killed: paused exactly
before each step of a save (``--paused-per-step`` times per step), then at
moments nobody chose (``--free``). After every kill the profile must open with
every save the child reported, the backup must authenticate one save behind
at most, the budget record must authenticate, and the leftovers of the killed
save must be gone after the open. The campaign is ``tests.crash_support.kill_saves``,
which ``tests/test_profile_crash.py`` runs at a smaller scale.

Run from the repository root; exits 1 if anything did not hold::

    .venv/bin/python scripts/hostile/device_store_kills.py [--paused-per-step 12] [--free 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.crash_support import SAVE_STEPS, kill_saves  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paused-per-step", type=int, default=12, help="a multiple of 3")
    parser.add_argument("--free", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            campaign = kill_saves(
                Path(tmp), paused_per_step=args.paused_per_step, free=args.free, seed=args.seed
            )
        except AssertionError as exc:
            print(f"DID NOT HOLD: {exc!r}")
            return 1
    print("kills paused before each step of a save:")
    for step in range(len(SAVE_STEPS)):
        label = f"{step}: {SAVE_STEPS[step]}"
        print(f"  {label:34} {campaign.interrupted[label]}")
    print(f"kills at moments nobody chose: {campaign.free_kills}")
    print(
        f"{campaign.kills}/{campaign.kills} killed saves recovered: every reported save kept, "
        f"backup authentic, budget record authentic; {campaign.orphans_removed} leftover "
        f"temporary files removed at the next open; {campaign.events} events at the end "
        f"({time.monotonic() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
