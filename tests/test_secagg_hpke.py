"""HPKE for the aggregators: RFC 9180's published vectors, sealing and opening, the
config's bytes and the key files."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pyhpke
import pytest

from discreet.errors import HpkeConfigError, HpkeDecryptError, HpkeKeyError
from discreet.secagg import hpke

VECTORS = Path(__file__).parent / "data" / "hpke" / "x25519_sha256_aes128gcm_base.txt"


Record = dict[str, str]


def parse_rfc_section(text: str) -> tuple[Record, list[Record], list[Record]]:
    """The setup, the encryptions and the exports of one RFC 9180 appendix section.

    Each block between ``~~~`` fences is ``name: hex`` lines, a value running on
    to the following lines that hold only hex; a blank line starts a new record.
    """
    blocks = re.findall(r"~~~\n(.*?)~~~", text, flags=re.S)
    assert len(blocks) == 3, "a base-mode section has setup, encryptions and exports"

    def records(block: str) -> list[dict[str, str]]:
        out: list[dict[str, str]] = [{}]
        key = None
        for line in block.splitlines():
            if not line.strip():
                out.append({})
                continue
            match = re.fullmatch(r"([a-z_A-Z ]+):\s*([0-9a-f]*)", line)
            if match:
                key = match.group(1)
                out[-1][key] = match.group(2)
            else:
                assert key is not None, line
                assert re.fullmatch(r"[0-9a-f]+", line), line
                out[-1][key] += line
        return [r for r in out if r]

    (setup,) = records(blocks[0])
    return setup, records(blocks[1]), records(blocks[2])


SETUP, ENCRYPTIONS, EXPORTS = parse_rfc_section(VECTORS.read_text(encoding="utf-8"))


def _h(name: str, record: dict[str, str] = SETUP) -> bytes:
    return bytes.fromhex(record[name])


def test_the_vector_file_is_the_suite_we_use() -> None:
    assert (int(SETUP["mode"]), int(SETUP["kem_id"]), int(SETUP["kdf_id"])) == (0, 32, 1)
    assert int(SETUP["aead_id"]) == hpke.AEAD_ID
    assert (hpke.KEM_ID, hpke.KDF_ID) == (32, 1)
    assert len(ENCRYPTIONS) == 6
    assert len(EXPORTS) == 3


def _sender() -> tuple[bytes, pyhpke.ContextInterface]:
    suite = hpke._SUITE
    ephemeral = suite.kem.derive_key_pair(_h("ikmE"))
    recipient = suite.kem.derive_key_pair(_h("ikmR"))
    return suite.create_sender_context(recipient.public_key, info=_h("info"), eks=ephemeral)


def test_derive_key_pair_matches_the_vectors() -> None:
    for who in ("E", "R"):
        pair = hpke._SUITE.kem.derive_key_pair(_h(f"ikm{who}"))
        assert pair.public_key.to_public_bytes() == _h(f"pk{who}m")
        assert pair.private_key.to_private_bytes() == _h(f"sk{who}m")


def test_every_encryption_and_export_matches_the_vectors() -> None:
    enc, sender = _sender()
    assert enc == _h("enc")
    recipient = hpke._SUITE.create_recipient_context(
        enc, hpke._SUITE.kem.deserialize_private_key(_h("skRm")), info=_h("info")
    )
    sequence = 0
    for record in ENCRYPTIONS:
        while sequence < int(record["sequence number"]):  # advance the nonce sequence
            recipient.open(sender.seal(b"skip"), aad=b"")
            sequence += 1
        ct = sender.seal(_h("pt", record), aad=_h("aad", record))
        assert ct == _h("ct", record)
        assert recipient.open(ct, aad=_h("aad", record)) == _h("pt", record)
        sequence += 1
    for record in EXPORTS:
        context = bytes.fromhex(record["exporter_context"])
        assert sender.export(context, int(record["L"])) == _h("exported_value", record)


def test_our_seal_and_open_reproduce_the_first_vector() -> None:
    ephemeral = hpke._SUITE.kem.derive_key_pair(_h("ikmE"))
    config = hpke.HpkeConfig(7, _h("pkRm"))
    first = ENCRYPTIONS[0]
    sealed = hpke._seal_with(config, _h("info"), _h("aad", first), _h("pt", first), ephemeral)
    assert (sealed.config_id, sealed.enc, sealed.payload) == (7, _h("enc"), _h("ct", first))
    keypair = hpke.HpkeKeyPair(config, _h("skRm"))
    decoded = hpke.HpkeCiphertext.decode(sealed.encode())
    assert hpke.open_sealed(keypair, decoded, _h("info"), _h("aad", first)) == _h("pt", first)


def test_seal_uses_a_fresh_ephemeral_key_and_only_the_right_context_opens() -> None:
    keypair = hpke.generate_keypair(3)
    one = hpke.seal(keypair.config, b"info", b"aad", b"share")
    two = hpke.seal(keypair.config, b"info", b"aad", b"share")
    assert one.enc != two.enc
    assert one.payload != two.payload
    assert hpke.open_sealed(keypair, one, b"info", b"aad") == b"share"
    for info, aad in ((b"other", b"aad"), (b"info", b"other")):
        with pytest.raises(HpkeDecryptError):
            hpke.open_sealed(keypair, one, info, aad)
    flipped = hpke.HpkeCiphertext(3, one.enc, bytes([one.payload[0] ^ 1]) + one.payload[1:])
    with pytest.raises(HpkeDecryptError):
        hpke.open_sealed(keypair, flipped, b"info", b"aad")
    with pytest.raises(HpkeDecryptError, match="old manifest"):
        hpke.open_sealed(hpke.generate_keypair(4), one, b"info", b"aad")
    with pytest.raises(HpkeDecryptError):  # another key pair with the same id
        hpke.open_sealed(hpke.generate_keypair(3), one, b"info", b"aad")


@pytest.mark.parametrize("cut", [0, 2, 10, 36, -1])
def test_a_truncated_or_padded_ciphertext_is_refused(cut: int) -> None:
    data = hpke.seal(hpke.generate_keypair(1).config, b"", b"", b"x").encode()
    with pytest.raises(HpkeDecryptError):
        hpke.HpkeCiphertext.decode(data[:cut])
    with pytest.raises(HpkeDecryptError):
        hpke.HpkeCiphertext.decode(data + b"\0")


def test_the_config_round_trips_and_refuses_other_suites() -> None:
    config = hpke.generate_keypair(9).config
    data = config.encode()
    assert data[:9] == bytes([9, 0, 0x20, 0, 1, 0, 1, 0, 32])
    assert hpke.HpkeConfig.decode(data) == config
    assert hpke.HpkeConfig.from_text(config.to_text()) == config
    assert "=" not in config.to_text()
    chacha = data[:5] + (3).to_bytes(2, "big") + data[7:]
    with pytest.raises(HpkeConfigError, match="another suite"):
        hpke.HpkeConfig.decode(chacha)
    for bad in (data[:-1], data + b"\0", b""):
        with pytest.raises(HpkeConfigError):
            hpke.HpkeConfig.decode(bad)
    with pytest.raises(HpkeConfigError):
        hpke.HpkeConfig.from_text("not base64 !")
    with pytest.raises(HpkeConfigError):
        hpke.HpkeConfig(256, config.public_key)


def test_key_files_are_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "helper.key"
    keypair = hpke.generate_keypair(2)
    hpke.write_keypair(path, keypair)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert hpke.read_keypair(path) == keypair
    with pytest.raises(HpkeKeyError, match="exists"):
        hpke.write_keypair(path, hpke.generate_keypair(2))
    assert hpke.read_keypair(path) == keypair
    os.chmod(path, 0o640)
    with pytest.raises(HpkeKeyError, match="chmod 600"):
        hpke.read_keypair(path)


def test_bad_key_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(HpkeKeyError, match="no HPKE key file"):
        hpke.read_keypair(tmp_path / "missing.key")
    good = hpke.generate_keypair(1)
    other = hpke.generate_keypair(1)
    mismatched = hpke.HpkeKeyPair(good.config, other.private_key)
    hpke.write_keypair(tmp_path / "mismatch.key", mismatched)
    with pytest.raises(HpkeKeyError, match="does not match"):
        hpke.read_keypair(tmp_path / "mismatch.key")
    for i, text in enumerate(["{", '{"format": 1}', "[]", '{"format": 2, "suite": [32, 1, 1]}']):
        path = tmp_path / f"bad{i}.key"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        with pytest.raises(HpkeKeyError):
            hpke.read_keypair(path)
