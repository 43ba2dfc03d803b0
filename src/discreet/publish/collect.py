"""``discreet publish collect``: the collector's side of secure aggregation.

The collector asks the leader for a week's batch, gets the leader's and the
helper's noisy aggregate shares, each sealed to the collector's HPKE key (the
leader cannot open the helper's), opens them, adds them up, and writes the
estimates document that ``publish build --popularity`` reads. Each entry is the
true count plus both aggregators' discrete Gaussian noise; its ``stderr`` is
that noise's standard deviation (at most ``sqrt(2·σ²)``).

For a co-occurrence task it writes the co-occurrence aggregate instead
(:func:`cooccurrence_document`, format ``discreet-cooccurrence`` 1; JSON,
nothing to unpickle): the task's M top item ids in order, and the noisy count
of each of their M(M-1)/2 pairs, in the order of
:func:`discreet.profile.contribution.pair_index` (row by row: (0, 1), (0, 2), …,
(0, M-1), (1, 2), …), with the number of reports, ε, δ and σ² of each
aggregator's noise.
"""

from __future__ import annotations

import math
from typing import Any

from discreet.errors import AggregatorError, HpkeDecryptError
from discreet.i18n import _
from discreet.publish.collaborative import COOCCURRENCE_FORMAT
from discreet.secagg import hpke
from discreet.secagg.task import COOCCURRENCE, AggregatorSecrets, Task, b64, unb64
from discreet.secagg.wire import aggregate_share_aad, aggregate_share_info, call
from discreet.vdaf import VdafDecodeError

__all__ = ["COOCCURRENCE_FORMAT", "collect", "cooccurrence_document", "estimates_document"]


def collect(
    task: Task,
    keypair: hpke.HpkeKeyPair,
    secrets: AggregatorSecrets,
    leader_url: str,
    period: str,
) -> dict[str, Any]:
    """The week's estimates; raises :class:`BatchCollectedError` on a second collection,
    :class:`BatchTooSmallError` below the minimum batch size, :class:`AggregatorError`
    if an aggregator fails or answers shares that do not open."""
    if secrets.collector_token is None:
        raise AggregatorError(_("the collector's secrets have no token for the leader"))
    answer = call(
        f"{leader_url.rstrip('/')}/v1/secagg/collect", {"period": period}, secrets.collector_token
    )
    try:
        reports = int(answer["reports"])
        aad = aggregate_share_aad(task, period, reports)
        vdaf = task.vdaf()
        shares = [
            vdaf.decode_agg_share(
                hpke.open_sealed(
                    keypair,
                    hpke.HpkeCiphertext.decode(unb64(answer[name])),
                    aggregate_share_info(agg_id),
                    aad,
                )
            )
            for agg_id, name in enumerate(("leader_share", "helper_share"))
        ]
    except (
        KeyError,
        TypeError,
        ValueError,
        OverflowError,
        HpkeDecryptError,
        VdafDecodeError,
    ) as exc:
        raise AggregatorError(
            _("the aggregators' answer does not open ({exc})").format(exc=exc)
        ) from None
    field = vdaf.field
    totals = [
        v - field.modulus if v > field.modulus // 2 else v
        for v in field.to_ints(vdaf.merge(shares).values)
    ]
    rejected = answer.get("rejected", {})
    if task.kind == COOCCURRENCE:
        return cooccurrence_document(task, period, reports, totals, rejected)
    return estimates_document(task, period, reports, totals, rejected)


def estimates_document(
    task: Task, period: str, reports: int, totals: list[int], rejected: dict[str, Any]
) -> dict[str, Any]:
    """The JSON ``publish build --popularity`` reads, with the release's privacy terms."""
    plan = task.noise_plan()
    stderr = math.sqrt(plan.release_variance)
    labels = task.labels or tuple(str(i) for i in range(task.length))
    return {
        "format": "discreet-estimates",
        "format_version": 1,
        "mechanism": "secure-aggregation",
        "task_id": b64(task.task_id),
        "period": period,
        "kind": "item",
        "reports": reports,
        "rejected": rejected,
        "privacy": plan.to_json(),
        "estimates": {
            label: {"estimate": float(total), "stderr": stderr}
            for label, total in zip(labels, totals, strict=True)
        },
    }


def cooccurrence_document(
    task: Task, period: str, reports: int, totals: list[int], rejected: dict[str, Any]
) -> dict[str, Any]:
    """The co-occurrence aggregate: the noisy pair counts over the task's top items."""
    plan = task.noise_plan()
    return {
        "format": COOCCURRENCE_FORMAT,
        "format_version": 1,
        "mechanism": "secure-aggregation",
        "task_id": b64(task.task_id),
        "period": period,
        "m": len(task.top_items),
        "top_items": list(task.top_items),
        "pair_order": "row by row: (0, 1), (0, 2), ..., (0, m-1), (1, 2), ...",
        "max_weight": task.max_weight,
        "reports": reports,
        "rejected": rejected,
        "epsilon": plan.epsilon,
        "delta": plan.delta,
        "sigma_sq_per_aggregator": plan.sigma_sq,
        "stderr": math.sqrt(plan.release_variance),
        "privacy": plan.to_json(),
        "pair_counts": totals,
    }
