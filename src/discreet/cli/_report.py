"""``discreet report consent|revoke|preview|send`` and ``discreet ledger``, over the Engine."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from discreet.cli._command import UsageError, add_command
from discreet.cli._engine import open_engine
from discreet.cli._keys import add_passphrase_options
from discreet.cli._output import emit
from discreet.errors import ConsentRequiredError
from discreet.i18n import _


def cmd_consent(args: argparse.Namespace) -> int:
    """Opt in to reporting with the exact parameters shown."""
    with open_engine(args) as engine:
        terms = engine.consent_terms()
        if terms is None:
            emit(
                args,
                {"consent": False, "reason": "no reports"},
                [_("this catalog asks for no reports")],
            )
            return 0
        text = engine.reporting_terms()
        if not args.yes:
            if not sys.stdin.isatty():
                raise ConsentRequiredError(
                    _("consent must be given explicitly: review the parameters, then pass --yes")
                )
            print("\n".join(text))
            if input(_("Send these private reports? [y/N] ")).strip().lower() not in ("y", "yes"):
                emit(args, {"consent": False}, [_("reporting stays off")])
                return 1
        digest = engine.consent()
    doc = {"consent": True, "parameters": terms, "digest": digest}
    emit(args, doc, [*text, _("reporting is on, with exactly these parameters")])
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    """Opt out; unsent reports are dropped."""
    with open_engine(args) as engine:
        dropped = engine.revoke_consent()
    emit(
        args,
        {"consent": False, "dropped": dropped},
        [_("reporting is off; {dropped} unsent reports were dropped").format(dropped=dropped)],
    )
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    """Show the exact bytes that would be sent this period, and their ε."""
    with open_engine(args) as engine:
        if engine.reporting_mode == "secure-aggregation":
            contribution = engine.preview_contribution()
            doc = contribution.to_json()
            emit(args, doc, _contribution_lines(doc))
            return 0
        preview = engine.preview_reports()
    doc = preview.to_json()
    lines = [
        _("period {period}: ε {epsilon_spent:g} of {epsilon_cap:g}").format(
            period=preview.period,
            epsilon_spent=preview.epsilon_spent,
            epsilon_cap=preview.epsilon_cap,
        )
    ]
    for r in doc["reports"]:
        lines.append(f"  {r['kind']:<8} ε={r['epsilon']:g}  {r['bytes_hex']}")
        lines.append("           " + ", ".join(f"{k} {v}" for k, v in r["fields"].items()))
    if not doc["reports"]:
        lines.append(_("  nothing queued"))
    emit(args, doc, lines)
    return 0


def _contribution_lines(doc: dict[str, Any]) -> list[str]:
    items = doc["items"]
    return [
        _("period {period}: ε {epsilon_spent:g} of {epsilon_cap:g}").format(
            period=doc["period"], epsilon_spent=doc["epsilon_spent"], epsilon_cap=doc["epsilon_cap"]
        ),
        _("  secure aggregation, to {leader}: ε={epsilon:g} δ={delta:g}, {size} bytes").format(
            leader=doc["leader"], epsilon=doc["epsilon"], delta=doc["delta"], size=doc["size"]
        ),
        _("  items: {items}").format(
            items=_("(made earlier)") if items is None else ", ".join(items) or _("none")
        ),
        f"  {doc['bytes_hex']}",
        *_pairs_lines(doc.get("cooccurrence")),
    ]


def _pairs_lines(pairs: dict[str, Any] | None) -> list[str]:
    """The co-occurrence contribution's lines of ``report preview`` (none without one)."""
    if pairs is None:
        return []
    held = pairs["pairs"]
    shown = (
        _("(made earlier)") if held is None else ", ".join(f"{a}+{b}" for a, b in held) or _("none")
    )
    return [
        _("  co-occurrence, to {leader}: ε={epsilon} δ={delta}, {size} bytes").format(
            leader=pairs["leader"],
            epsilon=f"{pairs['epsilon']:g}",
            delta=f"{pairs['delta']:g}",
            size=pairs["size"],
        ),
        _("  pairs: {pairs}").format(pairs=shown),
        f"  {pairs['bytes_hex']}",
    ]


