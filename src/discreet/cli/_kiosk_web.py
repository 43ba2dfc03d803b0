"""``discreet kiosk --web``: the kiosk as a local page, for a full-screen browser."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from discreet.cli._command import UsageError
from discreet.home import resolve_home
from discreet.i18n import _


@contextlib.contextmanager
def demo_catalog_home() -> Iterator[Path]:
    """A home with the shipped catalog, built, published and verified into a temporary
    folder that is removed at exit. Only public catalog files go there."""
    from discreet.demo_data import publish_demo_catalog
    from discreet.publish.repository import PublisherRepository
    from discreet.sync.client import sync_catalog

    with tempfile.TemporaryDirectory(prefix="discreet-kiosk-") as tmp:
        repo = PublisherRepository.init(Path(tmp) / "repo")
        publish_demo_catalog(repo)
        sync_catalog(Path(tmp) / "home", str(repo.path), root=repo.trusted_root_path)
        yield Path(tmp) / "home"


def cmd_kiosk_web(args: argparse.Namespace) -> int:
    """Serve the page until Ctrl-C (SIGINT) or SIGTERM."""
    from discreet.kiosk_web.run import DEFAULT_PORT, serve_kiosk

    def ready(url: str) -> None:
        print(_("listening on {url}").format(url=url), flush=True)
        print(
            _("open it in the kiosk's browser; nothing a visitor does is stored; Ctrl-C stops"),
            flush=True,
        )

    with contextlib.ExitStack() as stack:
        home = stack.enter_context(demo_catalog_home()) if args.demo else resolve_home(args.home)
        port = DEFAULT_PORT if args.port is None else args.port
        serve_kiosk(home, ready, port=port, idle_seconds=args.idle)
    return 0


def check_web_options(args: argparse.Namespace) -> None:
    """``--port`` only means something with ``--web``."""
    if args.port is not None and not args.web:
        raise UsageError(_("--port is for the web page: add --web"))
