"""``discreet demo``: the whole loop, on the real components, in well under a minute.

1. Build the shipped catalog into a temporary TUF repository with fresh keys.
2. Start the real service on a free loopback port.
3. Create a temporary encrypted profile and sync the catalog over HTTP.
4. Play a short session (likes, a dislike, a muted category) and show the
   recommendations with their reasons, the data card, the report preview and the ledger.
5. Send the device's reports.
6. Simulate many more devices through the real oracle, posting their reports
   to the service, and compare its estimates with the true category popularity.
7. Shut everything down and remove the temporary files (unless ``keep``).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from discreet.demo_data import publish_demo_catalog
from discreet.engine import Engine
from discreet.errors import ReportingError, RepositoryNotFoundError
from discreet.i18n import _, pick
from discreet.profile.session import ProfileConfig, ProfileHome
from discreet.protocol.report import Report, period_of
from discreet.protocol.wire import encode_batch
from discreet.publish.publisher import current_manifest
from discreet.publish.repository import PublisherRepository
from discreet.server.run import BackgroundService
from discreet.server.storage import ReportStore
from discreet.store.keys import KeyFileKey
from discreet.sync.client import sync_catalog
from discreet.sync.http import DeviceHttpClient

Say = Callable[[str], None]


def heading(say: Say, title: str) -> None:
    """A blank line, then ``== title``: the start of one step of a demo."""
    say("")
    say(f"== {title}")


def bar(value: float, scale: float, width: int = 30) -> str:
    """``value`` as a bar of ``#`` out of ``width``, where ``scale`` fills it."""
    filled = round(width * max(value, 0.0) / scale) if scale > 0 else 0
    return "#" * min(filled, width)


def run_demo(
    *, clients: int = 20_000, keep: Path | None = None, say: Say = print, seed: int | None = None
) -> dict[str, Any]:
    """Run the demo, narrating through ``say``; return a machine-readable summary."""
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="discreet-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    today = dt.date.today()
    summary: dict[str, Any] = {"folder": str(work) if keep else None}
    try:
        heading(say, _("publisher: build, sign and publish the catalog (fresh Ed25519 keys)"))
        repo = PublisherRepository.init(work / "repo")
        result = publish_demo_catalog(repo)
        manifest = result.manifest
        say(
            _("catalog '{name}' v{version}: {item_count} items, signed").format(
                name=manifest.name, version=manifest.version, item_count=manifest.item_count
            )
        )
        store = ReportStore(work / "reports.db")
        try:
            with BackgroundService(repo, store, min_reports=1) as service:
                say(_("service listening on {url} (no access log is kept)").format(url=service.url))
                summary.update(_device(work, repo, service.url, today, rng, say))
                summary["population"] = _population(service.url, repo, clients, today, rng, say)
        finally:
            store.close()
        heading(say, _("done"))
        ran_here(say, work, keep)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return summary


def ran_here(say: Say, work: Path, keep: Path | None) -> None:
    """Say that everything ran on this machine, and where its files are (if kept)."""
    say(
        _("everything ran on this machine; temporary files kept in {work}").format(work=work)
        if keep
        else _("everything ran on this machine; temporary files removed")
    )


def install_device(
    work: Path, repo: PublisherRepository, url: str, today: dt.date, say: Say
) -> tuple[Path, KeyFileKey, int]:
    """A device in ``work/device``: the catalog synced over HTTP from ``url`` (TUF), a new
    encrypted profile under a key file; its home, its key and the catalog's version."""
    heading(say, _("device: verify and install the catalog over HTTP (TUF)"))
    home = work / "device"
    synced = sync_catalog(home, url, root=repo.trusted_root_path)
    say(_("installed catalog v{version}").format(version=synced.version))
    for notice in synced.notices:
        say(
            _("NOTICE [{severity}] {title}: {body}").format(
                severity=notice.severity, title=pick(notice.title), body=pick(notice.body)
            )
        )
    key = KeyFileKey.create(work / "device.key")
    session = ProfileHome(home).create(
        key, ProfileConfig("standard", "keyfile", str(key.path)), today
    )
    if session is not None:
        session.close()
    return home, key, synced.version


