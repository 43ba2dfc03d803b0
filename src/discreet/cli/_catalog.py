"""``discreet sync`` and ``discreet catalog info``: the client's catalog."""

from __future__ import annotations

import argparse
from typing import Any

from discreet.cli._output import StageProgress, emit, notice_lines
from discreet.home import resolve_home
from discreet.sync.client import InstalledCatalogs, sync_catalog


def cmd_sync(args: argparse.Namespace) -> int:
    """Fetch, verify and install the newest catalog."""
    progress = StageProgress()
    try:
        result = sync_catalog(
            resolve_home(args.home),
            args.source,
            root=args.root,
            timeout=args.timeout,
            progress=progress,
        )
    finally:
        progress.done()
    doc = result.to_json()
    if result.updated:
        was = f" (was v{result.previous_version})" if result.previous_version else ""
        head = f"installed catalog v{result.version}{was}"
    else:
        head = f"catalog v{result.version} is up to date"
    emit(args, doc, [head, *notice_lines(doc["notices"])])
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Describe the installed catalog."""
    catalog = InstalledCatalogs(resolve_home(args.home)).open()
    info: dict[str, Any] = catalog.summary()
    lines = [
        f"catalog '{info['name']}' v{info['version']}, built {info['built_at']}",
        f"  {info['items']} items, {info['categories']} categories, "
        f"embeddings {info['dim']} x {info['dtype']}",
        f"  popularity: {info['popularity']}",
        f"  reporting: {info['reporting'] or 'not configured'}",
        f"  folder: {info['folder']}",
        *notice_lines(info["notices"]),
    ]
    emit(args, info, lines)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``sync`` and ``catalog``."""
    p = sub.add_parser(
        "sync",
        parents=[common],
        help="fetch, verify and install the catalog",
        epilog="example: discreet sync --from https://cdn.example/catalog --root 1.root.json",
    )
    p.add_argument(
        "--from", dest="source", required=True, metavar="URL_OR_DIR", help="served folder or URL"
    )
    p.add_argument("--root", metavar="ROOT_JSON", help="trusted root (needed on the first sync)")
    p.add_argument("--timeout", type=int, default=30, help="network timeout in seconds")
    p.set_defaults(handler=cmd_sync)

    catalog = sub.add_parser("catalog", parents=[common], help="the installed catalog")
    commands = catalog.add_subparsers(dest="catalog_command", required=True, metavar="COMMAND")
    p = commands.add_parser(
        "info",
        parents=[common],
        help="show the installed catalog and its notices",
        epilog="example: discreet catalog info --json",
    )
    p.set_defaults(handler=cmd_info)
