"""Each TUF attack gets its own error, and the previous catalog stays in use.

The attacker controls a mirror: a copy of the served folder that the client
syncs from, as a folder and over real HTTP on loopback (every test runs both
ways). The publisher's own repository is never altered by these tests.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import time_machine
from tuf.api.metadata import Metadata, Root, Timestamp

from discreet.errors import (
    CatalogExpiredError,
    CatalogInvalidError,
    CatalogMetadataTamperedError,
    CatalogMixAndMatchError,
    CatalogOversizedError,
    CatalogRejectedError,
    CatalogRollbackError,
    CatalogSignatureError,
    CatalogTamperedError,
    SourceUnavailableError,
)
from discreet.publish.keys import generate_signer
from discreet.publish.repository import PublisherRepository, utc_now
from discreet.sync.client import sync_catalog
from discreet.sync.fetchers import OVERRUN_PROBE
from discreet.sync.installed import InstalledCatalogs
from tests.attack_support import (
    Served,
    assert_still_v1,
    current_record,
    flip_bytes,
    named_metadata,
    served_files,
    stored_target,
)


def test_tampered_target_is_rejected(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    before = current_record(home)
    source = mirror()
    stored = stored_target(repo, source, "embeddings.npy")
    size = stored.stat().st_size
    stored.write_bytes(np.random.default_rng(1).bytes(size))  # same length, arbitrary content
    with pytest.raises(CatalogTamperedError, match=r"embeddings\.npy does not match") as caught:
        sync_catalog(home, served(source))
    assert not isinstance(caught.value, CatalogMetadataTamperedError)
    assert "previous catalog stays in use" in str(caught.value)
    assert_still_v1(home, before)


def test_truncated_target_is_tampered(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    before = current_record(home)
    source = mirror()
    stored = stored_target(repo, source, "manifest.json")
    stored.write_bytes(stored.read_bytes()[:-1])
    with pytest.raises(CatalogTamperedError, match=r"manifest\.json does not match"):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_withheld_target_is_an_unavailable_source_named_as_such(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    before = current_record(home)
    source = mirror()
    stored_target(repo, source, "taxonomy.json").unlink()
    with pytest.raises(SourceUnavailableError, match=r"taxonomy\.json.*(not found|HTTP 404)"):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_target_a_little_longer_than_signed_is_tampered_not_endless_data(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    """Regression: ten bytes too many were called an endless-data attack."""
    before = current_record(home)
    source = mirror()
    stored = stored_target(repo, source, "items.jsonl")
    size = stored.stat().st_size
    with stored.open("ab") as f:
        f.write(b"0123456789")
    with pytest.raises(
        CatalogTamperedError,
        match=re.escape(
            f"items.jsonl is {size + 10} bytes, more than the {size} signed, so it was "
            "tampered with or corrupted in transit; the previous catalog stays in use"
        ),
    ):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_timestamp_altered_after_signing_is_tampered(
    synced_v1: Path, mirror: Callable[[], Path], home: Path, served: Served
) -> None:
    """Regression: bytes altered under a trusted key's signature were "not signed by it"."""
    before = current_record(home)
    source = mirror()
    timestamp = source / "metadata" / "timestamp.json"
    doc = json.loads(timestamp.read_bytes())
    doc["signed"]["expires"] = "2099-01-01T00:00:00Z"  # signed bytes change, signature does not
    timestamp.write_text(json.dumps(doc))
    with pytest.raises(
        CatalogMetadataTamperedError,
        match="timestamp metadata does not match its signature, so it was tampered with "
        "or corrupted in transit",
    ):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_timestamp_with_its_key_id_altered_is_tampered(
    synced_v1: Path, mirror: Callable[[], Path], home: Path, served: Served
) -> None:
    """The trusted key's signature is still there, under another id: altered, not foreign."""
    before = current_record(home)
    source = mirror()
    timestamp = source / "metadata" / "timestamp.json"
    doc = json.loads(timestamp.read_bytes())
    keyid = doc["signatures"][0]["keyid"]
    doc["signatures"][0]["keyid"] = ("1" if keyid[0] == "0" else "0") + keyid[1:]
    timestamp.write_text(json.dumps(doc))
    with pytest.raises(CatalogMetadataTamperedError, match="does not match its signature"):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_timestamp_that_is_no_longer_metadata_is_tampered(
    synced_v1: Path, mirror: Callable[[], Path], home: Path, served: Served
) -> None:
    before = current_record(home)
    source = mirror()
    timestamp = source / "metadata" / "timestamp.json"
    data = timestamp.read_bytes()
    timestamp.write_bytes(data.replace(b'"signed"', b'"signeD"', 1))  # one byte, same length
    with pytest.raises(CatalogMetadataTamperedError, match="timestamp metadata is not valid"):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_timestamp_signed_by_another_key_is_not_signed_by_trusted_keys(
    synced_v1: Path, mirror: Callable[[], Path], home: Path, served: Served
) -> None:
    """Well-formed, signed, but by a key the root does not trust: not "tampered"."""
    before = current_record(home)
    source = mirror()
    timestamp = source / "metadata" / "timestamp.json"
    forged = Metadata[Timestamp].from_bytes(timestamp.read_bytes())
    forged.signed.expires = utc_now() + dt.timedelta(days=365)
    attacker, _ = generate_signer()
    forged.signatures.clear()
    forged.sign(attacker)
    timestamp.write_bytes(forged.to_bytes())
    with pytest.raises(CatalogSignatureError, match="not signed by the keys this device trusts"):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


