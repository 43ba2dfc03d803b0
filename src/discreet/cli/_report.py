"""``discreet report consent|revoke|preview`` and ``discreet ledger``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from discreet.cli._command import add_command
from discreet.cli._keys import add_passphrase_options
from discreet.cli._output import emit
from discreet.cli._profile import open_session
from discreet.errors import ConsentRequiredError
from discreet.home import resolve_home
from discreet.privacy.client import prepare_reports
from discreet.privacy.params import ReportingParams
from discreet.privacy.report import Report
from discreet.sync.client import InstalledCatalogs


def _params(args: argparse.Namespace) -> tuple[Any, ReportingParams]:
    catalog = InstalledCatalogs(resolve_home(args.home)).open()
    return catalog, ReportingParams.for_catalog(catalog)


def describe(params: ReportingParams) -> list[str]:
    """The parameters in words, as shown before consent."""
    lines = [
        f"At most one report of each kind per {params.period}, "
        f"spending at most ε={params.epsilon_per_period:g} per {params.period} in total:",
    ]
    for kind, kp in sorted(params.kinds.items()):
        o = kp.oracle
        what = (
            f"one of {len(kp.categories)} non-sensitive categories you engaged with"
            if kind == "category"
            else f"one item you engaged with (padded to {kp.pad_length} with 'none')"
        )
        lines.append(
            f"  {kind}: {what}, randomised with {o.mechanism} at ε={o.epsilon:g} "
            f"({o.payload_bits}-bit payload in a 16-byte report)"
        )
    lines.append("No identifier, no time finer than the week, nothing from sensitive categories.")
    return lines


def cmd_consent(args: argparse.Namespace) -> int:
    """Opt in to reporting with the exact parameters shown."""
    _, params = _params(args)
    if not params.enabled:
        emit(args, {"consent": False, "reason": "no reports"}, ["this catalog asks for no reports"])
        return 0
    text = describe(params)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConsentRequiredError(
                "consent must be given explicitly: review the parameters, then pass --yes"
            )
        print("\n".join(text))
        if input("Send these private reports? [y/N] ").strip().lower() not in ("y", "yes"):
            emit(args, {"consent": False}, ["reporting stays off"])
            return 1
    with open_session(args) as session:
        consent = session.profile.grant(params.to_json(), dt.date.today())
        session.save()
    doc = {"consent": True, "parameters": params.to_json(), "digest": consent.digest}
    emit(args, doc, [*text, "reporting is on, with exactly these parameters"])
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    """Opt out; unsent reports are dropped."""
    with open_session(args) as session:
        dropped = session.profile.revoke()
        session.save()
    emit(
        args,
        {"consent": False, "dropped": dropped},
        [f"reporting is off; {dropped} unsent reports were dropped"],
    )
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    """Show the exact bytes that would be sent this period, and their ε."""
    catalog, params = _params(args)
    with open_session(args) as session:
        preview = prepare_reports(session.profile, catalog, params, dt.date.today())
        session.save()
    reports = []
    for pending in preview.reports:
        decoded = Report.from_bytes(pending.data)
        epsilon = (
            params.kinds[pending.kind].oracle.epsilon if pending.kind in params.kinds else None
        )
        reports.append(
            {
                "kind": pending.kind,
                "period": pending.period,
                "epsilon": epsilon,
                "bytes_hex": pending.data.hex(),
                "fields": {
                    "version": decoded.version,
                    "kind": decoded.kind,
                    "mechanism": decoded.mechanism,
                    "catalog_version": decoded.catalog_version,
                    "period": decoded.period,
                    "payload": decoded.payload,
                },
            }
        )
    doc = {
        "period": preview.period,
        "epsilon_spent": preview.epsilon_spent,
        "epsilon_cap": preview.epsilon_cap,
        "blocked": list(preview.blocked),
        "reports": reports,
    }
    lines = [f"period {preview.period}: ε {preview.epsilon_spent:g} of {preview.epsilon_cap:g}"]
    for r in reports:
        lines.append(f"  {r['kind']:<8} ε={r['epsilon']:g}  {r['bytes_hex']}")
        lines.append(f"           {r['fields']}")
    if not reports:
        lines.append("  nothing queued")
    emit(args, doc, lines)
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    """Send the queued reports; they stay queued if the service cannot be reached."""
    from discreet.sync.reports import send_reports

    home = resolve_home(args.home)
    url = args.to or InstalledCatalogs(home).current_source_url()
    with open_session(args) as session:
        if not session.profile.outbox:
            emit(args, {"sent": 0, "duplicates": 0, "rejected": 0}, ["nothing to send"])
            return 0
        try:
            result = send_reports(session.profile, url, max_delay=args.max_delay)
        finally:
            session.save()  # sent or rejected reports leave the outbox either way
    doc: dict[str, Any] = {
        "sent": result.sent,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
    }
    if result.rejected:
        doc["reason"] = result.reason
        lines = [f"the service refused {result.rejected} reports ({result.reason}); dropped"]
    else:
        lines = [f"sent {result.sent + result.duplicates} reports"]
    emit(args, doc, lines)
    return 0 if not result.rejected else 1


def cmd_ledger(args: argparse.Namespace) -> int:
    """Every report made, with its ε, per period."""
    with open_session(args) as session:
        ledger = list(session.profile.ledger)
    entries: list[dict[str, Any]] = [e.to_json() for e in ledger]
    totals: dict[str, float] = {}
    for e in ledger:
        totals[e.period] = totals.get(e.period, 0.0) + e.epsilon
    lines = [
        f"{e['day']} {e['period']} {e['kind']:<8} ε={e['epsilon']:g} {e['status']:<9} "
        f"sha256 {e['digest'][:16]}…"
        for e in entries
    ] or ["no reports yet"]
    lines += [f"total {period}: ε={total:g}" for period, total in sorted(totals.items())]
    emit(args, {"entries": entries, "epsilon_by_period": totals}, lines)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``report`` and ``ledger``."""
    report = sub.add_parser("report", parents=[common], help="private reports")
    commands = report.add_subparsers(dest="report_command", required=True, metavar="COMMAND")
    p = add_command(
        commands,
        "consent",
        common,
        help="opt in, with the exact parameters shown",
        example="discreet report consent --yes",
        handler=cmd_consent,
    )
    p.add_argument("--yes", action="store_true", help="consent without a prompt")
    add_passphrase_options(p)
    p = add_command(
        commands,
        "revoke",
        common,
        help="opt out; unsent reports are dropped",
        example="discreet report revoke",
        handler=cmd_revoke,
    )
    add_passphrase_options(p)
    p = add_command(
        commands,
        "preview",
        common,
        help="the exact bytes that would be sent, and their ε",
        example="discreet report preview --json",
        handler=cmd_preview,
    )
    add_passphrase_options(p)
    p = add_command(
        commands,
        "send",
        common,
        help="send the queued reports (after a random delay)",
        example="discreet report send --to https://recs.example",
        handler=cmd_send,
    )
    p.add_argument("--to", metavar="URL", help="the service (default: where the catalog came from)")
    p.add_argument(
        "--max-delay",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="wait a random time up to this before sending (default 30)",
    )
    add_passphrase_options(p)
    p = add_command(
        sub,
        "ledger",
        common,
        help="every report made and the ε spent",
        example="discreet ledger --json",
        handler=cmd_ledger,
    )
    add_passphrase_options(p)
