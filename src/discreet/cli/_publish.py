"""``discreet publish ...``: the publisher's commands."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
from pathlib import Path
from typing import Any

from discreet.cli._command import UsageError, add_command
from discreet.cli._keys import ROOT_PASSPHRASE_ENV, read_passphrase
from discreet.cli._output import StageProgress, emit
from discreet.cluster import add_dask_option
from discreet.errors import InputError, KeySourceError
from discreet.i18n import _, ngettext
from discreet.protocol.params import ReportingPolicy
from discreet.publish.keys import ROLES
from discreet.publish.repository import Expiries, PublisherRepository
from discreet.secagg.mode import SecureAggregation, shortest_pad
from discreet.secagg.task import COOCCURRENCE, POPULARITY, Task


def _days(value: str) -> dt.timedelta:
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("{value!r} is not a number of days").format(value=value)
        ) from None
    if not 0 < days <= 3650:
        raise argparse.ArgumentTypeError(_("expiry must be between 0 and 3650 days"))
    return dt.timedelta(days=days)


def add_expiry_options(
    parser: argparse.ArgumentParser, roles: tuple[str, ...] = ("targets", "snapshot", "timestamp")
) -> None:
    """The metadata lifetime options, shared by every command that signs ``roles``."""
    defaults = Expiries()
    for role in roles:
        days = defaults.of(role).days
        parser.add_argument(
            f"--{role}-expiry",
            type=_days,
            default=defaults.of(role),
            metavar="DAYS",
            help=ngettext(
                "how long {role} metadata stays valid (default {days} day)",
                "how long {role} metadata stays valid (default {days} days)",
                days,
            ).format(role=role, days=days),
        )


def expiries_from(args: argparse.Namespace) -> Expiries:
    """The lifetimes that :func:`add_expiry_options` parsed."""
    roles = ("targets", "snapshot", "timestamp")
    given = {role: getattr(args, f"{role}_expiry", None) for role in roles}
    return Expiries(**{role: value for role, value in given.items() if value is not None})


def _root_passphrase(args: argparse.Namespace, *, confirm: bool = False) -> str:
    """The root key's passphrase: ``--passphrase-file``, $DISCREET_ROOT_PASSPHRASE or a prompt."""
    passphrase = read_passphrase(args, confirm=confirm, env=ROOT_PASSPHRASE_ENV)
    if not passphrase:
        raise KeySourceError(_("the root key's passphrase may not be empty"))
    return passphrase


def cmd_init(args: argparse.Namespace) -> int:
    """Create a repository with fresh keys (root's offline and encrypted, with --offline-root)."""
    offline = args.offline_root
    repo = PublisherRepository.init(
        args.repo,
        keys_dir=args.keys,
        offline_root=offline,
        root_passphrase=_root_passphrase(args, confirm=True) if offline else None,
    )
    doc = {
        "repo": str(repo.path),
        "served_folder": str(repo.public),
        "keys": str(repo.keys.path),
        "root_key": str(repo.keys.file_of("root")),
        "root_key_encrypted": offline is not None,
        "trusted_root": str(repo.trusted_root_path),
    }
    root_line = (
        _("  root key, encrypted: {path} (keep it offline; needed only to rotate keys)")
        if offline
        else _("  root key, unencrypted: {path} (in production, use --offline-root DIR)")
    )
    emit(
        args,
        doc,
        [
            _("created a TUF repository in {path}").format(path=repo.path),
            _("  private keys (keep them safe, never serve them): {path}").format(
                path=repo.keys.path
            ),
            root_line.format(path=repo.keys.file_of("root")),
            _("  served folder: {public}").format(public=repo.public),
            _("  trusted root for clients: {trusted_root_path}").format(
                trusted_root_path=repo.trusted_root_path
            ),
            _("next: discreet publish build ITEMS --taxonomy TAXONOMY --repo {path}").format(
                path=repo.path
            ),
        ],
    )
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    """Build, sign and publish a catalog version."""
    # scikit-learn loads here, not when the CLI starts: other commands stay fast.
    from discreet.catalog.embedding import EmbeddingParams
    from discreet.publish.publisher import publish_catalog

    repo = PublisherRepository.open(args.repo)
    try:
        policy = ReportingPolicy(
            args.reporting_epsilon, args.reporting_budget, args.item_pad_length
        )
    except ValueError as exc:
        raise InputError(_("{exc}; adjust the reporting options").format(exc=exc)) from None
    secure_aggregation = _secure_aggregation(args)
    progress = StageProgress()
    with contextlib.ExitStack() as stack:
        cluster = None
        if args.dask is not None:
            from discreet.catalog.embedding_dask import OnCluster
            from discreet.cluster import open_client

            cluster = OnCluster(stack.enter_context(open_client(args.dask)))
        try:
            result = publish_catalog(
                repo,
                args.items,
                args.taxonomy,
                name=args.name,
                popularity_path=args.popularity,
                notices_path=args.notices,
                reports_url=args.reports_url,
                params=EmbeddingParams(dim=args.dim, vectorizer=args.vectorizer, seed=args.seed),
                reporting=None if args.no_reporting else policy,
                secure_aggregation=secure_aggregation,
                cooccurrence_path=args.cooccurrence,
                expiries=expiries_from(args),
                progress=progress,
                cluster=cluster,
            )
        finally:
            progress.done()
    m = result.manifest
    lines = [
        _(
            "published catalog '{name}' v{version}: {item_count} items, "
            "{dim} dims, popularity {popularity_source}"
        ).format(
            name=m.name,
            version=m.version,
            item_count=m.item_count,
            dim=m.dim,
            popularity_source=m.popularity_source,
        ),
        _("  model and card: {model_folder}").format(model_folder=result.model_folder),
    ]
    if result.carried_over:
        lines.append(
            _("  kept from v{previous} (not given this time): {what}").format(
                previous=m.version - 1, what=", ".join(result.carried_over)
            )
        )
    if result.unknown_popularity_ids:
        lines.append(
            _("  note: {unknown_popularity_ids} popularity ids are not in the catalog").format(
                unknown_popularity_ids=result.unknown_popularity_ids
            )
        )
    emit(args, result.to_json(), lines)
    return 0


