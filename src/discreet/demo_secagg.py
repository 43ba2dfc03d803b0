"""``discreet demo --secure-aggregation``: the weekly contribution, end to end, on loopback.

1. Create two secure-aggregation tasks with fresh HPKE key pairs (leader,
   helper, collector): popularity over the shipped catalog's items, and
   co-occurrence of the pairs among the :data:`TOP_M` most popular items (the
   publisher's popularity; here the simulation's taste stands in for last
   week's collected aggregate).
2. Start the leader and the helper, each a process of its own serving both
   tasks (a database and key pair per task), and the catalog service in a thread.
3. Build the shipped catalog in the secure-aggregation mode (the task and the
   aggregators' endpoints in the signed manifest).
4. One real device syncs it over HTTP, plays a short session, consents, previews
   its two contributions (the exact bytes and their size, ε and δ in the ledger)
   and sends them to the leader.
5. Simulated devices contribute through the same path
   (:func:`discreet.secagg.upload.make_report`, then an upload to the leader).
6. The publisher collects the week of each task; the noisy estimates (items, and
   the most frequent pairs) are compared with the truth.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from discreet.catalog.items import Item, read_items
from discreet.catalog.taxonomy import load_taxonomy
from discreet.demo import Say, bar, heading, install_device, ran_here
from discreet.demo_data import demo_items_path, demo_taxonomy_path, publish_demo_catalog
from discreet.engine import Engine
from discreet.errors import ReportingError
from discreet.i18n import _, ngettext
from discreet.profile.contribution import (
    ContributionPreview,
    pair_index,
    pair_items,
    sample_entries,
    sample_pairs,
)
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

__all__ = ["DEVICES", "MAX_WEIGHT", "MIN_BATCH_SIZE", "TOP_M", "run_secagg_demo"]

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
#: The co-occurrence task pairs the M most popular items: M(M-1)/2 entries.
TOP_M = 12
#: The pairs printed (the most frequent by the truth).
SHOWN_PAIRS = 6


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
        heading(say, _("publisher: two secure-aggregation tasks (fresh HPKE keys for all three)"))
        taxonomy = load_taxonomy(demo_taxonomy_path())
        items = read_items(demo_items_path(), taxonomy)
        population = _Population.draw(items, taxonomy.sensitive_ids, rng)
        files = create_task(
            work / "task",
            length=len(items),
            max_weight=MAX_WEIGHT,
            min_batch_size=MIN_BATCH_SIZE,
            epsilon=EPSILON,
            delta=DELTA,
            labels=tuple(item.id for item in items),
        )
        top = np.argsort(-population.taste, kind="stable")[:TOP_M]
        pair_files = create_task(
            work / "pairs",
            length=0,
            max_weight=MAX_WEIGHT,
            min_batch_size=MIN_BATCH_SIZE,
            epsilon=EPSILON,
            delta=DELTA,
            top_items=tuple(items[int(i)].id for i in top),
        )
        task, pairs = Task.load(files.task), Task.load(pair_files.task)
        summary["task"] = _describe_task(task, say)
        summary["pairs_task"] = _describe_task(pairs, say)
        both = [files, pair_files]
        with (
            AggregatorProcess(HELPER, both, work / "helper.db", work / "helper.log") as helper,
            AggregatorProcess(
                LEADER, both, work / "leader.db", work / "leader.log", helper_url=helper.url
            ) as leader,
        ):
            say(
                _("leader listening on {url} (its own process, databases and key pairs)").format(
                    url=leader.url
                )
            )
            say(
                _("helper listening on {url} (its own process, databases and key pairs)").format(
                    url=helper.url
                )
            )
            section = SecureAggregation(
                task, leader.url, helper.url, 2 * EPSILON, MAX_WEIGHT, pairs
            )
            repo = PublisherRepository.init(work / "repo")
            manifest = publish_demo_catalog(repo, secure_aggregation=section).manifest
            say(
                _(
                    "catalog '{name}' v{version}: {item_count} items, signed, "
                    "in the secure-aggregation mode"
                ).format(
                    name=manifest.name, version=manifest.version, item_count=manifest.item_count
                )
            )
            timings["setup_s"] = time.monotonic() - started
            truth = np.zeros(task.length, dtype=np.int64)
            pair_truth = np.zeros(pairs.length, dtype=np.int64)
            store = ReportStore(work / "reports.db")
            try:
                with BackgroundService(repo, store) as service:
                    popular = population.popular(pairs.top_items, excluded=("politics",))
                    preview, device = _device(work, repo, service.url, today, popular, say)
            finally:
                store.close()
            for item in preview.items or ():
                truth[task.labels.index(item)] += 1
            for a, b in (preview.cooccurrence and preview.cooccurrence.pairs) or ():
                top_items = pairs.top_items
                pair_truth[pair_index(top_items.index(a), top_items.index(b), TOP_M)] += 1
            summary["device"] = device
            mark = time.monotonic()
            summary["devices"] = DEVICES + 1
            population.contribute(section, period, truth, pair_truth, rng, say)
            timings["contributions_s"] = time.monotonic() - mark
            mark = time.monotonic()
            heading(
                say,
                _("publisher: collect {period} (the aggregators prepare, add noise)").format(
                    period=period
                ),
            )
            document, pair_document = (
                collect(
                    one,
                    hpke.read_keypair(task_files.keys[COLLECTOR]),
                    read_secrets(task_files.secrets[COLLECTOR]),
                    section.leader_url(one),
                    period,
                )
                for one, task_files in ((task, files), (pairs, pair_files))
            )
            timings["collection_s"] = time.monotonic() - mark
        summary.update(_compare(task, items, document, truth, say))
        summary["pairs"] = _compare_pairs(pairs, items, pair_document, pair_truth, say)
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
    what = (
        _("{length} pairs among the top {m} items").format(
            length=task.length, m=len(task.top_items)
        )
        if task.top_items
        else _("{length} items").format(length=task.length)
    )
    say(
        _(
            "{what}, at most K={max_weight} per device per week, "
            "at least {min_batch_size} devices per released week"
        ).format(what=what, max_weight=task.max_weight, min_batch_size=task.min_batch_size)
    )
    per = (
        _(
            "({epsilon:g}, {delta:g})-DP per device per week even if one "
            "aggregator is dishonest: each adds discrete Gaussian noise, "
            "σ={sigma:.2f}; released s.d. {stderr:.2f} per pair"
        )
        if task.top_items
        else _(
            "({epsilon:g}, {delta:g})-DP per device per week even if one "
            "aggregator is dishonest: each adds discrete Gaussian noise, "
            "σ={sigma:.2f}; released s.d. {stderr:.2f} per item"
        )
    )
    say(per.format(epsilon=task.epsilon, delta=task.delta, sigma=sigma, stderr=stderr))
    return {
        "kind": task.kind,
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
    work: Path,
    repo: PublisherRepository,
    url: str,
    today: dt.date,
    popular: list[str],
    say: Say,
) -> tuple[ContributionPreview, dict[str, Any]]:
    home, key, version = install_device(work, repo, url, today, say)
    with Engine.open(home, key=key) as engine:
        catalog = engine.catalog
        heading(say, _("device: a short session"))
        for row in catalog.features.rows_in(["crime"])[:3]:
            item = catalog.item_at(int(row))
            engine.record(item.id, "like")
            say(_("liked     {title}").format(title=item.title))
        for item_id in popular[:2]:  # two of the top-M items: a pair the second task counts
            engine.record(item_id, "view")
            say(_("viewed    {title}").format(title=catalog.item(item_id).title))
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
        pairs = preview.cooccurrence
        if pairs is not None:
            held = ", ".join(f"{a}+{b}" for a, b in pairs.pairs or ()) or _("none")
            say(_("pairs set to one: {pairs}").format(pairs=held))
            say(
                _("{size} bytes for the leader's co-occurrence task, begins {head}…").format(
                    size=f"{len(pairs.data):,}", head=pairs.data[:24].hex()
                )
            )
        say(
            _("budget this week: ε {epsilon_spent:g} of {epsilon_cap:g}").format(
                epsilon_spent=preview.epsilon_spent, epsilon_cap=preview.epsilon_cap
            )
        )
        sent = engine.send_contributions(max_delay=0)
        if sent.sent != (1 if pairs is None else 2):
            raise ReportingError(
                _("the leader did not take the demo device's contribution: {sent}").format(
                    sent=sent
                )
            )
        ledger = engine.ledger()
        say(
            ngettext(
                "sent {sent} contribution to the leader; the ledger now reads:",
                "sent {sent} contributions to the leader; the ledger now reads:",
                sent.sent,
            ).format(sent=sent.sent)
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


@dataclass(frozen=True)
class _Population:
    """The simulated devices' shared taste, and which items may enter a contribution."""

    items: list[Item]
    eligible: np.ndarray
    taste: np.ndarray

    @classmethod
    def draw(
        cls, items: list[Item], sensitive: frozenset[str], rng: np.random.Generator
    ) -> _Population:
        """A Zipf-like taste over the items; sensitive items never enter a contribution."""
        excluded = set(sensitive)
        eligible = np.array([not excluded & set(item.categories) for item in items])
        weights = np.zeros(len(items))
        weights[rng.permutation(len(items))] = 1.0 / np.arange(1, len(items) + 1) ** 1.1
        return cls(items, eligible, weights / weights.sum())

    def popular(self, top_items: tuple[str, ...], excluded: tuple[str, ...]) -> list[str]:
        """The top items a device may contribute, outside the ``excluded`` categories."""
        index = {item.id: i for i, item in enumerate(self.items)}
        return [
            item
            for item in top_items
            if self.eligible[index[item]]
            and not set(self.items[index[item]].categories) & set(excluded)
        ]

    def contribute(
        self,
        section: SecureAggregation,
        period: str,
        truth: np.ndarray,
        pair_truth: np.ndarray,
        rng: np.random.Generator,
        say: Say,
    ) -> None:
        """Each device: a week's history from the taste, sensitive items left out, K
        items and K pairs sampled, each sharded, sealed and uploaded to its task's URL."""
        heading(
            say,
            _("{DEVICES} simulated devices contribute (shard, prove, seal, upload)").format(
                DEVICES=DEVICES
            ),
        )
        task, pairs = section.task, section.cooccurrence
        assert pairs is not None  # the demo names both tasks
        top = {item: i for i, item in enumerate(pairs.top_items)}
        ids = [item.id for item in self.items]
        client = DeviceHttpClient()
        for _count in range(DEVICES):
            size = int(rng.integers(1, 7))
            history = rng.choice(len(self.items), size=size, replace=False, p=self.taste)
            candidates = sorted(int(i) for i in history if self.eligible[i])
            ones = sample_entries(candidates, task.max_weight, task.max_weight, rng)
            positions = sorted(top[ids[i]] for i in candidates if ids[i] in top)
            chosen = sample_pairs(positions, TOP_M, pairs.max_weight, section.pad_length, rng)
            for one, entries, counts in ((task, ones, truth), (pairs, chosen, pair_truth)):
                measurement = np.zeros(one.length, dtype=bool)
                measurement[entries] = True
                counts += measurement
                reply = client.request(
                    "PUT",
                    f"{section.leader_url(one)}/v1/secagg/reports",
                    body=make_report(one, period, measurement.tolist()).encode(),
                )
                if reply.status != 201:
                    raise ReportingError(
                        _("the demo leader refused a contribution (HTTP {status})").format(
                            status=reply.status
                        )
                    )
        say(
            _(
                "{DEVICES} contributions to each task taken by the leader, {items} items "
                "and {pairs} pairs in all"
            ).format(
                DEVICES=DEVICES,
                items=f"{int(truth.sum()):,}",
                pairs=f"{int(pair_truth.sum()):,}",
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


def _compare_pairs(
    task: Task, items: list[Item], document: dict[str, Any], truth: np.ndarray, say: Say
) -> dict[str, Any]:
    """The most frequent pairs by the truth, against their noisy counts."""
    titles = {item.id: item.title for item in items}
    counts = np.array(document["pair_counts"], dtype=np.int64)
    half = 1.96 * document["stderr"]
    covered = int(np.sum(np.abs(counts - truth) <= half))
    say(
        _(
            "the co-occurrence aggregate of {reports} contributions, each pair ± {half:.1f} "
            "(95%); the most frequent pairs:"
        ).format(reports=document["reports"], half=half)
    )
    rows = []
    for entry in np.argsort(-truth, kind="stable")[:SHOWN_PAIRS].tolist():
        a, b = pair_items(task, entry)
        rows.append({"pair": [a, b], "true": int(truth[entry]), "estimate": int(counts[entry])})
        say(
            _("  {a:<20} + {b:<20} true {true:>4} est {estimate:>5}").format(
                a=titles[a][:20], b=titles[b][:20], true=truth[entry], estimate=counts[entry]
            )
        )
    say(
        _("{covered} of {total} true pair counts fall inside their interval (95%)").format(
            covered=covered, total=len(truth)
        )
    )
    return {
        "reports": document["reports"],
        "rejected": document["rejected"],
        "m": document["m"],
        "stderr": document["stderr"],
        "top": rows,
        "true_counts": truth.tolist(),
        "pair_counts": counts.tolist(),
        "covered": covered,
    }
