"""Issue 13's 'Done when': a real leader and a real helper (processes, databases, key
pairs of their own) take a few thousand contributions, some malformed by a modified
client; the collector gets the valid ones' sum plus noise of
the stated scale, every malformed one counted by reason, and the batch only once.

The valid reports are sharded in one batch (:meth:`Prio3.shard_encoded_batch`, each
with its own nonce and randomness, so each is a distinct valid Prio3 report) and
uploaded over a few keep-alive connections: the device side would otherwise take
longer than the aggregators.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from discreet.errors import BatchCollectedError
from discreet.protocol.report import period_of
from discreet.publish.collect import collect
from discreet.secagg import hpke
from discreet.secagg.task import COLLECTOR, Task, create_task, read_secrets
from discreet.secagg.upload import UploadReport, input_share_aad, input_share_info, seal_report
from discreet.vdaf import LeaderInputShare, ShardedReport
from discreet.vdaf.circuits import encode_range_checked_int
from tests.secagg_support import running_aggregators, shard_batch, upload_all

LENGTH, MAX_WEIGHT = 120, 3
VALID = 2_000
BAD_PROOF, OVER_WEIGHT, WRONG_LENGTH, UNDECRYPTABLE, REPLAYED, RETRIED = 15, 15, 10, 10, 10, 20
PERIOD = period_of(dt.date.today())


def _tampered(sharded: ShardedReport, task: Task) -> ShardedReport:
    """The leader's proof share off by one: the proof fails."""
    field = task.vdaf().field
    leader = sharded.input_shares[0]
    assert isinstance(leader, LeaderInputShare)
    proofs = leader.proofs_share.copy()
    proofs[0] = field.add(proofs[0:1], field.from_ints([1]))[0]
    shares = (LeaderInputShare(leader.meas_share, proofs, leader.blind), *sharded.input_shares[1:])
    return ShardedReport(sharded.nonce, sharded.public_share, shares)


def _wrong_length(report: UploadReport, sharded: ShardedReport, task: Task) -> UploadReport:
    """The leader's input share one element short, sealed as a device seals it."""
    vdaf = task.vdaf()
    short = vdaf.encode_input_share(sharded.input_shares[0])[16:]
    aad = input_share_aad(task, report.report_id, PERIOD, report.public_share)
    sealed = hpke.seal(task.leader_config, input_share_info(0), aad, short)
    return UploadReport(report.report_id, PERIOD, report.public_share, sealed, report.helper_share)


def _undecryptable(report: UploadReport) -> UploadReport:
    """The helper's sealed share with one payload bit flipped."""
    share = report.helper_share
    payload = bytes([share.payload[0] ^ 1]) + share.payload[1:]
    sealed = hpke.HpkeCiphertext(share.config_id, share.enc, payload)
    return UploadReport(report.report_id, PERIOD, report.public_share, report.leader_share, sealed)


def test_thousands_of_contributions_release_the_valid_sum_plus_noise_once(
    tmp_path: Path,
) -> None:
    files = create_task(
        tmp_path / "task",
        length=LENGTH,
        max_weight=MAX_WEIGHT,
        min_batch_size=VALID,
        epsilon=1.0,
        delta=1e-9,
        labels=tuple(f"item-{i}" for i in range(LENGTH)),
    )
    task = Task.load(files.task)
    vdaf = task.vdaf()
    rng = np.random.default_rng(13)
    honest = VALID + BAD_PROOF + WRONG_LENGTH + UNDECRYPTABLE
    bits = np.zeros((honest, LENGTH), dtype=bool)
    for row in bits:
        row[rng.choice(LENGTH, rng.integers(0, MAX_WEIGHT + 1), replace=False)] = True
    encoded = [vdaf.circuit.encode(row) for row in bits]
    # A modified client: K + 1 ones, claiming weight K.
    weight_bits = encode_range_checked_int(MAX_WEIGHT, MAX_WEIGHT)
    for _ in range(OVER_WEIGHT):
        ones = set(rng.choice(LENGTH, MAX_WEIGHT + 1, replace=False).tolist())
        encoded.append(vdaf.field.from_ints([int(i in ones) for i in range(LENGTH)] + weight_bits))
    sharded = shard_batch(task, encoded, rng)
    at = VALID
    for i in range(at, at + BAD_PROOF):
        sharded[i] = _tampered(sharded[i], task)
    reports = [seal_report(task, PERIOD, s) for s in sharded]
    at += BAD_PROOF
    for i in range(at, at + WRONG_LENGTH):
        reports[i] = _wrong_length(reports[i], sharded[i], task)
    at += WRONG_LENGTH
    for i in range(at, at + UNDECRYPTABLE):
        reports[i] = _undecryptable(reports[i])
    valid = reports[:VALID]
    truth = bits[:VALID].sum(axis=0)
    replays = [  # a valid report's id with another report's bytes
        UploadReport(r.report_id, PERIOD, o.public_share, o.leader_share, o.helper_share)
        for r, o in zip(valid[:REPLAYED], valid[REPLAYED : 2 * REPLAYED], strict=True)
    ]
    order = rng.permutation(len(reports))
    bodies = [reports[i].encode() for i in order]

    with running_aggregators(files, tmp_path) as (leader, _):
        assert set(upload_all(leader.url, bodies)) == {201}
        retries = [r.encode() for r in valid[-RETRIED:]] + [r.encode() for r in replays]
        assert upload_all(leader.url, retries) == [201] * RETRIED + [409] * REPLAYED
        keypair = hpke.read_keypair(files.keys[COLLECTOR])
        secrets = read_secrets(files.secrets[COLLECTOR])
        document = collect(task, keypair, secrets, leader.url, PERIOD)
        with pytest.raises(BatchCollectedError, match="already collected"):
            collect(task, keypair, secrets, leader.url, PERIOD)

    assert document["reports"] == VALID
    assert document["rejected"] == {
        "leader": {
            "invalid_proof": BAD_PROOF + OVER_WEIGHT,
            "malformed": WRONG_LENGTH,
            "undecryptable": UNDECRYPTABLE,
            "replayed": REPLAYED,
        },
        # The leader never sends on what it rejects itself, nor a replay.
        "helper": {"invalid_proof": BAD_PROOF + OVER_WEIGHT, "undecryptable": UNDECRYPTABLE},
    }
    got = np.array([document["estimates"][f"item-{i}"]["estimate"] for i in range(LENGTH)])
    noise = got - truth
    plan = task.noise_plan()
    # Each entry: the sum of both aggregators' discrete Gaussians, of variance 2 sigma^2.
    assert np.all(np.abs(noise) < 6 * np.sqrt(plan.release_variance))
    # Of the stated scale, neither smaller nor larger: the squared sum over the entries
    # divided by the variance is chi-square with LENGTH degrees of freedom.
    statistic = float(np.sum(noise**2) / plan.release_variance)
    assert stats.chi2.sf(statistic, LENGTH) > 1e-4
    assert stats.chi2.cdf(statistic, LENGTH) > 1e-4