def _secure_aggregation(args: argparse.Namespace) -> SecureAggregation | None:
    """The secure-aggregation section ``--secagg-task`` asks for (``None``: the LDP mode):
    a popularity task, and a co-occurrence task if a second ``--secagg-task`` names one."""
    given = [f"--{n}" for n in ("secagg_task", "leader", "helper") if getattr(args, n) is not None]
    if not given:
        return None
    if len(given) != 3:
        raise UsageError(
            _("the secure-aggregation mode needs --secagg-task, --leader and --helper")
        )
    tasks: dict[str, Task] = {}
    for name in args.secagg_task:
        folder = Path(name)
        task = Task.load(folder / "task.json" if folder.is_dir() else folder)
        if task.kind in tasks:
            raise UsageError(
                _("give one --secagg-task per kind (two {kind} tasks given)").format(kind=task.kind)
            )
        tasks[task.kind] = task
    if POPULARITY not in tasks:
        raise UsageError(_("the secure-aggregation mode needs a popularity task (--secagg-task)"))
    pairs = tasks.get(COOCCURRENCE)
    # One pad length for both tasks: the shortest that holds each task's K draws.
    pads = [shortest_pad(task.kind, task.max_weight) for task in tasks.values()]
    try:
        return SecureAggregation(
            tasks[POPULARITY],
            args.leader,
            args.helper,
            args.reporting_budget,
            max(*pads, args.item_pad_length),
            pairs,
        )
    except ValueError as exc:
        raise InputError(
            _("{exc}; adjust the secure-aggregation options").format(exc=exc)
        ) from None


