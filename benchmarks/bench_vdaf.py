"""Prio3MultihotCountVec: the device's shard and each aggregator's preparation.

For vectors of 10^3, 10^4 and 5*10^4 entries (at most 50 ones, ``chunk_length``
the draft's ~sqrt of the encoded length), in CPU seconds (``time.process_time``,
median of a few runs): the device's shard, the leader's and the helper's
``prep_init`` from the bytes they receive, and the cheap rest (combining the
prep shares, ``prep_next``); then reports per CPU-second for each aggregator.
A second table compares, in the same run, preparation one report at a time with
the batch path (``prep_init_batch`` and ``prep_shares_to_prep_batch``, which the
aggregators run on each job) at the same lengths and at the demo's task (its
catalog's 360 items, at most 3 ones). A cProfile of the largest size says where
the time goes, and a last table compares Field128 multiplication on two uint64
words (what the package uses) with numpy arrays of Python ints, on the same operands.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import math
import pstats
from collections.abc import Callable

import numpy as np

from _harness import median_cpu_seconds, table
from discreet.vdaf import (
    FIELD128,
    InputShare,
    Prio3MultihotCountVec,
    PublicShare,
    ShardedReport,
    VdafError,
)

CTX = b"discreet bench"
VERIFY_KEY = bytes(32)
MAX_WEIGHT = 50


def _vdaf(length: int, max_weight: int = MAX_WEIGHT) -> Prio3MultihotCountVec:
    encoded = length + max_weight.bit_length()
    return Prio3MultihotCountVec(2, length, max_weight, max(1, round(math.sqrt(encoded))))


def _measurement(length: int, max_weight: int = MAX_WEIGHT, seed: int = 0) -> np.ndarray:
    bits = np.zeros(length, dtype=bool)
    bits[np.random.default_rng(seed).choice(length, max_weight, replace=False)] = True
    return bits


def _prep_init(vdaf: Prio3MultihotCountVec, report: ShardedReport, agg_id: int) -> bytes:
    """One aggregator's preparation from the bytes it receives to the bytes it sends."""
    _, prep_share = vdaf.prep_init(
        VERIFY_KEY,
        CTX,
        agg_id,
        report.nonce,
        vdaf.decode_public_share(vdaf.encode_public_share(report.public_share)),
        vdaf.decode_input_share(agg_id, vdaf.encode_input_share(report.input_shares[agg_id])),
    )
    return vdaf.encode_prep_share(prep_share)


def _finish(vdaf: Prio3MultihotCountVec, report: ShardedReport) -> None:
    inits = [
        vdaf.prep_init(VERIFY_KEY, CTX, j, report.nonce, report.public_share, share)
        for j, share in enumerate(report.input_shares)
    ]
    message = vdaf.prep_shares_to_prep(CTX, [share for _, share in inits])
    for state, _ in inits:
        vdaf.prep_next(CTX, state, message)


def row(length: int, runs: int) -> dict[str, object]:
    vdaf = _vdaf(length)
    bits = _measurement(length)
    report = vdaf.shard(CTX, bits)
    _finish(vdaf, report)  # the report is valid
    shard_s = median_cpu_seconds(lambda: vdaf.shard(CTX, bits), runs)
    leader_s = median_cpu_seconds(lambda: _prep_init(vdaf, report, 0), runs)
    helper_s = median_cpu_seconds(lambda: _prep_init(vdaf, report, 1), runs)
    shares = [
        vdaf.prep_init(VERIFY_KEY, CTX, j, report.nonce, report.public_share, s)[1]
        for j, s in enumerate(report.input_shares)
    ]
    combine_s = median_cpu_seconds(lambda: vdaf.prep_shares_to_prep(CTX, shares), runs)
    return {
        "length": length,
        "chunk": vdaf.circuit.chunk_length,
        "proof_elems": vdaf.circuit.proof_len,
        "leader_share_kB": round(len(vdaf.encode_input_share(report.input_shares[0])) / 1e3, 1),
        "shard_cpu_s": round(shard_s, 3),
        "leader_prep_s": round(leader_s, 3),
        "helper_prep_s": round(helper_s, 3),
        "combine_s": round(combine_s, 4),
        "leader_reports_per_cpu_s": round(1 / (leader_s + combine_s), 1),
        "helper_reports_per_cpu_s": round(1 / (helper_s + combine_s), 1),
    }


