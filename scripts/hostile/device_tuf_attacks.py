"""Device-side hostile run, part 1: TUF attacks on sync, from a folder and over HTTP.

1. The named attacks: the sync attack tests (rollback, freeze, mix-and-match,
   endless data, tampered and withheld files, foreign and stolen keys, hostile
   signed content, killed syncs, full disks, slow mirrors), each run from a
   folder and over real HTTP on loopback, counted per transport.
2. A byte changed at every position (or ``--sample N`` seeded positions) of
   every file a sync reads (timestamp, snapshot and targets metadata, the five
   catalog files), on a device with v1 installed and v2 offered. Each must be
   refused with the error that names it, on one line, with v1 still in use.

Run from the repository root; exits 1 if anything did not hold::

    .venv/bin/python scripts/hostile/device_tuf_attacks.py [--sample N] [--seed 2026]
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from tests.attack_support import TRANSPORTS, flip_bytes, served_files, serving  # noqa: E402
from tests.conftest import ITEMS, TAXONOMY  # noqa: E402

from discreet.publish.publisher import publish_catalog  # noqa: E402
from discreet.publish.repository import PublisherRepository  # noqa: E402
from discreet.sync.client import sync_catalog  # noqa: E402

ATTACK_TESTS = (
    "tests/test_sync_attacks.py",
    "tests/test_sync_key_compromise.py",
    "tests/test_sync_robustness.py",
    "tests/test_sync_deadline.py",
)


def named_attacks() -> bool:
    """Run the attack tests in a pytest of their own; count them by transport."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "attacks.xml"
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        done = subprocess.run(
            [*pytest, f"--junit-xml={report}", *ATTACK_TESTS],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        cases = ElementTree.parse(report).getroot().iter("testcase")
        counts: collections.Counter[tuple[str, bool]] = collections.Counter()
        failed = []
        for case in cases:
            name = case.get("name", "")
            transport = next((t for t in TRANSPORTS if f"[{t}" in name), "other")
            held = not any(child.tag in ("failure", "error", "skipped") for child in case)
            counts[transport, held] += 1
            if not held:
                failed.append(f"{case.get('classname')}::{name}")
    print("named attacks (the attack tests, each from its own state; other: not per transport):")
    for transport in (*TRANSPORTS, "other"):
        good, bad = counts[transport, True], counts[transport, False]
        print(f"  {transport:7} {good}/{good + bad} held")
    for nodeid in failed:
        print(f"  DID NOT HOLD: {nodeid}")
    if done.returncode != 0 and not failed:
        print(done.stdout[-2000:], done.stderr[-2000:])
    return done.returncode == 0 and not failed


def build_lab(folder: Path) -> tuple[PublisherRepository, Path, Path]:
    """A repository with v2 published, a device home with v1 installed, and a mirror of v2."""
    items, taxonomy = folder / "items.jsonl", folder / "taxonomy.json"
    items.write_text("".join(json.dumps(i) + "\n" for i in ITEMS), encoding="utf-8")
    taxonomy.write_text(json.dumps(TAXONOMY), encoding="utf-8")
    repo = PublisherRepository.init(folder / "repo")
    publish_catalog(repo, items, taxonomy)
    home = folder / "pristine-home"
    sync_catalog(home, str(repo.public), root=repo.trusted_root_path)
    publish_catalog(repo, items, taxonomy)
    mirror = folder / "mirror"
    shutil.copytree(repo.public, mirror)
    return repo, home, mirror


def flipped_bytes(sample: int | None, seed: int) -> bool:
    held = True
    with tempfile.TemporaryDirectory() as tmp:
        repo, home, mirror = build_lab(Path(tmp))
        files = served_files(repo, mirror)
        print("\nbytes changed in the files a sync reads (each against v1 installed):")
        print(f"  {'transport':9} {'file':18} {'changed':>7} {'refused':>7}  outcomes")
        totals: collections.Counter[str] = collections.Counter()
        for transport in TRANSPORTS:
            rng = np.random.default_rng(seed)
            with serving(transport) as reach:
                source = reach(mirror)
                for file, expected in files.items():
                    size = file.stat().st_size
                    positions = range(size) if sample is None else rng.choice(size, sample, False)
                    outcomes: collections.Counter[str] = collections.Counter()
                    for position in positions:
                        try:
                            (flip,) = flip_bytes(
                                home, Path(tmp) / "scratch", source, file, [int(position)], rng
                            )
                        except AssertionError as exc:
                            print(
                                f"  DID NOT HOLD: {transport} {file.name}@{position}: "
                                f"the installed catalog changed ({exc})"
                            )
                            held = False
                            continue
                        good = flip.outcome == expected.__name__ and _one_line(flip.message)
                        benign = flip.outcome == "installed" and flip.same_json
                        outcomes[flip.outcome if good or benign else "UNEXPECTED"] += 1
                        if not (good or benign):
                            print(f"  DID NOT HOLD: {transport} {flip}")
                            held = False
                    refused = outcomes[expected.__name__]
                    name = file.name.split(".", 1)[1] if len(file.name) > 64 else file.name
                    print(
                        f"  {transport:9} {name:18} {sum(outcomes.values()):7} {refused:7}  "
                        f"{dict(outcomes)}"
                    )
                    totals[transport] += sum(outcomes.values())
                    totals[f"{transport} refused"] += refused
        for transport in TRANSPORTS:
            print(f"  {transport}: {totals[f'{transport} refused']}/{totals[transport]} refused")
    return held


def _one_line(message: Any) -> bool:
    text = str(message)
    return "\n" not in text and "previous catalog stays in use" in text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, help="positions per file (default: every byte)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--skip-tests", action="store_true", help="only the byte changes")
    args = parser.parse_args()
    started = time.monotonic()
    held = True if args.skip_tests else named_attacks()
    held = flipped_bytes(args.sample, args.seed) and held
    print(
        f"\n{'everything held' if held else 'SOMETHING DID NOT HOLD'} "
        f"({time.monotonic() - started:.0f} s)"
    )
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
