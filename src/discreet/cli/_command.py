"""Declaring a sub-command: shared options, a help line, an example, a handler."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from discreet.cli._parser import LocalHelpFormatter
from discreet.i18n import N_, _

Handler = Callable[[argparse.Namespace], int]

#: How a help text names its default, in the language in use: a stem where the word
#: inflects (Spanish "predeterminado", "predeterminada").
DEFAULT_WORD = N_("default")


class UsageError(Exception):
    """Arguments that parse but do not make sense together; the CLI exits with code 2."""


class DefaultsHelpFormatter(LocalHelpFormatter):
    """Help that ends every option's line with its default, unless the text names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or "default" in text
            or _(DEFAULT_WORD) in text
            or default is None
            or isinstance(default, bool)
            or default is argparse.SUPPRESS
        ):
            return text
        return text + _(" (default: %(default)s)")


def add_command(
    commands: Any,
    name: str,
    common: argparse.ArgumentParser,
    *,
    help: str,
    example: str,
    handler: Handler,
) -> argparse.ArgumentParser:
    """Add ``name`` to ``commands``; its ``--help`` ends with ``example``, like every command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        parents=[common],
        help=help,
        epilog=_("example: {example}").format(example=example),
        formatter_class=DefaultsHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def positive_int(value: str) -> int:
    """An ``argparse`` type for counts and limits: a whole number of at least 1.

    >>> positive_int("1")
    1
    """
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(
            _("{value!r} is not a positive whole number").format(value=value)
        )
    return number


def positive_float(value: str) -> float:
    """An ``argparse`` type for scales and durations: a finite number above 0.

    >>> positive_float("0.5")
    0.5
    """
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(
            _("{value!r} is not a positive number").format(value=value)
        )
    return number


def port_number(value: str) -> int:
    """An ``argparse`` type for a TCP port, 0-65535 (0: a free one).

    >>> port_number("0")
    0
    """
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(_("{value!r} is not a port (0-65535)").format(value=value))
    return port
