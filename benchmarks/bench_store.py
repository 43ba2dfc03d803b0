"""Encrypted profile store: open, record + save, and key derivation.

Beside each encrypted figure, in the same run, the same payload is written and
read as plain JSON with the same durability (atomic replace + fsync), so the
cost of encryption and of the profile format is visible on its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _harness import table
from discreet._fs import atomic_write_bytes
from discreet.profile.model import Profile, RetentionPolicy
from discreet.profile.session import ProfileConfig, ProfileHome
from discreet.store import Argon2Params, KeyFileKey, PassphraseKey

DAY = dt.date(2026, 11, 29)


def _timed(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def _profile_row(tmp: Path, events: int, repeat: int) -> dict[str, object]:
    key = KeyFileKey.create(tmp / f"k{events}.key")
    home = ProfileHome(tmp / f"home{events}")
    policy = RetentionPolicy(max_events=max(events, 5_000))
    session = home.create(key, ProfileConfig("standard", "keyfile", str(key.path), policy), DAY)
    assert session is not None
    for i in range(events):
        session.profile.record(f"lb-{i:06d}", "view", DAY - dt.timedelta(days=i % 150))
    session.save()
    payload = session.profile.to_bytes()
    session.close()

    def open_profile() -> None:
        home.open(key).close()

    opened = _timed(open_profile, repeat)
    session = home.open(key)
    counter = iter(range(10**9))

    def record_and_save() -> None:
        session.profile.record(f"new-{next(counter)}", "like", DAY)
        session.save()

    saved = _timed(record_and_save, repeat)
    session.close()
    plain = tmp / f"plain{events}.json"
    plain_write = _timed(lambda: atomic_write_bytes(plain, payload), repeat)
    plain_read = _timed(lambda: Profile.from_bytes(plain.read_bytes()), repeat)
    return {
        "events": events,
        "payload_kib": len(payload) / 1024,
        "open_p50_ms": opened[0],
        "open_p95_ms": opened[1],
        "save_p50_ms": saved[0],
        "save_p95_ms": saved[1],
        "plain_read_p50_ms": plain_read[0],
        "plain_write_p50_ms": plain_write[0],
    }


def main(quick: bool = False) -> str:
    repeat = 10 if quick else 40
    with tempfile.TemporaryDirectory() as tmp:
        rows = [_profile_row(Path(tmp), n, repeat) for n in (1_000, 5_000, 10_000)]
        default = Argon2Params()
        kdf = _timed(lambda: default.derive(b"passphrase", b"0123456789abcdef"), 5)
        minimum = Argon2Params(memory_kib=19 * 1024, iterations=2)
        kdf_min = _timed(lambda: minimum.derive(b"passphrase", b"0123456789abcdef"), 5)
        key = PassphraseKey("a passphrase")
        home = ProfileHome(Path(tmp) / "pp")
        session = home.create(key, ProfileConfig(), DAY)
        assert session is not None
        session.close()
        full = _timed(lambda: home.open(key).close(), 5)
    kdf_rows = [
        {"what": "Argon2id default (64 MiB, t=3, p=1)", "p50_ms": kdf[0], "p95_ms": kdf[1]},
        {
            "what": "Argon2id OWASP minimum (19 MiB, t=2)",
            "p50_ms": kdf_min[0],
            "p95_ms": kdf_min[1],
        },
        {"what": "open with a passphrase (KDF + decrypt)", "p50_ms": full[0], "p95_ms": full[1]},
    ]
    first = table(
        "encrypted profile store (key file source, so no KDF): open and record + save",
        rows,
        [
            "events",
            "payload_kib",
            "open_p50_ms",
            "open_p95_ms",
            "save_p50_ms",
            "save_p95_ms",
            "plain_read_p50_ms",
            "plain_write_p50_ms",
        ],
    )
    return first + "\n\n" + table("key derivation", kdf_rows, ["what", "p50_ms", "p95_ms"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    print(main(parser.parse_args().quick))
