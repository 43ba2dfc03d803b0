"""``discreet serve`` and ``discreet publish estimates``."""

from __future__ import annotations

import argparse
import contextlib
import errno
from pathlib import Path
from typing import Any

from discreet.cli import _secagg
from discreet.cli._command import (
    UsageError,
    add_command,
    port_number,
    positive_float,
    positive_int,
)
from discreet.cli._output import emit_estimates
from discreet.cli._publish import add_expiry_options, expiries_from
from discreet.cluster import add_dask_option, open_client
from discreet.i18n import _
from discreet.protocol.report import period_code
from discreet.protocol.wire import Limits
from discreet.server.aggregate import DEFAULT_MIN_REPORTS, labels_for
from discreet.server.run import HEADER_TIMEOUT, MAX_CONNECTIONS, serve
from discreet.server.storage import ReportStore


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP service (or, with ``--role``, a secure-aggregation aggregator)."""
    if args.role != "catalog":
        return _secagg.serve_role(args)
    if args.dask is not None:
        raise UsageError(_("--dask is for the aggregators: add --role leader or --role helper"))
    if args.repo is None:
        raise UsageError("serve needs --repo REPO (or --role leader|helper)")

    def starting(url: str) -> None:  # once the repository, database and port are checked
        print(f"serving {args.repo} on {url} (no access log is kept)")
        if args.refresh:
            print("the timestamp and snapshot metadata are re-signed before they expire")
        else:
            print("--no-refresh: run 'discreet publish refresh' at least daily")

    serve(
        args.repo,
        args.db,
        host=args.host,
        port=args.port,
        min_reports=args.min_reports,
        limits=Limits(max_body_bytes=args.max_body_bytes, max_reports=args.max_reports),
        keep_metadata_fresh=args.refresh,
        metadata_lifetimes=expiries_from(args),
        central_noise=args.central_noise,
        header_timeout=args.header_timeout,
        max_connections=args.max_connections,
        starting=starting,
    )
    return 0


def _period(value: str) -> str:
    """An ISO week like 2026-W48, checked while the arguments are parsed (exit code 2)."""
    try:
        period_code(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def cmd_estimates(args: argparse.Namespace) -> int:
    """Estimates from the reports received, as JSON for 'publish build --popularity'."""
    first, *others = args.db
    for path in others:  # a mistyped path is not a new, empty database
        if not Path(path).is_file():
            raise FileNotFoundError(errno.ENOENT, "no report database there", path)
    store = ReportStore(first, create=False)
    try:
        with contextlib.ExitStack() as stack:
            client = stack.enter_context(open_client(args.dask)) if args.dask else None
            estimates = store.estimates(
                args.period,
                args.kind,
                args.catalog,
                min_reports=args.min_reports,
                central_noise=args.central_noise,
                merged=others,
                client=client,
            )
        ids = store.item_ids(estimates.catalog_version)
        document: dict[str, Any] = estimates.document(
            labels_for(args.kind, store.catalogs[estimates.catalog_version], ids)
        )
    finally:
        store.close()
    emit_estimates(
        args,
        document,
        f"{document['reports']} {args.kind} reports for {args.period} "
        f"(catalog v{document['catalog_version']})",
    )
    return 0


CENTRAL_NOISE_HELP = (
    "add Laplace noise of scale B to every published estimate, drawn once per "
    "(week, kind, catalog) and kept in the database, so that repeated queries return "
    "the same figures (use the same B for 'serve' and 'publish estimates')"
)


def _add_min_reports(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-reports",
        type=positive_int,
        default=DEFAULT_MIN_REPORTS,
        metavar="N",
        help=_("publish no week's estimates from fewer reports"),
    )


def register(sub: Any, publish_commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``serve`` and ``publish estimates``."""
    p = add_command(
        sub,
        "serve",
        common,
        help="publisher: serve the catalog and take reports",
        example="discreet serve --repo ./repo --db reports.db --port 8080",
        handler=cmd_serve,
    )
    p.add_argument("--repo", metavar="REPO", help="the catalog's repository (role 'catalog')")
    _secagg.add_role_options(p)
    p.add_argument(
        "--db",
        required=True,
        metavar="DB",
        help="SQLite database (created if new, in a folder that must exist)",
    )
    p.add_argument("--host", default="127.0.0.1", help=_("the address to listen on"))
    p.add_argument("--port", type=port_number, default=8080, help=_("the port; 0 picks a free one"))
    _add_min_reports(p)
    p.add_argument(
        "--max-body-bytes",
        type=positive_int,
        default=Limits().max_body_bytes,
        metavar="B",
        help=_("refuse a request body larger than this"),
    )
    p.add_argument(
        "--max-reports",
        type=positive_int,
        default=Limits().max_reports,
        metavar="N",
        help=_("refuse a batch of more reports than this"),
    )
    p.add_argument("--central-noise", type=positive_float, metavar="B", help=CENTRAL_NOISE_HELP)
    p.add_argument(
        "--header-timeout",
        type=positive_float,
        default=HEADER_TIMEOUT,
        metavar="S",
        help="seconds a client has to send a request's headers; then 408 and disconnected",
    )
    p.add_argument(
        "--max-connections",
        type=positive_int,
        default=MAX_CONNECTIONS,
        metavar="N",
        help="open connections at most (fewer if 'ulimit -n' is too low); one more drops "
        "the one longest awaiting its headers, or is answered 503",
    )
    p.add_argument(
        "--no-refresh",
        dest="refresh",
        action="store_false",
        help="do not re-sign the timestamp and snapshot before they expire "
        "(then run 'discreet publish refresh' at least daily)",
    )
    add_expiry_options(p, roles=("snapshot", "timestamp"))  # the roles it re-signs
    _secagg.register(publish_commands, common, _period)

    p = add_command(
        publish_commands,
        "estimates",
        common,
        help="estimates from the reports received",
        example="discreet publish estimates --db reports.db --period 2026-W48 "
        "--out popularity.json",
        handler=cmd_estimates,
    )
    p.add_argument(
        "--db",
        required=True,
        action="append",
        metavar="DB",
        help=_(
            "a report database; give several to merge their sums (the first keeps "
            "the central noise)"
        ),
    )
    p.add_argument("--period", required=True, type=_period, metavar="YYYY-Www", help="ISO week")
    p.add_argument(
        "--kind", choices=("item", "category"), default="item", help=_("which reports to estimate")
    )
    add_dask_option(p, _("merge the databases' sums on Dask, range by range"))
    p.add_argument(
        "--catalog", type=int, metavar="VERSION", help="default: the newest with reports"
    )
    _add_min_reports(p)
    p.add_argument("--central-noise", type=positive_float, metavar="B", help=CENTRAL_NOISE_HELP)
    p.add_argument("--out", metavar="FILE", help="also write the JSON document to FILE")
