"""``discreet demo --secure-aggregation``: the weekly contribution, end to end, on loopback.

1. Create a secure-aggregation task with fresh HPKE key pairs (leader, helper,
   collector) over the shipped catalog's items.
2. Start the leader and the helper, each a process of its own with its own
   database and key pair, and the catalog service in a thread.
3. Build the shipped catalog in the secure-aggregation mode (the task and the
   aggregators' endpoints in the signed manifest).
4. One real device syncs it over HTTP, plays a short session, consents, previews
   its contribution (the exact bytes and their size, ε and δ in the ledger) and
   sends it to the leader.
5. Simulated devices contribute through the same path
   (:func:`discreet.secagg.upload.make_report`, then an upload to the leader).
6. The publisher collects the week; the noisy estimates are compared with the truth.

Every Prio3 report costs tens of milliseconds to shard and, per aggregator, to
prepare, so the population is a few hundred devices: :data:`DEVICES` with at
most :data:`MAX_WEIGHT` items each keeps the whole run well under a minute on
two cores, and :data:`MIN_BATCH_SIZE` is a batch the week reaches with room
to spare.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from discreet.catalog.items import Item, read_items
from discreet.catalog.taxonomy import load_taxonomy
from discreet.demo import Say, bar, heading, install_device, ran_here
from discreet.demo_data import demo_items_path, demo_taxonomy_path, publish_demo_catalog
from discreet.engine import Engine
from discreet.errors import ReportingError
from discreet.i18n import _
from discreet.profile.contribution import ContributionPreview, sample_entries
from discreet.protocol.report import period_of
from discreet.publish.collect import collect
from discreet.publish.repository import PublisherRepository
from discreet.secagg import hpke
from discreet.secagg.mode import SecureAggregation
from discreet.secagg.task import COLLECTOR, HELPER, LEADER, Task, create_task, read_secrets
from discreet.secagg.upload import make_report
from discreet.server.run import BackgroundService, require_server_extra
from discreet.server.secagg.background import AggregatorProcess
from discreet.server.storage import ReportStore
from discreet.sync.http import DeviceHttpClient

__all__ = ["DEVICES", "MAX_WEIGHT", "MIN_BATCH_SIZE", "run_secagg_demo"]

#: Simulated devices (the real device makes one more).
DEVICES = 300
#: K: at most this many items in one contribution (and the padding: a device with at
#: most K eligible items contributes all of them).
MAX_WEIGHT = 3
#: The aggregators release no week with fewer contributions.
MIN_BATCH_SIZE = 200
#: The task's (ε, δ) per device per week.
EPSILON, DELTA = 1.0, 1e-9
#: The rows printed (the most popular items by the truth).
SHOWN = 12


def run_secagg_demo(
    *, keep: Path | None = None, say: Say = print, seed: int | None = None
) -> dict[str, Any]:
    """Run the secure-aggregation demo, narrating through ``say``; return a summary."""
    require_server_extra()
    started = time.monotonic()
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="discreet-secagg-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    today = dt.date.today()
    period = period_of(today)
    summary: dict[str, Any] = {"folder": str(work) if keep else None, "period": period}
    timings: dict[str, float] = {}
    try:
        heading(say, _("publisher: a secure-aggregation task (fresh HPKE keys for all three)"))
        taxonomy = load_taxonomy(demo_taxonomy_path())
        items = read_items(demo_items_path(), taxonomy)
        files = create_task(
            work / "task",
            length=len(items),
            max_weight=MAX_WEIGHT,
            min_batch_size=MIN_BATCH_SIZE,
            epsilon=EPSILON,
            delta=DELTA,
            labels=tuple(item.id for item in items),
        )
        task = Task.load(files.task)
        summary["task"] = _describe_task(task, say)
        with (
            AggregatorProcess(HELPER, files, work / "helper.db", work / "helper.log") as helper,
            AggregatorProcess(
                LEADER, files, work / "leader.db", work / "leader.log", helper_url=helper.url
            ) as leader,
        ):
            say(
                _("leader listening on {url} (its own process, database and key pair)").format(
                    url=leader.url
                )
            )
            say(
                _("helper listening on {url} (its own process, database and key pair)").format(
                    url=helper.url
                )
            )
            section = SecureAggregation(task, leader.url, helper.url, EPSILON, MAX_WEIGHT)
            repo = PublisherRepository.init(work / "repo")
            manifest = publish_demo_catalog(repo, secure_aggregation=section).manifest
            say(
                _(
                    "catalog '{name}' v{version}: {item_count} items, signed, in "
                    "the secure-aggregation mode"
                ).format(
                    name=manifest.name, version=manifest.version, item_count=manifest.item_count
                )
            )
            timings["setup_s"] = time.monotonic() - started
            truth = np.zeros(task.length, dtype=np.int64)
            store = ReportStore(work / "reports.db")
            try:
                with BackgroundService(repo, store) as service:
                    preview, device = _device(work, repo, service.url, today, say)
            finally:
                store.close()
            for item in preview.items or ():
                truth[task.labels.index(item)] += 1
            summary["device"] = device
            mark = time.monotonic()
            summary["devices"] = DEVICES + 1
            _population(task, items, taxonomy.sensitive_ids, leader.url, period, truth, rng, say)
            timings["contributions_s"] = time.monotonic() - mark
            mark = time.monotonic()
            heading(
                say,
                _("publisher: collect {period} (the aggregators prepare, add noise)").format(
                    period=period
                ),
            )
            document = collect(
                task,
                hpke.read_keypair(files.keys[COLLECTOR]),
                read_secrets(files.secrets[COLLECTOR]),
                leader.url,
                period,
            )
            timings["collection_s"] = time.monotonic() - mark
        summary.update(_compare(task, items, document, truth, say))
        heading(say, _("done"))
        timings["total_s"] = time.monotonic() - started
        summary["timings"] = {name: round(seconds, 2) for name, seconds in timings.items()}
        say(
            _(
                "setup {setup_s:.1f} s, contributions {contributions_s:.1f} "
                "s, collection {collection_s:.1f} s, total {total_s:.1f} s"
            ).format(
                setup_s=timings["setup_s"],
                contributions_s=timings["contributions_s"],
                collection_s=timings["collection_s"],
                total_s=timings["total_s"],
            )
        )
        ran_here(say, work, keep)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return summary


def _describe_task(task: Task, say: Say) -> dict[str, Any]:
    plan = task.noise_plan()
    sigma = math.sqrt(plan.sigma_sq)
    stderr = math.sqrt(plan.release_variance)
    say(
        _(
            "{length} items, at most K={max_weight} per device per week, "
            "at least {min_batch_size} devices per released week"
        ).format(length=task.length, max_weight=task.max_weight, min_batch_size=task.min_batch_size)
    )
    say(
        _(
            "({epsilon:g}, {delta:g})-DP per device per week even if one "
            "aggregator is dishonest: each adds discrete Gaussian noise, "
            "σ={sigma:.2f}; released s.d. {stderr:.2f} per item"
        ).format(epsilon=task.epsilon, delta=task.delta, sigma=sigma, stderr=stderr)
    )
    return {
        "length": task.length,
        "max_weight": task.max_weight,
        "min_batch_size": task.min_batch_size,
        "epsilon": task.epsilon,
        "delta": task.delta,
        "sigma_per_aggregator": sigma,
        "stderr": stderr,
        "privacy": plan.to_json(),
    }


def _device(
    work: Path, repo: PublisherRepository, url: str, today: dt.date, say: Say
) -> tuple[ContributionPreview, dict[str, Any]]:
    home, key, version = install_device(work, repo, url, today, say)
    with Engine.open(home, key=key) as engine:
        catalog = engine.catalog
        heading(say, _("device: a short session"))
        for row in catalog.features.rows_in(["crime"])[:3]:
            item = catalog.item_at(int(row))
            engine.record(item.id, "like")
            say(_("liked     {title}").format(title=item.title))
        engine.mute("politics")
        say(_("muted     Politics & society"))
        heading(say, _("device: the weekly contribution (consent binds the task and aggregators)"))
        for line in engine.reporting_terms():
            say(line)
        engine.consent()
        preview = engine.preview_contribution()
        say(_("items set to one: {join}").format(join=", ".join(preview.items or ())))
        say(
            _(
                "{n_data:,} bytes for the leader (the helper's share sealed "
                "to the helper), begins {hex}… (all of them in --json)"
            ).format(n_data=len(preview.data), hex=preview.data[:24].hex())
        )
        say(
            _("budget this week: ε {epsilon_spent:g} of {epsilon_cap:g}").format(
                epsilon_spent=preview.epsilon_spent, epsilon_cap=preview.epsilon_cap
            )
        )
        sent = engine.send_contributions(max_delay=0)
        if sent.sent != 1:
            raise ReportingError(
                _("the leader did not take the demo device's contribution: {sent}").format(
                    sent=sent
                )
            )
        ledger = engine.ledger()
        say(
            _("sent {sent} contribution to the leader; the ledger now reads:").format(
                sent=sent.sent
            )
        )
        for entry in ledger:
            say(
                f"  {entry.period} {entry.kind:<8} ε={entry.epsilon:g} δ={entry.delta:g} "
                f"{entry.status}"
            )
    return preview, {
        "catalog_version": version,
        "preview": preview.to_json(),
        "sent": sent.sent,
        "ledger": [e.to_json() for e in ledger],
    }


def _population(
    task: Task,
    items: list[Item],
    sensitive: frozenset[str],
    leader_url: str,
    period: str,
    truth: np.ndarray,
    rng: np.random.Generator,
    say: Say,
) -> None:
    """Simulated devices: a week's history drawn from a Zipf-like taste, sensitive items
    left out, K entries sampled, sharded and sealed, uploaded to the leader."""
    heading(
        say,
        _("{DEVICES} simulated devices contribute (shard, prove, seal, upload)").format(
            DEVICES=DEVICES
        ),
    )
    excluded = set(sensitive)
    eligible = np.array([not excluded & set(item.categories) for item in items])
    weights = np.zeros(len(items))
    weights[rng.permutation(len(items))] = 1.0 / np.arange(1, len(items) + 1) ** 1.1
    taste = weights / weights.sum()
    client = DeviceHttpClient()
    for _device in range(DEVICES):
        history = rng.choice(len(items), size=int(rng.integers(1, 7)), replace=False, p=taste)
        candidates = sorted(int(i) for i in history if eligible[i])
        ones = set(sample_entries(candidates, task.max_weight, task.max_weight, rng))
        measurement = [i in ones for i in range(task.length)]
        truth += np.array(measurement, dtype=np.int64)
        reply = client.request(
            "PUT",
            f"{leader_url}/v1/secagg/reports",
            body=make_report(task, period, measurement).encode(),
        )
        if reply.status != 201:
            raise ReportingError(
                _("the demo leader refused a contribution (HTTP {status})").format(
                    status=reply.status
                )
            )
    say(
        _("{DEVICES} contributions taken by the leader, {sum:,} ones in all").format(
            DEVICES=DEVICES, sum=int(truth.sum())
        )
    )


def _compare(
    task: Task, items: list[Item], document: dict[str, Any], truth: np.ndarray, say: Say
) -> dict[str, Any]:
    titles = {item.id: item.title for item in items}
    rows = []
    for label, true_count in zip(task.labels, truth.tolist(), strict=True):
        got = document["estimates"][label]
        half = 1.96 * got["stderr"]
        rows.append(
            {
                "item": label,
                "true": true_count,
                "estimate": got["estimate"],
                "ci95": [got["estimate"] - half, got["estimate"] + half],
                "covered": bool(abs(got["estimate"] - true_count) <= half),
            }
        )
    stderr = document["estimates"][task.labels[0]]["stderr"]
    say(
        _(
            "the aggregate of {reports} contributions, each item ± "
            "{value:.1f} (95%); the most popular items:"
        ).format(reports=document["reports"], value=1.96 * stderr)
    )
    scale = float(max(truth.max(), 1))
    for row in sorted(rows, key=lambda r: -r["true"])[:SHOWN]:
        say(
            _("  {value:<32} true {true:>4} {bar:<30} est {estimate:>6.0f}").format(
                value=titles[row["item"]][:32],
                true=row["true"],
                bar=bar(row["true"], scale),
                estimate=row["estimate"],
            )
        )
    covered = sum(r["covered"] for r in rows)
    say(
        _("{covered} of {n_rows} true counts fall inside their interval (95%)").format(
            covered=covered, n_rows=len(rows)
        )
    )
    return {
        "reports": document["reports"],
        "rejected": document["rejected"],
        "estimates": rows,
        "covered": covered,
    }