def _device(
    work: Path,
    repo: PublisherRepository,
    url: str,
    today: dt.date,
    rng: np.random.Generator,
    say: Say,
) -> dict[str, Any]:
    home, key, version = install_device(work, repo, url, today, say)
    with Engine.open(home, key=key) as engine:
        catalog = engine.catalog
        heading(say, _("device: a short session"))
        crime = [catalog.item_at(int(r)) for r in catalog.features.rows_in(["crime"])[:3]]
        travel = catalog.item_at(int(catalog.features.rows_in(["travel"])[0]))
        liked_ids = {i.id for i in (*crime, travel)}
        cooking = next(
            catalog.item_at(int(r))
            for r in catalog.features.rows_in(["food"])
            if catalog.item_at(int(r)).id not in liked_ids
        )
        for item in (*crime, travel):
            engine.record(item.id, "like")
            say(_("liked     {title}").format(title=item.title))
        engine.record(cooking.id, "dislike")
        say(_("disliked  {title}").format(title=cooking.title))
        engine.mute("politics")
        say(_("muted     Politics & society"))
        heading(say, _("device: recommendations, each with its reasons"))
        results = engine.recommend(5)
        for position, rec in enumerate(results, start=1):
            say(f"{position}. {rec.title}")
            for reason in rec.reasons:
                say(f"     {reason.text}")
        heading(say, _("device: the data card (what is kept, why, for how long)"))
        card = ProfileHome(home).data_card()
        for field in card["fields"]:
            say(
                _("- {field}: kept {retention}").format(
                    field=field["field"], retention=field["retention"]
                )
            )
        say(
            _("- stored at {location}: {encryption}").format(
                location=card["storage"]["location"], encryption=card["storage"]["encryption"]
            )
        )
        heading(say, _("device: private reports (the user consents to the exact parameters)"))
        params = engine.reporting_parameters()
        engine.consent()
        preview = engine.preview_reports(rng)
        for pending in preview.reports:
            epsilon = params.kinds[pending.kind].oracle.epsilon
            say(
                _("{kind:<8} ε={epsilon:g}  bytes {hex}").format(
                    kind=pending.kind, epsilon=epsilon, hex=pending.data.hex()
                )
            )
        say(
            _("budget this week: ε {epsilon_spent:g} of {epsilon_cap:g}").format(
                epsilon_spent=preview.epsilon_spent, epsilon_cap=preview.epsilon_cap
            )
        )
        sent = engine.send_reports(url, max_delay=0)
        ledger = engine.ledger()
        say(_("sent {sent} reports; the ledger now reads:").format(sent=sent.sent))
        for entry in ledger:
            say(f"  {entry.period} {entry.kind:<8} ε={entry.epsilon:g} {entry.status}")
    return {
        "catalog_version": version,
        "recommendations": [r.to_json() for r in results],
        "reports_sent": sent.sent,
        "ledger": [
            {"period": e.period, "kind": e.kind, "epsilon": e.epsilon, "status": e.status}
            for e in ledger
        ],
    }


def _population(
    url: str,
    repo: PublisherRepository,
    clients: int,
    today: dt.date,
    rng: np.random.Generator,
    say: Say,
) -> list[dict[str, Any]]:
    heading(
        say,
        _("{clients:,} simulated devices report categories through the real oracle").format(
            clients=clients
        ),
    )
    manifest = current_manifest(repo)
    if manifest is None:
        raise RepositoryNotFoundError(_("the demo repository has no catalog"))
    params = manifest.reporting
    kind = params.kinds["category"]
    labels = list(kind.categories)
    weights = 1.0 / np.arange(1, len(labels) + 2) ** 0.8  # "none" plus a Zipf-like taste
    truth = weights / weights.sum()
    values = rng.choice(len(labels) + 1, size=clients, p=truth)
    payloads = kind.oracle.privatise_many(values, rng)
    period = period_of(today)
    version = manifest.version
    device_http = DeviceHttpClient()
    for start in range(0, clients, 1000):
        chunk = payloads[start : start + 1000]
        body = encode_batch(
            [
                (
                    secrets.token_bytes(16),
                    Report("category", kind.oracle.mechanism, version, period, int(p)).to_bytes(),
                )
                for p in chunk
            ]
        )
        reply = device_http.request(
            "POST", url + "/v1/reports", body=body, headers={"Content-Type": "application/json"}
        )
        if not reply.ok:
            raise ReportingError(
                _("the demo service refused the reports (HTTP {status})").format(
                    status=reply.status
                )
            )
    with urllib.request.build_opener().open(
        f"{url}/v1/estimates?period={period}&kind=category", timeout=30
    ) as response:
        estimates = json.loads(response.read())
    say(
        _("the service's estimates from {reports:,} reports, ± interval (95%):").format(
            reports=estimates["reports"]
        )
    )
    rows = []
    scale = max(truth) * clients
    for index, label in enumerate(labels, start=1):
        true_count = float(truth[index] * clients)
        got = estimates["estimates"][label]
        low, high = got["estimate"] - 1.96 * got["stderr"], got["estimate"] + 1.96 * got["stderr"]
        say(
            _(
                "  {label:<18} true {true_count:>7.0f} {bar:<30} est {estimate:>7.0f} ± {value:.0f}"
            ).format(
                label=label,
                true_count=true_count,
                bar=bar(true_count, scale),
                estimate=got["estimate"],
                value=1.96 * got["stderr"],
            )
        )
        rows.append(
            {
                "category": label,
                "true": true_count,
                "estimate": got["estimate"],
                "ci95": [low, high],
                "covered": bool(low <= true_count <= high),
            }
        )
    covered = sum(r["covered"] for r in rows)
    say(
        _("{covered} of {n_rows} true counts fall inside their interval (95%)").format(
            covered=covered, n_rows=len(rows)
        )
    )
    return rows