def cmd_send(args: argparse.Namespace) -> int:
    """Send the queued reports; they stay queued if the service cannot be reached."""
    with open_engine(args) as engine:
        if not engine.queued_reports():
            emit(args, {"sent": 0, "duplicates": 0, "rejected": 0}, [_("nothing to send")])
            return 0
        if engine.reporting_mode == "secure-aggregation":
            if args.to is not None:
                raise UsageError(_("contributions go to the catalog's leader only; drop --to"))
            result = engine.send_contributions(max_delay=args.max_delay)
        else:
            result = engine.send_reports(args.to, max_delay=args.max_delay)
    doc: dict[str, Any] = {
        "sent": result.sent,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
    }
    if result.rejected:
        doc["reason"] = result.reason
        lines = [
            _("the service refused {rejected} reports ({reason}); dropped").format(
                rejected=result.rejected, reason=result.reason
            )
        ]
    else:
        lines = [_("sent {value} reports").format(value=result.sent + result.duplicates)]
    emit(args, doc, lines)
    return 0 if not result.rejected else 1


def cmd_ledger(args: argparse.Namespace) -> int:
    """Every report made, with its ε, per period."""
    with open_engine(args) as engine:
        ledger = engine.ledger()
    entries: list[dict[str, Any]] = [e.to_json() for e in ledger]
    totals: dict[str, float] = {}
    for e in ledger:
        totals[e.period] = totals.get(e.period, 0.0) + e.epsilon
    lines = [
        f"{e['day']} {e['period']} {e['kind']:<8} ε={e['epsilon']:g} {e['status']:<9} "
        f"sha256 {e['digest'][:16]}…"
        for e in entries
    ] or [_("no reports yet")]
    lines += [
        _("total {period}: ε={total:g}").format(period=period, total=total)
        for period, total in sorted(totals.items())
    ]
    emit(args, {"entries": entries, "epsilon_by_period": totals}, lines)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``report`` and ``ledger``."""
    report = sub.add_parser("report", parents=[common], help=_("private reports"))
    commands = report.add_subparsers(dest="report_command", required=True, metavar="COMMAND")
    p = add_command(
        commands,
        "consent",
        common,
        help=_("opt in, with the exact parameters shown"),
        example="discreet report consent --yes",
        handler=cmd_consent,
    )
    p.add_argument("--yes", action="store_true", help=_("consent without a prompt"))
    add_passphrase_options(p)
    p = add_command(
        commands,
        "revoke",
        common,
        help=_("opt out; unsent reports are dropped"),
        example="discreet report revoke",
        handler=cmd_revoke,
    )
    add_passphrase_options(p)
    p = add_command(
        commands,
        "preview",
        common,
        help=_("the exact bytes that would be sent, and their ε"),
        example="discreet report preview --json",
        handler=cmd_preview,
    )
    add_passphrase_options(p)
    p = add_command(
        commands,
        "send",
        common,
        help=_("send the queued reports, each alone after its own random delay"),
        example="discreet report send --to https://recs.example",
        handler=cmd_send,
    )
    p.add_argument(
        "--to",
        metavar="URL",
        help=_(
            "the LDP service (default: the catalog's reports URL, or where the catalog "
            "came from); contributions go to the catalog's leader"
        ),
    )
    p.add_argument(
        "--max-delay",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help=_("before each report, wait a random time up to this (default 30)"),
    )
    add_passphrase_options(p)
    p = add_command(
        sub,
        "ledger",
        common,
        help=_("every report made and the ε spent"),
        example="discreet ledger --json",
        handler=cmd_ledger,
    )
    add_passphrase_options(p)
