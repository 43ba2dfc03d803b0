"""Prio3 from the CFRG VDAF draft (draft-irtf-cfrg-vdaf-20): verifiable secret sharing.

A leaf package: it imports nothing else of discreet, so the device and both
aggregators can depend on it. A device shards its measurement; each
aggregator prepares its input share into an output share, exchanging one
prep share each; the aggregators add output shares up; the collector
unshards the aggregate shares::

    vdaf = Prio3MultihotCountVec(shares=2, length=1000, max_weight=50, chunk_length=32)
    report = vdaf.shard(ctx, bits)                      # device (OS CSPRNG)
    states, prep_shares = zip(*(
        vdaf.prep_init(verify_key, ctx, j, report.nonce, report.public_share, share)
        for j, share in enumerate(report.input_shares)))  # each aggregator
    message = vdaf.prep_shares_to_prep(ctx, prep_shares)  # raises VdafVerifyError
    out_shares = [vdaf.prep_next(ctx, state, message) for state in states]
    result = vdaf.unshard([vdaf.aggregate([s]) for s in out_shares], 1)

Every message has ``encode_*``/``decode_*`` methods giving the draft's bytes;
decoding raises :class:`VdafDecodeError`, a failed proof or joint-randomness
check :class:`VdafVerifyError`.
"""

from discreet.vdaf.errors import (
    VdafDecodeError,
    VdafError,
    VdafMeasurementError,
    VdafParameterError,
    VdafVerifyError,
)
from discreet.vdaf.field128 import FIELD128, Field128
from discreet.vdaf.fields import FIELD64, Field, Field64
from discreet.vdaf.messages import (
    AggregateShare,
    HelperInputShare,
    InputShare,
    LeaderInputShare,
    OutputShare,
    PrepMessage,
    PrepShare,
    PrepState,
    PublicShare,
    ShardedReport,
)
from discreet.vdaf.prio3 import Prio3
from discreet.vdaf.variants import (
    Prio3Count,
    Prio3Histogram,
    Prio3MultihotCountVec,
    Prio3Sum,
    Prio3SumVec,
    Prio3SumVecWithMultiproof,
)

__all__ = [
    "FIELD64",
    "FIELD128",
    "AggregateShare",
    "Field",
    "Field64",
    "Field128",
    "HelperInputShare",
    "InputShare",
    "LeaderInputShare",
    "OutputShare",
    "PrepMessage",
    "PrepShare",
    "PrepState",
    "Prio3",
    "Prio3Count",
    "Prio3Histogram",
    "Prio3MultihotCountVec",
    "Prio3Sum",
    "Prio3SumVec",
    "Prio3SumVecWithMultiproof",
    "PublicShare",
    "ShardedReport",
    "VdafDecodeError",
    "VdafError",
    "VdafMeasurementError",
    "VdafParameterError",
    "VdafVerifyError",
]
