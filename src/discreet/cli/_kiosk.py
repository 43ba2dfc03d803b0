"""``discreet kiosk``: an interactive session that keeps nothing."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from discreet.cli._command import UsageError, add_command, port_number
from discreet.home import resolve_home
from discreet.i18n import _

#: Erase the whole screen and its scroll-back, and put the cursor home (ECMA-48).
CLEAR_SCREEN = "\033[H\033[2J\033[3J"


def _lines() -> Iterator[str]:
    if sys.stdin.isatty():
        while True:
            try:
                yield input("> ")
            except EOFError:
                return
    else:
        yield from sys.stdin


def cmd_kiosk(args: argparse.Namespace) -> int:
    """Run the session (with ``--web``, serve the page instead)."""
    from discreet.cli._kiosk_web import check_web_options, cmd_kiosk_web, demo_catalog_home

    if args.json:
        raise UsageError(_("the kiosk is an interactive session; it has no --json output"))
    check_web_options(args)
    if args.web:
        return cmd_kiosk_web(args)
    from discreet.kiosk import run_kiosk

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def clear() -> None:
        if sys.stdout.isatty():
            sys.stdout.write(CLEAR_SCREEN)
            sys.stdout.flush()

    with contextlib.ExitStack() as stack:
        home = stack.enter_context(demo_catalog_home()) if args.demo else resolve_home(args.home)
        run_kiosk(home, _lines(), say, idle_seconds=args.idle, clear=clear)
    return 0


def _seconds(value: str) -> float:
    number = float(value)
    if not 1 <= number <= 86_400:
        raise argparse.ArgumentTypeError(_("between 1 and 86400 seconds"))
    return number


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``kiosk``."""
    p = add_command(
        sub,
        "kiosk",
        common,
        help=_("an interactive session that keeps nothing (over the installed catalog)"),
        example="discreet kiosk --demo --idle 120",
        handler=cmd_kiosk,
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help=_("use the shipped bookshop catalog (built into a temporary folder, removed at exit)"),
    )
    p.add_argument(
        "--idle",
        type=_seconds,
        default=300.0,
        metavar="SECONDS",
        help=_("wipe the session after this long without input (default 300)"),
    )
    p.add_argument(
        "--web",
        action="store_true",
        help="serve a touch-friendly page on loopback for a full-screen browser, not a terminal",
    )
    p.add_argument(
        "--port",
        type=port_number,
        default=None,
        help="with --web: the loopback port (default 8765; 0 picks a free one)",
    )
