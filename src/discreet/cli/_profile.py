"""The profile commands: init, record/like/dislike, passphrase, profile, privacy."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from discreet._fs import atomic_write_bytes
from discreet.cli._command import add_command, positive_int
from discreet.cli._engine import open_engine
from discreet.cli._keys import add_passphrase_options, read_passphrase
from discreet.cli._output import emit
from discreet.errors import KeySourceError, StoreError
from discreet.home import resolve_home
from discreet.i18n import N_, _
from discreet.profile.model import EventKind, RetentionPolicy
from discreet.profile.session import ProfileConfig, ProfileHome
from discreet.store.encrypted import EncryptedStore
from discreet.store.keys import KeyFileKey, KeyringKey, KeySource, PassphraseKey


def _home(args: argparse.Namespace) -> ProfileHome:
    return ProfileHome(resolve_home(args.home))


def cmd_init(args: argparse.Namespace) -> int:
    """Create the encrypted profile (or a kiosk home that keeps nothing)."""
    home = _home(args)
    retention = RetentionPolicy(days=args.retention_days, max_events=args.max_events)
    source: KeySource | None
    if args.kiosk:
        config, source = ProfileConfig("kiosk", None, None, retention), None
    elif args.keyfile:
        path = Path(args.keyfile).expanduser().resolve()
        source = KeyFileKey(path) if path.exists() else KeyFileKey.create(path)
        config = ProfileConfig("standard", "keyfile", str(path), retention)
    elif args.keyring:
        config, source = ProfileConfig("standard", "keyring", None, retention), KeyringKey.fresh()
    else:
        source = PassphraseKey(read_passphrase(args, confirm=True))
        config = ProfileConfig("standard", "passphrase", None, retention)
    session = home.create(source, config, dt.date.today())
    if session is not None:
        session.close()
    doc = {"mode": config.mode, "key_source": config.key_source, "folder": str(home.folder)}
    if args.kiosk:
        lines = [
            _("kiosk home ready in {folder}: profiles live in memory only").format(
                folder=home.folder
            )
        ]
    else:
        lines = [
            _("created an encrypted profile in {folder} (key: {key_source})").format(
                folder=home.folder, key_source=config.key_source
            ),
            _("see what it keeps with 'discreet privacy'"),
        ]
    emit(args, doc, lines)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """Record an event."""
    with open_engine(args) as engine:
        event = engine.record(args.item, args.kind)
        paused = engine.paused
    if event is None:
        why = (
            _("personalisation is paused")
            if paused
            else _("the item is in a sensitive category you have not opted in to")
        )
        emit(args, {"recorded": False, "reason": why}, [_("not kept: {why}").format(why=why)])
    else:
        doc = {"recorded": True, "kind": event.kind.value, "day": event.day.isoformat()}
        emit(
            args,
            doc,
            [
                _("recorded a {value} on {isoformat}").format(
                    value=event.kind.value, isoformat=event.day.isoformat()
                )
            ],
        )
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    """Pause or resume personalisation (the data card's "paused" setting)."""
    with open_engine(args) as engine:
        engine.pause(args.pause)
    if args.pause:
        line = _("paused: nothing you do is recorded until 'discreet resume'")
    else:
        line = _("resumed: what you do is recorded again")
    emit(args, {"paused": args.pause}, [line])
    return 0


def cmd_passphrase_change(args: argparse.Namespace) -> int:
    """Rewrap the data key under a new passphrase."""
    config = _home(args).config()
    if config.key_source != "passphrase":
        raise KeySourceError(
            _("this profile is protected by a {key_source}, not a passphrase").format(
                key_source=config.key_source
            )
        )
    with open_engine(args) as engine:
        engine.change_key(PassphraseKey(read_passphrase(args, new=True, confirm=True)))
    emit(
        args, {"changed": True}, [_("passphrase changed; the old one no longer opens the profile")]
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write everything kept as JSON."""
    with open_engine(args) as engine:
        document = engine.export().to_json()
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if args.out:
        atomic_write_bytes(Path(args.out), text.encode(), mode=0o600)
        emit(
            args,
            {"out": args.out},
            [_("exported the profile to {out} (mode 0600)").format(out=args.out)],
        )
    else:
        sys.stdout.write(text)
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    """Destroy the profile after confirmation."""
    home = _home(args)
    home.config()  # fails clearly if there is nothing to erase
    if not args.yes:
        if not sys.stdin.isatty():
            raise StoreError(_("erasing needs confirmation: run again with --yes"))
        answer = input(_("Erase your profile and its history for good? Type 'erase' to confirm: "))
        if answer.strip() != "erase":
            emit(args, {"erased": False}, [_("nothing was erased")])
            return 1
    removed = home.erase()
    emit(args, {"erased": True, "removed": removed}, ["erased:", *(f"  {r}" for r in removed)])
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Go back to the previous save after a damaged file was set aside."""
    home = _home(args)
    EncryptedStore.restore_backup(home.store_path)
    emit(args, {"restored": True}, [_("restored the previous save of your profile")])
    return 0


#: How the data card's storage entries are named in text (the JSON keeps the keys).
STORAGE_LABELS = {
    "location": N_("location"),
    "encryption": N_("encryption"),
    "key": N_("key"),
    "backup": N_("backup"),
    "budget": N_("budget"),
}


def cmd_privacy(args: argparse.Namespace) -> int:
    """Print the data card."""
    card: dict[str, Any] = _home(args).data_card()
    lines = [card["summary"], ""]
    for f in card["fields"]:
        lines += [
            f"{f['field']}",
            _("  holds:     {holds}").format(holds=f["holds"]),
            _("  why:       {purpose}").format(purpose=f["purpose"]),
        ]
        lines += [_("  kept for:  {retention}").format(retention=f["retention"])]
    lines += ["", _("where and how:")]
    lines += [f"  {_(STORAGE_LABELS.get(k, k))}: {v}" for k, v in card["storage"].items()]
    lines += ["", _("what leaves this device:"), f"  {card['leaves_the_device']}"]
    emit(args, card, lines)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the profile commands."""
    p = add_command(
        sub,
        "init",
        common,
        help=_("create the encrypted profile"),
        example="discreet init --keyfile /etc/kiosk/profile.key  "
        "(or, with DISCREET_PASSPHRASE set, just: discreet init)",
        handler=cmd_init,
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--kiosk", action="store_true", help=_("keep nothing on disk (kiosk)"))
    group.add_argument(
        "--keyfile", metavar="FILE", help=_("protect with a key file (created if new)")
    )
    group.add_argument("--keyring", action="store_true", help=_("protect with the OS keyring"))
    p.add_argument(
        "--retention-days",
        type=positive_int,
        default=180,
        metavar="N",
        help=_("keep events N days"),
    )
    p.add_argument(
        "--max-events",
        type=positive_int,
        default=5000,
        metavar="N",
        help=_("keep at most this many"),
    )
    add_passphrase_options(p)

    kinds = [k.value for k in EventKind]
    p = add_command(
        sub,
        "record",
        common,
        help=_("record an event on an item"),
        example="discreet record lb-0042 --kind purchase",
        handler=cmd_record,
    )
    p.add_argument("item", metavar="ITEM")
    p.add_argument("--kind", required=True, choices=kinds, help=_("what you did with the item"))
    add_passphrase_options(p)
    for name, kind in (("like", "like"), ("dislike", "dislike")):
        p = add_command(
            sub,
            name,
            common,
            help=_("record a {kind}").format(kind=kind),
            example=f"discreet {name} lb-0042",
            handler=cmd_record,
        )
        p.add_argument("item", metavar="ITEM")
        add_passphrase_options(p)
        p.set_defaults(kind=kind)

    for name, paused, what in (
        ("pause", True, _("pause personalisation: nothing is recorded")),
        ("resume", False, _("resume personalisation after 'pause'")),
    ):
        p = add_command(sub, name, common, help=what, example=f"discreet {name}", handler=cmd_pause)
        add_passphrase_options(p)
        p.set_defaults(pause=paused)

    passphrase = sub.add_parser("passphrase", parents=[common], help=_("the profile's passphrase"))
    commands = passphrase.add_subparsers(
        dest="passphrase_command", required=True, metavar="COMMAND"
    )
    p = add_command(
        commands,
        "change",
        common,
        help=_("rewrap the key under a new passphrase"),
        example="discreet passphrase change --passphrase-file old.txt "
        "--new-passphrase-file new.txt",
        handler=cmd_passphrase_change,
    )
    add_passphrase_options(p, new=True)

    profile = sub.add_parser("profile", parents=[common], help=_("access, erase or restore"))
    commands = profile.add_subparsers(dest="profile_command", required=True, metavar="COMMAND")
    p = add_command(
        commands,
        "export",
        common,
        help=_("everything kept, as documented JSON"),
        example="discreet profile export --out my-profile.json",
        handler=cmd_export,
    )
    p.add_argument("--out", metavar="FILE", help=_("write to FILE (mode 0600) instead of stdout"))
    add_passphrase_options(p)
    p = add_command(
        commands,
        "erase",
        common,
        help=_("destroy the profile (no passphrase needed)"),
        example="discreet profile erase --yes",
        handler=cmd_erase,
    )
    p.add_argument("--yes", action="store_true", help=_("do not ask for confirmation"))
    p = add_command(
        commands,
        "restore",
        common,
        help=_("go back to the previous save after damage"),
        example="discreet profile restore",
        handler=cmd_restore,
    )

    p = add_command(
        sub,
        "privacy",
        common,
        help=_("the data card: what is kept, why, how long, where"),
        example="discreet privacy --json",
        handler=cmd_privacy,
    )