#: The demo's task (``discreet demo --secure-aggregation``): its catalog's items, K.
DEMO_LENGTH, DEMO_MAX_WEIGHT = 360, 3


def _from_bytes(
    vdaf: Prio3MultihotCountVec, reports: list[ShardedReport], agg_id: int
) -> list[tuple[bytes, PublicShare, InputShare]]:
    """What an aggregator decodes from the bytes it receives, report by report."""
    return [
        (
            r.nonce,
            vdaf.decode_public_share(vdaf.encode_public_share(r.public_share)),
            vdaf.decode_input_share(agg_id, vdaf.encode_input_share(r.input_shares[agg_id])),
        )
        for r in reports
    ]


def batch_row(length: int, max_weight: int, count: int, runs: int) -> dict[str, object]:
    """Per-report vs batch preparation of ``count`` valid reports, CPU seconds per report.

    The leader runs ``prep_init``; the helper ``prep_init`` and then combines both prep
    shares (``prep_shares_to_prep``), as in the aggregators' jobs. Decoding the shares
    from bytes is counted on both paths.
    """
    vdaf = _vdaf(length, max_weight)
    rng = np.random.default_rng(1)
    meas = vdaf.field.concat(
        [vdaf.circuit.encode(_measurement(length, max_weight, seed))[None] for seed in range(count)]
    )
    reports = vdaf.shard_encoded_batch(
        CTX,
        meas,
        [rng.bytes(16) for _ in range(count)],
        [rng.bytes(vdaf.RAND_SIZE) for _ in range(count)],
    )
    leader_shares = [
        vdaf.prep_init(VERIFY_KEY, CTX, 0, *job)[1] for job in _from_bytes(vdaf, reports, 0)
    ]

    def one_by_one(agg_id: int) -> None:
        for job, leader_share in zip(
            _from_bytes(vdaf, reports, agg_id), leader_shares, strict=True
        ):
            _, share = vdaf.prep_init(VERIFY_KEY, CTX, agg_id, *job)
            if agg_id == 1:
                vdaf.prep_shares_to_prep(CTX, [leader_share, share])

    def batch(agg_id: int) -> None:
        outcomes = vdaf.prep_init_batch(VERIFY_KEY, CTX, agg_id, _from_bytes(vdaf, reports, agg_id))
        if agg_id == 1:
            pairs = [
                [lead, out[1]]
                for lead, out in zip(leader_shares, outcomes, strict=True)
                if not isinstance(out, VdafError)
            ]
            assert len(pairs) == count
            messages = vdaf.prep_shares_to_prep_batch(CTX, pairs)
            assert not any(isinstance(m, VdafError) for m in messages)

    row: dict[str, object] = {"length": length, "max_weight": max_weight, "reports": count}
    for who, agg_id in (("leader", 0), ("helper", 1)):
        single = median_cpu_seconds(functools.partial(one_by_one, agg_id), runs) / count
        batched = median_cpu_seconds(functools.partial(batch, agg_id), runs) / count
        row[f"{who}_one_ms"] = round(single * 1e3, 2)
        row[f"{who}_batch_ms"] = round(batched * 1e3, 2)
        row[f"{who}_reports_per_cpu_s"] = f"{1 / single:,.0f} -> {1 / batched:,.0f}"
        row[f"{who}_speed_up"] = round(single / batched, 1)
    return row


# Where the time goes: cumulative time of functions that name a phase. "of which" rows
# sit inside the row above them; the Field128 multiplications cut across all phases.
COMMON = {
    "XOF (TurboSHAKE128, rejection sampling)": [
        ("xof.py", "expand_into_vec"),
        ("xof.py", "derive_seed"),
    ],
    "field vector encode/decode": [("fields.py", "encode"), ("fields.py", "decode")],
}
MULTIPLICATIONS = {"Field128 multiplications (all phases)": [("field128.py", "_mul")]}
DEVICE_PHASES = {
    **COMMON,
    "proof generation (flp.prove_batch)": [("flp.py", "prove_batch")],
    "  of which circuit wire inputs": [("circuits.py", "gadget_inputs")],
    "  of which NTTs (double_evaluations)": [("polys.py", "double_evaluations")],
    **MULTIPLICATIONS,
}
AGGREGATOR_PHASES = {
    **COMMON,
    "query (flp.query_batch)": [("flp.py", "query_batch")],
    "  of which circuit wire inputs": [("circuits.py", "gadget_inputs")],
    "  of which gadget poly extension": [("polys.py", "extend_values")],
    "  of which Lagrange evaluation at t": [("polys.py", "lagrange_eval")],
    **MULTIPLICATIONS,
}


