"""Where the CLI gets keys: environment, files, or a prompt (on a terminal only)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from discreet.errors import KeySourceError
from discreet.i18n import _
from discreet.profile.session import ProfileConfig
from discreet.store.keys import KeySource, PassphraseKey

PASSPHRASE_ENV = "DISCREET_PASSPHRASE"  # noqa: S105 (a variable name)
NEW_PASSPHRASE_ENV = "DISCREET_NEW_PASSPHRASE"  # noqa: S105 (a variable name)
#: The publisher's root signing key's passphrase (``publish init --offline-root``).
ROOT_PASSPHRASE_ENV = "DISCREET_ROOT_PASSPHRASE"  # noqa: S105 (a variable name)


def add_passphrase_options(parser: argparse.ArgumentParser, *, new: bool = False) -> None:
    """``--passphrase-file`` (and ``--new-passphrase-file`` where a passphrase changes)."""
    parser.add_argument(
        "--passphrase-file",
        metavar="FILE",
        help=_(
            "read the passphrase from FILE (default: ${PASSPHRASE_ENV}, or a prompt on a tty)"
        ).format(PASSPHRASE_ENV=PASSPHRASE_ENV),
    )
    if new:
        parser.add_argument(
            "--new-passphrase-file",
            metavar="FILE",
            help=_(
                "read the new passphrase from FILE (default: ${NEW_PASSPHRASE_ENV}, or a prompt)"
            ).format(NEW_PASSPHRASE_ENV=NEW_PASSPHRASE_ENV),
        )


def _from_file(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeySourceError(
            _("cannot read the passphrase file {path} ({exc})").format(path=path, exc=exc)
        ) from None
    return text.rstrip("\r\n")


def read_passphrase(
    args: argparse.Namespace,
    *,
    new: bool = False,
    confirm: bool = False,
    env: str | None = None,
) -> str:
    """The passphrase from a file option, the environment (``env``, if not the profile's
    variable) or, on a terminal, a prompt."""
    file_option = getattr(args, "new_passphrase_file" if new else "passphrase_file", None)
    if file_option:
        return _from_file(file_option)
    which = env or (NEW_PASSPHRASE_ENV if new else PASSPHRASE_ENV)
    from_env = os.environ.get(which)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        option = "--new-passphrase-file" if new else "--passphrase-file"
        raise KeySourceError(
            _("no passphrase given; set {which} or pass {option}").format(
                which=which, option=option
            )
        )
    label = _("New passphrase") if new else _("Passphrase")
    first = getpass.getpass(f"{label}: ")
    if confirm and getpass.getpass(f"{label} again: ") != first:
        raise KeySourceError(_("the passphrases did not match; try again"))
    return first


def key_source(config: ProfileConfig, args: argparse.Namespace) -> KeySource:
    """The key source the profile was created with."""
    return config.configured_key() or PassphraseKey(read_passphrase(args))
