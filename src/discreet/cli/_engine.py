"""Opening the Engine from the command line: the one way commands reach a stored profile."""

from __future__ import annotations

import argparse

from discreet.cli._keys import key_source
from discreet.engine import Engine
from discreet.errors import SessionModeError
from discreet.home import resolve_home
from discreet.i18n import _
from discreet.profile.session import ProfileHome


def open_engine(args: argparse.Namespace) -> Engine:
    """The Engine of ``--home``, its profile opened with the key the options name."""
    home = resolve_home(args.home)
    config = ProfileHome(home).config()
    if config.mode == "kiosk":
        raise SessionModeError(
            _(
                "this home is in kiosk mode, so nothing is kept on disk; use "
                "'discreet kiosk' for a session"
            )
        )
    return Engine.open(home, key=key_source(config, args))
