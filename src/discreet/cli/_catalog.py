"""``discreet sync`` and ``discreet catalog info``: the client's catalog."""

from __future__ import annotations

import argparse
from typing import Any

from discreet.catalog.reader import Catalog
from discreet.cli._command import add_command, positive_int
from discreet.cli._output import StageProgress, emit, notice_lines
from discreet.home import resolve_home
from discreet.i18n import _
from discreet.sync.client import DEFAULT_MAX_SECONDS, sync_catalog
from discreet.sync.installed import InstalledCatalogs


def cmd_sync(args: argparse.Namespace) -> int:
    """Fetch, verify and install the newest catalog."""
    home = resolve_home(args.home)
    source = args.source or InstalledCatalogs(home).current_source()
    progress = StageProgress()
    try:
        result = sync_catalog(
            home,
            source,
            root=args.root,
            timeout=args.timeout,
            max_seconds=args.max_time,
            progress=progress,
        )
    finally:
        progress.done()
    doc = result.to_json()
    if result.updated:
        was = (
            _(" (was v{previous_version})").format(previous_version=result.previous_version)
            if result.previous_version
            else ""
        )
        head = _("installed catalog v{version}{was}").format(version=result.version, was=was)
    else:
        head = _("catalog v{version} is up to date").format(version=result.version)
    emit(args, doc, [head, *notice_lines(doc["notices"])])
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Describe the installed catalog."""
    catalog = InstalledCatalogs(resolve_home(args.home)).open()
    info: dict[str, Any] = catalog.summary()
    lines = [
        _("catalog '{name}' v{version}, built {built_at}").format(
            name=info["name"], version=info["version"], built_at=info["built_at"]
        ),
        _("  {items} items, {categories} categories, embeddings {dim} x {dtype}").format(
            items=info["items"], categories=info["categories"], dim=info["dim"], dtype=info["dtype"]
        ),
        _("  popularity: {popularity}").format(popularity=info["popularity"]),
        *_collaborative_lines(info["collaborative"]),
        *_reporting_lines(catalog),
        _("  folder: {folder}").format(folder=info["folder"]),
        *notice_lines(info["notices"]),
    ]
    emit(args, info, lines)
    return 0


def _reporting_lines(catalog: Catalog) -> list[str]:
    """What the catalog asks devices to report, in the words shown before consent."""
    section = catalog.manifest.secure_aggregation
    if section is not None:
        from discreet.profile.contribution import describe_contribution

        terms = describe_contribution(section)
    elif catalog.manifest.reporting.enabled:
        from discreet.profile.reports import describe_parameters

        terms = describe_parameters(catalog.manifest.reporting)
    else:
        return [_("  reporting: none (this catalog asks for no reports)")]
    return [_("  reporting:"), *(f"    {line.strip()}" for line in terms)]


def _collaborative_lines(card: dict[str, Any] | None) -> list[str]:
    """The collaborative target's model card, in words (nothing without the target)."""
    if card is None:
        return []
    return [
        _("  collaborative: {items} items x {neighbours} neighbours, built from {source}").format(
            items=card["items"], neighbours=card["neighbours"], source=card["built_from"]
        ),
        _("    ε={epsilon:g}, δ={delta:g} per week, from {devices} devices").format(
            epsilon=card["epsilon"], delta=card["delta"], devices=card["devices"]
        ),
        *(
            _("    {kind} task: ε={epsilon:g}, δ={delta:g}, K={k}, pad {pad}").format(
                kind=task["kind"],
                epsilon=task["epsilon"],
                delta=task["delta"],
                k=task["max_weight"],
                pad=card.get("pad_length", "?"),
            )
            for task in card.get("tasks", ())
        ),
    ]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``sync`` and ``catalog``."""
    p = add_command(
        sub,
        "sync",
        common,
        help=_("fetch, verify and install the catalog"),
        example="discreet sync --from https://cdn.example/catalog --root 1.root.json",
        handler=cmd_sync,
    )
    p.add_argument(
        "--from",
        dest="source",
        metavar="URL_OR_DIR",
        help=_("served folder or URL (default: where the installed catalog came from)"),
    )
    p.add_argument("--root", metavar="ROOT_JSON", help=_("trusted root (needed on the first sync)"))
    p.add_argument(
        "--timeout", type=positive_int, default=30, help=_("wait this long for each read (30 s)")
    )
    p.add_argument(
        "--max-time",
        type=positive_int,
        default=int(DEFAULT_MAX_SECONDS),
        metavar="SECONDS",
        help=_("give up the whole sync after this long ({DEFAULT_MAX_SECONDS} s)").format(
            DEFAULT_MAX_SECONDS=int(DEFAULT_MAX_SECONDS)
        ),
    )

    catalog = sub.add_parser("catalog", parents=[common], help=_("the installed catalog"))
    commands = catalog.add_subparsers(dest="catalog_command", required=True, metavar="COMMAND")
    p = add_command(
        commands,
        "info",
        common,
        help=_("show the installed catalog and its notices"),
        example="discreet catalog info --json",
        handler=cmd_info,
    )
