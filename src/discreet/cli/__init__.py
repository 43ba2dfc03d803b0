"""The ``discreet`` command: parses arguments, calls the library, maps errors to exit codes.

Exit codes: 0 success, 1 failure (one line on stderr saying what to do),
2 usage error. User errors never print a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from discreet import __version__
from discreet.cli import _catalog, _demo, _eval, _kiosk, _profile, _publish, _rank, _report, _server
from discreet.cli._command import UsageError
from discreet.cli._output import paint, printable
from discreet.cli._parser import LocalParser
from discreet.errors import DiscreetError
from discreet.i18n import SUPPORTED, _, use

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _common() -> argparse.ArgumentParser:
    """Options every command accepts, before or after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help=_("client data folder (default: $DISCREET_HOME or the platform's data folder)"),
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help=_("print one JSON document on stdout"),
    )
    common.add_argument(
        "--lang",
        choices=SUPPORTED,
        default=argparse.SUPPRESS,
        help=_("the language to speak (default: from $DISCREET_LANG, $LANGUAGE or $LANG)"),
    )
    return common


def _language_option(argv: Sequence[str] | None) -> str | None:
    """``--lang``, read before the parser is built so that its help is in that language."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--lang")
    chosen = early.parse_known_args(argv)[0].lang
    return chosen if chosen in SUPPORTED else None


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    common = _common()
    parser = LocalParser(
        prog="discreet",
        description=_("Personal recommendations without collecting personal data."),
        parents=[common],
        epilog=_("Run 'discreet COMMAND --help' for a command's options and an example."),
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"discreet {__version__}",
        help=_("show the version and exit"),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    publish_commands = _publish.register(sub, common)
    _server.register(sub, publish_commands, common)
    _catalog.register(sub, common)
    _profile.register(sub, common)
    _report.register(sub, common)
    _rank.register(sub, common)
    _eval.register(sub, common)
    _demo.register(sub, common)
    _kiosk.register(sub, common)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    It speaks the language ``--lang`` names, else the environment's (:mod:`discreet.i18n`).
    """
    with use(_language_option(argv)):
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    args.home = getattr(args, "home", None)
    args.json = getattr(args, "json", False)
    try:
        code: int = args.handler(args)
    except UsageError as exc:
        print(
            _("discreet: {label} {message}").format(
                label=paint(_("usage error:"), "red", sys.stderr), message=printable(str(exc))
            ),
            file=sys.stderr,
        )
        return EXIT_USAGE
    except DiscreetError as exc:
        print(
            _("discreet: {label} {message}").format(
                label=paint(_("error:"), "red", sys.stderr), message=printable(str(exc))
            ),
            file=sys.stderr,
        )
        return EXIT_FAILURE
    except BrokenPipeError:
        # The reader went away (``discreet recommend | head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            _("discreet: error: {problem}; check the path, free disk space and permissions").format(
                problem=printable(f"{exc.strerror or exc}{where}")
            ),
            file=sys.stderr,
        )
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(_("discreet: interrupted; nothing was left half-written"), file=sys.stderr)
        return 130
    return code