def cmd_refresh(args: argparse.Namespace) -> int:
    """Re-sign metadata with fresh expiries."""
    repo = PublisherRepository.open(args.repo)
    with repo.lock():
        expiries = repo.refresh(roles=set(args.role or ()), expiries=expiries_from(args))
    doc: dict[str, Any] = {role: when.isoformat() for role, when in expiries.items()}
    emit(
        args,
        doc,
        [_("{role} expires {when}").format(role=role, when=when) for role, when in doc.items()],
    )
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    """Replace a role's key and publish the new root (asks for root's passphrase if encrypted)."""
    repo = PublisherRepository.open(
        args.repo, offline_root=args.offline_root, passphrase=lambda: _root_passphrase(args)
    )
    with repo.lock():
        version = repo.rotate_key(args.role, expiries=expiries_from(args))
    emit(
        args,
        {"role": args.role, "root_version": version},
        [
            _(
                "rotated the {role} key; published root v{version} (clients follow the chain)"
            ).format(role=args.role, version=version)
        ],
    )
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> Any:
    """Add ``publish`` and its subcommands; return the subcommand group for others to extend."""
    publish = sub.add_parser(
        "publish", help=_("publisher: repository, catalog builds"), parents=[common]
    )
    commands = publish.add_subparsers(dest="publish_command", required=True, metavar="COMMAND")

    p = add_command(
        commands,
        "init",
        common,
        help=_("create a TUF repository with fresh keys"),
        example="discreet publish init ./repo",
        handler=cmd_init,
    )
    p.add_argument("repo", metavar="REPO")
    p.add_argument(
        "--keys", metavar="DIR", help=_("keep the private keys here (default REPO/keys)")
    )
    _add_root_options(
        p,
        _("write the root key here, outside REPO, encrypted with a passphrase (then keep DIR "
          "offline)"),
    )  # fmt: skip

    p = add_command(
        commands,
        "build",
        common,
        help=_("build, sign and publish a catalog version"),
        example="discreet publish build items.csv --taxonomy taxonomy.json --repo ./repo",
        handler=cmd_build,
    )
    p.add_argument("items", metavar="ITEMS", help=_("items file (.csv or .jsonl)"))
    p.add_argument("--taxonomy", required=True, metavar="FILE", help=_("taxonomy (.json or .toml)"))
    p.add_argument("--repo", required=True, metavar="REPO", help=_("the repository to publish in"))
    p.add_argument(
        "--popularity",
        metavar="FILE",
        help=_("estimates from 'publish estimates' (default: the previous release's)"),
    )
    p.add_argument(
        "--notices",
        metavar="FILE",
        help=_("JSON list of signed notices to users (default: the previous release's)"),
    )
    p.add_argument(
        "--reports-url",
        metavar="URL",
        help=_(
            "where devices send their reports, when it is not where they fetch the catalog "
            "(a CDN, say) (default: the previous release's)"
        ),
    )
    p.add_argument(
        "--cooccurrence",
        metavar="FILE",
        help=_(
            "the co-occurrence aggregate from 'publish collect' (with --popularity): "
            "adds the collaborative target"
        ),
    )
    p.add_argument(
        "--name",
        help=_(
            "catalog name: 1-64 lowercase letters, digits, '-' or '_' "
            "(default: the previous one, or 'catalog')"
        ),
    )
    p.add_argument("--dim", type=int, default=64, help=_("embedding dimensions (default 64)"))
    p.add_argument(
        "--vectorizer",
        choices=("auto", "tfidf", "hashing"),
        default="auto",
        help=_("text features: TF-IDF, or hashing for large catalogs (auto picks by size)"),
    )
    p.add_argument("--seed", type=int, default=0, help=_("seed of the SVD (default 0)"))
    p.add_argument(
        "--no-reporting", action="store_true", help=_("ask devices for no private reports")
    )
    p.add_argument(
        "--reporting-epsilon",
        type=float,
        default=1.0,
        metavar="E",
        help=_("ε of each report kind (default 1)"),
    )
    p.add_argument(
        "--reporting-budget",
        type=float,
        default=2.0,
        metavar="E",
        help=_("ε a device may spend per week across kinds and modes (default 2)"),
    )
    p.add_argument(
        "--item-pad-length",
        type=int,
        default=8,
        metavar="L",
        help=_("pad item histories with 'none' to L before sampling (default 8)"),
    )
    p.add_argument(
        "--secagg-task",
        action="append",
        metavar="DIR",
        help=_(
            "ask devices for weekly secure-aggregation contributions to the task in DIR "
            "(from 'publish secagg-task'; only its public task.json is read); give it "
            "twice for a popularity task and a co-occurrence task"
        ),
    )
    p.add_argument("--leader", metavar="URL", help=_("with --secagg-task: the leader's endpoint"))
    p.add_argument("--helper", metavar="URL", help=_("with --secagg-task: the helper's endpoint"))
    add_dask_option(p, _("embed the items on Dask, partition by partition"))
    add_expiry_options(p)

    p = add_command(
        commands,
        "refresh",
        common,
        help=_("re-sign metadata with fresh expiries (daily, unless 'serve' does it)"),
        example="discreet publish refresh ./repo",
        handler=cmd_refresh,
    )
    p.add_argument("repo", metavar="REPO")
    p.add_argument(
        "--role",
        action="append",
        choices=("targets", "snapshot"),
        help=_("also re-sign this role (the timestamp is always re-signed)"),
    )
    add_expiry_options(p)

    p = add_command(
        commands,
        "rotate-key",
        common,
        help=_("replace a role's signing key"),
        example="discreet publish rotate-key ./repo --role root",
        handler=cmd_rotate,
    )
    p.add_argument("repo", metavar="REPO")
    p.add_argument("--role", required=True, choices=ROLES, help=_("the role whose key to replace"))
    _add_root_options(p, _("where the offline root key is now (default: where init put it)"))
    add_expiry_options(p)
    return commands


def _add_root_options(parser: argparse.ArgumentParser, offline_help: str) -> None:
    parser.add_argument("--offline-root", metavar="DIR", help=offline_help)
    parser.add_argument(
        "--passphrase-file",
        metavar="FILE",
        help=_("read the root key's passphrase from FILE (default: ${env}, or a prompt)").format(
            env=ROOT_PASSPHRASE_ENV
        ),
    )
