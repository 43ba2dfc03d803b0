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
from discreet.catalog.text import json_text
from discreet.cli import _catalog, _demo, _eval, _kiosk, _profile, _publish, _rank, _report, _server
from discreet.cli._command import UsageError
from discreet.cli._output import paint, printable
from discreet.cli._parser import LocalParser
from discreet.errors import DiscreetError, InputError
from discreet.i18n import SUPPORTED, _, ngettext, use

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _common(*, home: bool) -> argparse.ArgumentParser:
    """Options every command accepts, before or after the command name; ``--home`` only
    where there is a client home (not for the publisher, the service or the evaluation)."""
    common = argparse.ArgumentParser(add_help=False)
    if home:
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
        help=_("print one JSON document on stdout (errors too)"),
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
    common = _common(home=False)
    client = _common(home=True)
    client.set_defaults(client_command=True)  # the commands that read a client home
    parser = LocalParser(
        prog="discreet",
        description=_("Personal recommendations without collecting personal data."),
        parents=[_common(home=True)],
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
    _catalog.register(sub, client)
    _profile.register(sub, client)
    _report.register(sub, client)
    _rank.register(sub, client)
    _eval.register(sub, common)
    _demo.register(sub, common)
    _kiosk.register(sub, client)

    return parser


#: How many of a publisher's input problems are listed on stderr (``--json`` has them all).
SHOWN_PROBLEMS = 20


def _print_problems(problems: Sequence[str]) -> None:
    """Every problem in the publisher's input, one a line (the first 20, and a count)."""
    for problem in problems[:SHOWN_PROBLEMS]:
        print(f"  {printable(problem)}", file=sys.stderr)
    hidden = len(problems) - SHOWN_PROBLEMS
    if hidden > 0:
        more = ngettext(
            "  ... and {count} more problem (all of them with --json)",
            "  ... and {count} more problems (all of them with --json)",
            hidden,
        )
        print(more.format(count=hidden), file=sys.stderr)


def _json_error(code: str, message: str, exit_code: int, problems: Sequence[str] = ()) -> None:
    """Under ``--json``, a failure is a JSON document on stdout too (besides the stderr line):
    ``code`` is the error's class name (or ``"usage"``), stable for scripts to test;
    ``problems`` lists every problem found in a publisher's input."""
    error: dict[str, object] = {"code": code, "message": message, "exit_code": exit_code}
    if problems:
        error["problems"] = list(problems)
    document = {"error": error}
    sys.stdout.write(json_text(document) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    It speaks the language ``--lang`` names, else the environment's (:mod:`discreet.i18n`).
    """
    with use(_language_option(argv)):
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:
        status = int(exc.code or 0)
        if status == EXIT_USAGE and "--json" in arguments:
            _json_error("usage", _("the arguments do not parse; see the usage above"), status)
        return status
    args.home = getattr(args, "home", None)
    args.json = getattr(args, "json", False)
    try:
        if args.home is not None and not getattr(args, "client_command", False):
            raise UsageError(
                _("--home names a device's data folder; this command does not use one")
            )
        code: int = args.handler(args)
    except UsageError as exc:
        print(
            _("discreet: {label} {message}").format(
                label=paint(_("usage error:"), "red", sys.stderr), message=printable(str(exc))
            ),
            file=sys.stderr,
        )
        if args.json:
            _json_error("usage", str(exc), EXIT_USAGE)
        return EXIT_USAGE
    except DiscreetError as exc:
        print(
            _("discreet: {label} {message}").format(
                label=paint(_("error:"), "red", sys.stderr), message=printable(str(exc))
            ),
            file=sys.stderr,
        )
        problems = exc.problems if isinstance(exc, InputError) else ()
        if len(problems) > 1:
            _print_problems(problems)
        if args.json:
            _json_error(type(exc).__name__, str(exc), EXIT_FAILURE, problems)
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
        if args.json:
            _json_error("OSError", f"{exc.strerror or exc}{where}", EXIT_FAILURE)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(_("discreet: interrupted; nothing was left half-written"), file=sys.stderr)
        return 130
    return code