def _profile(
    action: Callable[[], object], phases: dict[str, list[tuple[str, str]]]
) -> list[tuple[str, float]]:
    """Seconds per phase, and the total last, under cProfile."""
    profiler = cProfile.Profile()
    profiler.enable()
    action()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    out = []
    for phase, functions in phases.items():
        seconds = sum(
            ct
            for (path, _, name), (_, _, _, ct, _) in stats.items()
            for file, function in functions
            if path.endswith(file) and name == function
        )
        out.append((phase, seconds))
    total = max(ct for (_, _, _, ct, _) in stats.values())
    return [*out, ("total (under cProfile)", total)]


def breakdown(length: int) -> list[dict[str, object]]:
    vdaf = _vdaf(length)
    bits = _measurement(length)
    report = vdaf.shard(CTX, bits)
    rows = []
    for who, action, phases in (
        ("device shard", lambda: vdaf.shard(CTX, bits), DEVICE_PHASES),
        ("leader prep", lambda: _prep_init(vdaf, report, 0), AGGREGATOR_PHASES),
        ("helper prep", lambda: _prep_init(vdaf, report, 1), AGGREGATOR_PHASES),
    ):
        action()
        timed = _profile(action, phases)
        total = timed[-1][1]
        rows += [
            {"who": who, "phase": phase, "s": round(seconds, 3), "share": f"{seconds / total:.0%}"}
            for phase, seconds in timed
        ]
    return rows


def field128_row(n: int) -> dict[str, object]:
    rng = np.random.default_rng(1)
    p = FIELD128.modulus
    ints = [int.from_bytes(rng.bytes(16), "little") % p for _ in range(2 * n)]
    a, b = FIELD128.from_ints(ints[:n]), FIELD128.from_ints(ints[n:])
    oa, ob = np.array(ints[:n], dtype=object), np.array(ints[n:], dtype=object)

    def per_element(action: Callable[[], object]) -> float:
        return median_cpu_seconds(action, 5) / n * 1e9

    words_mul = per_element(lambda: FIELD128.mul(a, b))
    objects_mul = per_element(lambda: oa * ob % p)
    words_add = per_element(lambda: FIELD128.add(a, b))
    objects_add = per_element(lambda: (oa + ob) % p)
    return {
        "elements": n,
        "mul_words_ns": round(words_mul, 1),
        "mul_pyint_ns": round(objects_mul, 1),
        "add_words_ns": round(words_add, 1),
        "add_pyint_ns": round(objects_add, 1),
        "mul_speed_up": round(objects_mul / words_mul, 1),
    }


def main(quick: bool = False) -> str:
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 50_000)
    runs = 3 if quick else 5
    rows = [row(length, runs) for length in sizes]
    cases = [(DEMO_LENGTH, DEMO_MAX_WEIGHT, 200)]
    cases += [(length, MAX_WEIGHT, max(4, min(200, 400_000 // length))) for length in sizes]
    batch_rows = [batch_row(length, k, count, 3) for length, k, count in cases]
    out = [
        table(
            f"Prio3MultihotCountVec, 2 aggregators, max_weight {MAX_WEIGHT}: CPU seconds "
            f"(median of {runs}) and reports per CPU-second per aggregator",
            rows,
            list(rows[0]),
        ),
        table(
            "preparation one report at a time vs in a batch (prep_init_batch, "
            "prep_shares_to_prep_batch): CPU ms per report (median of 3) and reports "
            "per CPU-second, one by one -> batch",
            batch_rows,
            list(batch_rows[0]),
        ),
        table(
            f"where the time goes at length {sizes[-1]:,} (cProfile cumulative seconds)",
            breakdown(sizes[-1]),
            ["who", "phase", "s", "share"],
        ),
        table(
            "Field128 per element: two uint64 words (used) vs numpy arrays of Python ints",
            [field128_row(57_344)],
            [
                "elements",
                "mul_words_ns",
                "mul_pyint_ns",
                "add_words_ns",
                "add_pyint_ns",
                "mul_speed_up",
            ],
        ),
    ]
    return "\n\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    print(main(parser.parse_args().quick))
