"""``discreet demo``: the whole loop on the built-in catalog."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from discreet.cli._command import UsageError, add_command
from discreet.cli._output import emit, paint
from discreet.i18n import _


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo."""
    from discreet.demo import run_demo

    def say(line: str) -> None:
        if not args.json:
            styled = paint(line, "bold") if line.startswith("== ") else line
            sys.stdout.write(styled + "\n")
            sys.stdout.flush()

    keep = Path(args.keep) if args.keep else None
    if args.secure_aggregation:
        if args.clients is not None:
            raise UsageError(
                _(
                    "--clients sizes the LDP demo; the secure-aggregation demo "
                    "simulates a fixed population (leave --clients out)"
                )
            )
        from discreet.demo_secagg import run_secagg_demo

        summary = run_secagg_demo(keep=keep, say=say, seed=args.seed)
    else:
        summary = run_demo(clients=args.clients or 20_000, keep=keep, say=say, seed=args.seed)
    emit(args, summary, [])
    return 0


def _clients(value: str) -> int:
    number = int(value)
    if not 1_000 <= number <= 10_000_000:
        raise argparse.ArgumentTypeError(_("between 1,000 and 10,000,000 simulated devices"))
    return number


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``demo``."""
    p = add_command(
        sub,
        "demo",
        common,
        help=_("the whole loop on the built-in catalog, in under a minute"),
        example="discreet demo --clients 50000",
        handler=cmd_demo,
    )
    p.add_argument("--clients", type=_clients, help=_("simulated devices (20,000)"))
    p.add_argument(
        "--secure-aggregation",
        action="store_true",
        help=_(
            "the secure-aggregation mode instead: a leader and a helper "
            "on loopback, a device's weekly contribution, simulated "
            "devices, the publisher's collection"
        ),
    )
    p.add_argument(
        "--keep", metavar="DIR", help=_("keep every file in DIR instead of removing them")
    )
    p.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help=_("seed the simulated randomness, for a run that repeats exactly (default: the OS)"),
    )
