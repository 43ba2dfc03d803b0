"""``discreet serve`` and ``discreet publish estimates``."""

from __future__ import annotations

import argparse
import contextlib
import functools
from typing import Any

from discreet.cli import _secagg
from discreet.cli._command import (
    UsageError,
    add_command,
    port_number,
    positive_float,
    positive_int,
)
from discreet.cli._output import emit, emit_estimates
from discreet.cli._publish import add_expiry_options, expiries_from
from discreet.cli._settings import CONFIG_ENV, ServeSettings
from discreet.cluster import add_dask_option, open_client
from discreet.i18n import N_, _
from discreet.protocol.report import period_code
from discreet.protocol.wire import Limits
from discreet.server.aggregate import DEFAULT_MIN_REPORTS, labels_for
from discreet.server.backup import backup_database
from discreet.server.logs import (
    DEFAULT_LOG_FORMAT,
    DEFAULT_LOG_LEVEL,
    LOG_FORMATS,
    LOG_LEVELS,
    configure_logging,
)
from discreet.server.run import HEADER_TIMEOUT, MAX_CONNECTIONS, serve
from discreet.server.storage import ReportStore, require_database

#: ``serve``'s settings, each from its flag, a DISCREET_SERVE_* variable or the config file.
SERVE_SETTINGS = ServeSettings()


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP service (or, with ``--role``, a secure-aggregation aggregator)."""
    SERVE_SETTINGS.resolve(args)
    if args.db is None:
        raise UsageError(_("serve needs --db DB (or DISCREET_SERVE_DB, or db in the config file)"))
    configure_logging(args.log_format, args.log_level)
    if args.role != "catalog":
        return _secagg.serve_role(args)
    if args.dask is not None:
        raise UsageError(_("--dask is for the aggregators: add --role leader or --role helper"))
    if args.repo is None:
        raise UsageError(_("serve needs --repo REPO (or --role leader|helper)"))

    def starting(url: str) -> None:  # once the repository, database and port are checked
        print(_("serving {repo} on {url} (no access log is kept)").format(repo=args.repo, url=url))
        if args.refresh:
            print(_("the timestamp and snapshot metadata are re-signed before they expire"))
        else:
            print(_("--no-refresh: run 'discreet publish refresh' at least daily"))

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


def cmd_backup(args: argparse.Namespace) -> int:
    """Copy the running service's database with SQLite's online backup API."""
    SERVE_SETTINGS.resolve(args)
    if args.db is None:
        raise UsageError(_("serve backup needs --db DB (or DISCREET_SERVE_DB, or the config file)"))
    size = backup_database(args.db, args.dest)
    line = _("backed up {db} to {dest} ({size} bytes)").format(
        db=args.db, dest=args.dest, size=size
    )
    emit(args, {"db": str(args.db), "backup": str(args.dest), "bytes": size}, [line])
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
    for path in others:
        require_database(path)
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
        _("{reports} {kind} reports for {period} (catalog v{catalog_version})").format(
            reports=document["reports"],
            kind=args.kind,
            period=args.period,
            catalog_version=document["catalog_version"],
        ),
    )
    return 0


CENTRAL_NOISE_HELP = N_(
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


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help=_(
            "a TOML file of settings, keys named as the flags (environment {env}); a flag "
            "wins over a DISCREET_SERVE_* variable, which wins over the file"
        ).format(env=CONFIG_ENV),
    )


def register(sub: Any, publish_commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``serve`` and ``publish estimates``."""
    p = add_command(
        sub,
        "serve",
        common,
        help=_("publisher: serve the catalog and take reports"),
        example="discreet serve --repo ./repo --db reports.db --port 8080",
        handler=cmd_serve,
    )
    _add_config_option(p)
    add = functools.partial(SERVE_SETTINGS.add, p)
    add("--repo", metavar="REPO", help=_("the catalog's repository (role 'catalog')"))
    _secagg.add_role_options(p, add)
    add(
        "--db",
        metavar="DB",
        help=_("SQLite database (created if new, in a folder that must exist)"),
    )
    add("--host", default="127.0.0.1", help=_("the address to listen on"))
    add("--port", type=port_number, default=8080, help=_("the port; 0 picks a free one"))
    add(
        "--min-reports",
        type=positive_int,
        default=DEFAULT_MIN_REPORTS,
        metavar="N",
        help=_("publish no week's estimates from fewer reports"),
    )
    add(
        "--max-body-bytes",
        type=positive_int,
        default=Limits().max_body_bytes,
        metavar="B",
        help=_("refuse a request body larger than this"),
    )
    add(
        "--max-reports",
        type=positive_int,
        default=Limits().max_reports,
        metavar="N",
        help=_("refuse a batch of more reports than this"),
    )
    add("--central-noise", type=positive_float, metavar="B", help=_(CENTRAL_NOISE_HELP))
    add(
        "--header-timeout",
        type=positive_float,
        default=HEADER_TIMEOUT,
        metavar="S",
        help=_("seconds a client has to send a request's headers; then 408 and disconnected"),
    )
    add(
        "--max-connections",
        type=positive_int,
        default=MAX_CONNECTIONS,
        metavar="N",
        help=_(
            "open connections at most (fewer if 'ulimit -n' is too low); "
            "one more drops the one longest awaiting its headers, or is "
            "answered 503"
        ),
    )
    add(
        "--no-refresh",
        dest="refresh",
        action="store_false",
        default=True,
        help=_(
            "do not re-sign the timestamp and snapshot before they "
            "expire (then run 'discreet publish refresh' at least daily)"
        ),
    )
    add(
        "--log-format",
        choices=LOG_FORMATS,
        default=DEFAULT_LOG_FORMAT,
        help=_("text lines, or JSON lines; no log line ever holds a client's address"),
    )
    add(
        "--log-level",
        choices=LOG_LEVELS,
        default=DEFAULT_LOG_LEVEL,
        help=_("the least severe messages logged"),
    )
    add_expiry_options(p, roles=("snapshot", "timestamp"))  # the roles it re-signs
    actions = p.add_subparsers(dest="serve_action", metavar="[backup]")
    b = add_command(
        actions,
        "backup",
        common,
        help=_("copy the database safely while the service runs (SQLite's backup API)"),
        example="discreet serve backup --db reports.db /backups/reports-$(date +%F).db",
        handler=cmd_backup,
    )
    b.add_argument("dest", metavar="DEST", help=_("the copy to write (replaced atomically)"))
    _add_config_option(b)
    b.add_argument(
        "--db",
        default=argparse.SUPPRESS,  # not to hide a --db given before 'backup'
        metavar="DB",
        help=_("the service's database (environment DISCREET_SERVE_DB)"),
    )
    _secagg.register(publish_commands, common, _period)

    p = add_command(
        publish_commands,
        "estimates",
        common,
        help=_("estimates from the reports received"),
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
    p.add_argument("--period", required=True, type=_period, metavar="YYYY-Www", help=_("ISO week"))
    p.add_argument(
        "--kind", choices=("item", "category"), default="item", help=_("which reports to estimate")
    )
    add_dask_option(p, _("merge the databases' sums on Dask, range by range"))
    p.add_argument(
        "--catalog", type=int, metavar="VERSION", help=_("default: the newest with reports")
    )
    _add_min_reports(p)
    p.add_argument("--central-noise", type=positive_float, metavar="B", help=_(CENTRAL_NOISE_HELP))
    p.add_argument("--out", metavar="FILE", help=_("also write the JSON document to FILE"))
