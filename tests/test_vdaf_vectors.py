"""Every published Prio3 test vector of draft-irtf-cfrg-vdaf-20, byte for byte.

Each vector lists the operations to run and whether each succeeds; the
``_bad_`` vectors are reports the aggregators must reject. See
``tests/data/vdaf/README.md`` for where the files come from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from discreet.vdaf import FIELD128, VdafVerifyError
from discreet.vdaf.prio3 import Prio3
from discreet.vdaf.xof import XofTurboShake128
from tests.vdaf_support import VECTORS, load, prio3_from_vector

PRIO3_FILES = sorted(VECTORS.glob("Prio3*.json"))
VARIANTS = ("Prio3Count", "Prio3Sum", "Prio3SumVec", "Prio3Histogram", "Prio3MultihotCountVec")


def test_the_vector_files_are_all_there() -> None:
    names = [path.stem for path in PRIO3_FILES]
    assert len(names) == 24
    for variant in VARIANTS:
        assert f"{variant}_0" in names
    assert sum("_bad_" in name for name in names) == 8


def _run(vdaf: Prio3[Any, Any], vector: dict[str, Any]) -> list[str]:
    """Run the vector's operations; return the ones that ran, as ``name:outcome``."""
    ctx = bytes.fromhex(vector["ctx"])
    verify_key = bytes.fromhex(vector["verify_key"])
    reports = vector["reports"]
    states: dict[tuple[int, int], Any] = {}
    out_shares: dict[int, list[Any]] = {}
    done = []
    for op in vector["operations"]:
        kind, success = op["operation"], op["success"]
        # Batch operations (aggregate, unshard) name no report; their branches use none.
        report: dict[str, Any] = reports[op.get("report_index", 0)]
        agg_id: int = op.get("aggregator_id", -1)
        if kind == "shard":
            sharded = vdaf.shard(
                ctx,
                report["measurement"],
                nonce=bytes.fromhex(report["nonce"]),
                rand=bytes.fromhex(report["rand"]),
            )
            assert vdaf.encode_public_share(sharded.public_share).hex() == report["public_share"]
            encoded = [vdaf.encode_input_share(share).hex() for share in sharded.input_shares]
            assert encoded == report["input_shares"]
        elif kind == "verify_init":
            state, prep_share = vdaf.prep_init(
                verify_key,
                ctx,
                agg_id,
                bytes.fromhex(report["nonce"]),
                vdaf.decode_public_share(bytes.fromhex(report["public_share"])),
                vdaf.decode_input_share(agg_id, bytes.fromhex(report["input_shares"][agg_id])),
            )
            expected = report["verifier_shares"][0][agg_id]
            assert vdaf.encode_prep_share(prep_share).hex() == expected
            assert vdaf.decode_prep_share(bytes.fromhex(expected)).joint_rand_part == (
                prep_share.joint_rand_part
            )
            states[op["report_index"], agg_id] = state
        elif kind == "verifier_shares_to_message":
            shares = [
                vdaf.decode_prep_share(bytes.fromhex(s)) for s in report["verifier_shares"][0]
            ]
            if success:
                message = vdaf.prep_shares_to_prep(ctx, shares)
                assert vdaf.encode_prep_message(message).hex() == report["verifier_messages"][0]
            else:
                with pytest.raises(VdafVerifyError):
                    vdaf.prep_shares_to_prep(ctx, shares)
        elif kind == "verify_next":
            message = vdaf.decode_prep_message(bytes.fromhex(report["verifier_messages"][0]))
            state = states[op["report_index"], agg_id]
            if success:
                out = vdaf.prep_next(ctx, state, message)
                assert vdaf.field.encode(out.values).hex() == report["out_shares"][agg_id]
                out_shares.setdefault(agg_id, []).append(out)
            else:
                with pytest.raises(VdafVerifyError):
                    vdaf.prep_next(ctx, state, message)
        elif kind == "aggregate":
            agg_share = vdaf.aggregate(out_shares[agg_id])
            assert vdaf.encode_agg_share(agg_share).hex() == vector["agg_shares"][agg_id]
        elif kind == "unshard":
            agg_shares = [vdaf.decode_agg_share(bytes.fromhex(s)) for s in vector["agg_shares"]]
            assert vdaf.unshard(agg_shares, len(reports)) == vector["agg_result"]
        else:
            raise AssertionError(f"unknown operation {kind}")
        done.append(f"{kind}:{'ok' if success else 'rejected'}")
    return done


@pytest.mark.parametrize("path", PRIO3_FILES, ids=[p.stem for p in PRIO3_FILES])
def test_prio3_vector(path: Path) -> None:
    vector = load(path)
    vdaf = prio3_from_vector(path.stem, vector)
    assert vector["shares"] == vdaf.SHARES
    done = _run(vdaf, vector)
    if "_bad_" in path.stem:
        # A bad report is rejected, and at the step the vector says.
        assert sum(step.endswith(":rejected") for step in done) == 1
        assert done[-1].endswith(":rejected")
    else:
        assert all(step.endswith(":ok") for step in done)
        assert done[-1] == "unshard:ok"
        assert done.count("shard:ok") == len(vector["reports"])


def test_xof_turboshake128_vector() -> None:
    vector = load(VECTORS / "XofTurboShake128.json")
    seed, dst, binder = (bytes.fromhex(vector[k]) for k in ("seed", "dst", "binder"))
    assert XofTurboShake128.derive_seed(seed, dst, binder).hex() == vector["derived_seed"]
    expanded = XofTurboShake128.expand_into_vec(FIELD128, seed, dst, binder, vector["length"])
    assert FIELD128.encode(expanded).hex() == vector["expanded_vec_field128"]
