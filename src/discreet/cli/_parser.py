"""``argparse`` in the user's language: its own words (usage, sections, errors) as well.

``argparse`` translates through the process-wide gettext domain, which an
application embedding discreet owns; these parser and formatter classes ask
:mod:`discreet.i18n` instead, for the words the CLI shows on every ``--help``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from discreet.i18n import _


class LocalHelpFormatter(argparse.HelpFormatter):
    """The default formatter, with ``usage:`` in the language in use."""

    def add_usage(
        self, usage: str | None, actions: Any, groups: Any, prefix: str | None = None
    ) -> None:
        super().add_usage(usage, actions, groups, _("usage: ") if prefix is None else prefix)


class LocalParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` (and, through ``add_subparsers``, its sub-parsers) that names
    its sections, its ``--help`` and its errors in the language in use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", LocalHelpFormatter)
        super().__init__(*args, **kwargs)
        self._positionals.title = _("positional arguments")
        self._optionals.title = _("options")
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                action.help = _("show this help message and exit")

    def error(self, message: str) -> NoReturn:
        """Print the usage and ``PROG: error: MESSAGE``, then exit with code 2."""
        self.print_usage(sys.stderr)
        self.exit(2, _("{prog}: error: {message}\n").format(prog=self.prog, message=message))