@pytest.mark.parametrize("role", ["snapshot", "targets"])
def test_metadata_altered_at_the_same_length_is_tampered_not_mix_and_match(
    synced_v1: Path, mirror: Callable[[], Path], home: Path, served: Served, role: str
) -> None:
    """Regression: one byte changed was reported as "mix-and-match"."""
    before = current_record(home)
    source = mirror()
    named = named_metadata(source, role)
    data = bytearray(named.read_bytes())
    data[len(data) // 2] ^= 0x01
    named.write_bytes(bytes(data))
    with pytest.raises(
        CatalogMetadataTamperedError,
        match=f"the source's {role} metadata does not match the length and hash signed for it, "
        "so it was tampered with or corrupted in transit; the previous catalog stays in use",
    ):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


@pytest.mark.parametrize("role", ["snapshot", "targets"])
@pytest.mark.parametrize("extra", [b"\n", b"0123456789"])
def test_metadata_a_little_longer_than_signed_is_tampered_not_endless_data(
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
    role: str,
    extra: bytes,
) -> None:
    """Regression: bytes appended (even whitespace TUF's parser ignores) were "endless data"."""
    before = current_record(home)
    source = mirror()
    named = named_metadata(source, role)
    size = named.stat().st_size
    named.write_bytes(named.read_bytes() + extra)
    with pytest.raises(
        CatalogMetadataTamperedError,
        match=f"the source's {role} metadata is {size + len(extra)} bytes, more than the {size} "
        "allowed, so it was tampered with or corrupted in transit",
    ):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


@pytest.mark.parametrize("role", ["snapshot", "targets"])
def test_metadata_that_goes_on_past_its_signed_length_is_endless_data(
    synced_v1: Path, mirror: Callable[[], Path], home: Path, served: Served, role: str
) -> None:
    before = current_record(home)
    source = mirror()
    named = named_metadata(source, role)
    named.write_bytes(named.read_bytes() + b" " * (OVERRUN_PROBE + 1))
    with pytest.raises(
        CatalogOversizedError, match=f"kept sending {role} metadata .* \\(endless data\\)"
    ):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_rotated_root_altered_after_signing_is_tampered(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    """The next root, signed by the trusted root key, then altered: tampered, not foreign."""
    before = current_record(home)
    with repo.lock():
        assert repo.rotate_key("timestamp") == 2
    source = mirror()
    rotated = source / "metadata" / "2.root.json"
    doc = json.loads(rotated.read_bytes())
    doc["signed"]["expires"] = "2099-01-01T00:00:00Z"
    rotated.write_text(json.dumps(doc))
    with pytest.raises(CatalogMetadataTamperedError, match="root metadata does not match its sig"):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_root_signed_by_an_attacker_is_rejected(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    before = current_record(home)
    source = mirror()
    root = Metadata[Root].from_bytes(repo.trusted_root_path.read_bytes())
    attacker, _ = generate_signer()
    for keyid in list(root.signed.roles["root"].keyids):
        root.signed.revoke_key(keyid, "root")
    root.signed.add_key(attacker.public_key, "root")
    root.signed.version = 2
    root.sign(attacker)
    (source / "metadata" / "2.root.json").write_bytes(root.to_bytes())
    with pytest.raises(CatalogSignatureError, match="not signed by the keys this device trusts"):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_rollback_to_older_metadata_is_rejected(
    repo: PublisherRepository,
    publish: Callable[..., object],
    mirror: Callable[[], Path],
    home: Path,
    tmp_path: Path,
    served: Served,
) -> None:
    publish()
    old = tmp_path / "old-release"
    shutil.copytree(repo.public, old)
    publish()
    source = mirror()
    sync_catalog(home, str(source), root=repo.trusted_root_path)
    before = current_record(home)
    assert InstalledCatalogs(home).open().version == 2
    with pytest.raises(CatalogRollbackError):
        sync_catalog(home, served(old))
    assert current_record(home) == before
    assert InstalledCatalogs(home).open().version == 2


def test_rollback_of_the_timestamp_alone_is_rejected(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    old_timestamp = (synced_v1 / "metadata" / "timestamp.json").read_bytes()
    assert sync_catalog(home, served(mirror())).version == 2
    before = current_record(home)
    source = mirror()
    (source / "metadata" / "timestamp.json").write_bytes(old_timestamp)
    with pytest.raises(CatalogRollbackError, match="rollback"):
        sync_catalog(home, served(source))
    assert current_record(home) == before


def test_expired_timestamp_signed_in_the_past_is_rejected(
    repo: PublisherRepository,
    publish: Callable[..., object],
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    publish()
    sync_catalog(home, str(mirror()), root=repo.trusted_root_path)
    before = current_record(home)
    publish(now=utc_now() - dt.timedelta(days=3))  # expiries are now in the past
    with pytest.raises(CatalogExpiredError, match="freeze"):
        sync_catalog(home, served(mirror()))
    assert_still_v1(home, before)


def test_frozen_mirror_is_detected_when_the_client_clock_moves_on(
    repo: PublisherRepository,
    publish: Callable[..., object],
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    publish()
    frozen = mirror()
    sync_catalog(home, str(frozen), root=repo.trusted_root_path)
    before = current_record(home)
    # The mirror keeps serving the same, once valid, timestamp: two days later it has expired.
    with (
        time_machine.travel(utc_now() + dt.timedelta(days=2), tick=False),
        pytest.raises(CatalogExpiredError),
    ):
        sync_catalog(home, served(frozen))
    assert_still_v1(home, before)


def test_endless_target_data_is_cut_off(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    before = current_record(home)
    source = mirror()
    stored = stored_target(repo, source, "items.jsonl")
    with stored.open("ab") as f:
        f.write(b"x" * (8 << 20))
    with pytest.raises(CatalogOversizedError, match=r"items\.jsonl .*endless data"):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_endless_metadata_is_cut_off(
    synced_v1: Path, mirror: Callable[[], Path], home: Path, served: Served
) -> None:
    before = current_record(home)
    source = mirror()
    (source / "metadata" / "timestamp.json").write_bytes(b" " * (1 << 20))
    with pytest.raises(CatalogOversizedError, match=r"timestamp metadata .*endless data"):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_signed_release_over_the_device_limit_is_refused(
    synced_v1: Path, mirror: Callable[[], Path], home: Path, served: Served
) -> None:
    before = current_record(home)
    with pytest.raises(CatalogOversizedError, match="over this device's limit"):
        sync_catalog(home, served(mirror()), max_release_bytes=1000)
    assert_still_v1(home, before)


@pytest.mark.parametrize("role", ["snapshot", "targets"])
def test_mix_and_match_metadata_is_rejected(
    synced_v1: Path, mirror: Callable[[], Path], home: Path, served: Served, role: str
) -> None:
    before = current_record(home)
    source = mirror()
    # The timestamp names snapshot v3, which names targets v3: serve v2 under that name.
    named = named_metadata(source, role)
    assert named.name == f"3.{role}.json"
    named.write_bytes((named.parent / f"2.{role}.json").read_bytes())
    with pytest.raises(
        CatalogMixAndMatchError,
        match=f"mix-and-match: the source offers {role} v2 where the release names v3",
    ):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_mix_and_match_with_a_longer_file_is_still_mix_and_match(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    """Another release's genuine file that is longer than the one named: not "tampered"."""
    before = current_record(home)
    source = mirror()
    named = named_metadata(source, "targets")
    with repo.lock():  # re-sign targets up to v10: a version number one digit longer
        for _ in range(10 - int(named.name.split(".")[0])):
            repo.refresh(roles={"targets"})
    later = named_metadata(repo.public, "targets")
    assert later.name == "10.targets.json"
    assert later.stat().st_size > named.stat().st_size
    named.write_bytes(later.read_bytes())
    with pytest.raises(
        CatalogMixAndMatchError, match="the source offers targets v10 where the release names v3"
    ):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_signed_but_hostile_content_is_rejected(
    repo: PublisherRepository, synced_v1: Path, home: Path, tmp_path: Path, served: Served
) -> None:
    """A compromised build may sign anything: a pickled array must never be loaded."""
    before = current_record(home)
    release = tmp_path / "hostile"
    release.mkdir()
    for name, target in repo.current_targets().items():
        shutil.copy(repo.target_path(target), release / name.removeprefix("catalog/"))
    np.save(release / "embeddings.npy", np.array([{"x": 1}] * 8, dtype=object), allow_pickle=True)
    with repo.lock():
        repo.publish_targets({p.name: p for p in release.iterdir()})
    with pytest.raises(CatalogInvalidError):
        sync_catalog(home, served(repo.public))
    assert_still_v1(home, before)


def test_a_byte_changed_in_any_served_file_is_refused_and_named(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
    tmp_path: Path,
) -> None:
    """A seeded sample here; ``scripts/hostile/device_tuf_attacks.py`` changes every byte."""
    source = mirror()
    rng = np.random.default_rng(15)
    files = served_files(repo, source)
    assert len(files) == 8
    for file, expected in files.items():
        positions = rng.choice(file.stat().st_size, size=2, replace=False)
        for flip in flip_bytes(home, tmp_path / "scratch", served(source), file, positions, rng):
            assert flip.outcome == expected.__name__, flip
            assert "\n" not in flip.message
            assert "previous catalog stays in use" in flip.message


def test_every_attack_error_is_a_rejection() -> None:
    for cls in (
        CatalogTamperedError,
        CatalogMetadataTamperedError,
        CatalogSignatureError,
        CatalogRollbackError,
        CatalogExpiredError,
        CatalogOversizedError,
        CatalogMixAndMatchError,
        CatalogInvalidError,
    ):
        assert issubclass(cls, CatalogRejectedError)


def test_items_split_across_lines_are_rejected(tmp_path: Path) -> None:
    """One record per line, always: a record spread over lines cannot shift row look-ups."""
    from discreet.catalog.reader import parse_jsonl

    assert parse_jsonl(b'{"id": "a"}\n{"id": "b"}\n') == [{"id": "a"}, {"id": "b"}]
    for hostile in (
        b'{"x": [1\n2]}\n{"y": 1}\n',
        b'{"a": 1} {"b": 2}\n',
        b'{"a": 1}\n\n{"b": 2}\n',
    ):
        with pytest.raises(ValueError):
            parse_jsonl(hostile)


def test_release_asking_to_report_a_sensitive_topic_is_rejected(
    repo: PublisherRepository, synced_v1: Path, home: Path, tmp_path: Path, served: Served
) -> None:
    """Even a validly signed catalog cannot make devices report sensitive categories."""
    before = current_record(home)
    release = tmp_path / "greedy"
    release.mkdir()
    for name, target in repo.current_targets().items():
        shutil.copy(repo.target_path(target), release / name.removeprefix("catalog/"))
    manifest = json.loads((release / "manifest.json").read_bytes())
    categories = manifest["reporting"]["kinds"]["category"]
    categories["categories"] = [*categories["categories"][:-1], "health"]
    (release / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with repo.lock():
        repo.publish_targets({p.name: p for p in release.iterdir()})
    with pytest.raises(CatalogInvalidError, match="sensitive"):
        sync_catalog(home, served(repo.public))
    assert_still_v1(home, before)
