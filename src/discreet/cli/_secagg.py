"""``discreet serve --role leader|helper``, ``publish secagg-task`` and ``publish collect``."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from discreet._fs import atomic_write_bytes, canonical_json
from discreet.catalog.popularity import load_estimates
from discreet.cli._command import UsageError, add_command, positive_float, positive_int
from discreet.cli._output import emit, emit_estimates
from discreet.cluster import add_dask_option
from discreet.errors import InputError
from discreet.i18n import N_, _
from discreet.publish.collaborative import CollaborativeParams
from discreet.publish.collect import collect
from discreet.secagg import hpke
from discreet.secagg.mode import MAX_TOP_ITEMS
from discreet.secagg.task import (
    COOCCURRENCE,
    HELPER,
    KINDS,
    LEADER,
    POPULARITY,
    Task,
    create_task,
    pair_count,
    read_secrets,
)
from discreet.server.secagg.run import TaskSource, serve_aggregator

#: The fewest top items a co-occurrence task pairs.
MIN_TOP_ITEMS = 2

ROLE_HELP = N_(
    "'catalog' (the default) serves the catalog and takes LDP reports; 'leader' and "
    "'helper' run one of the two secure-aggregation aggregators (with --task, --key, "
    "--secrets and --db; the leader also --helper URL)"
)


def add_role_options(p: argparse.ArgumentParser, add: Callable[..., None]) -> None:
    """The options ``serve`` takes for an aggregator's role (``add`` declares one setting;
    ``--task``, which may repeat, and ``--dask`` are flags only)."""
    add("--role", choices=("catalog", LEADER, HELPER), default="catalog", help=_(ROLE_HELP))
    p.add_argument(
        "--task",
        action="append",
        metavar="TASK",
        help=_(
            "an aggregator's task.json (with --key and --secrets), or a task folder from "
            "'publish secagg-task' holding the role's key and secrets; repeat the folder "
            "form to serve several tasks (each under /tasks/ID, with its own database)"
        ),
    )
    add("--key", metavar="KEY", help=_("an aggregator's HPKE key file"))
    add("--secrets", metavar="FILE", help=_("an aggregator's secrets file"))
    add("--helper", metavar="URL", help=_("the leader: the helper's URL"))
    add_dask_option(p, _("the leader or the helper: prepare the reports on Dask"))


def serve_role(args: argparse.Namespace) -> int:
    """Run the leader or the helper (``serve --role``)."""
    missing = [] if args.task else ["--task"]
    if not args.task:  # the single-task form's files, as the first release asked
        missing += [f"--{n}" for n in ("key", "secrets") if getattr(args, n) is None]
    if args.role == LEADER and args.helper is None:
        missing.append("--helper")
    if missing:
        raise UsageError(
            _("serve --role {role} needs {join}").format(role=args.role, join=" ".join(missing))
        )
    serve_aggregator(
        args.role,
        tasks=_task_sources(args),
        db_path=Path(args.db),
        helper_url=args.helper,
        host=args.host,
        port=args.port,
        header_timeout=args.header_timeout,
        max_connections=args.max_connections,
        dask=args.dask,
    )
    return 0


def _task_sources(args: argparse.Namespace) -> list[TaskSource]:
    """The tasks ``--task`` names: one task.json with ``--key`` and ``--secrets``, or
    task folders."""
    paths = [Path(p) for p in args.task]
    if all(path.is_dir() for path in paths):
        if args.key is not None or args.secrets is not None:
            raise UsageError(_("a task folder holds its key and secrets; drop --key and --secrets"))
        return [TaskSource.folder(path, args.role) for path in paths]
    if len(paths) > 1:
        raise UsageError(_("to serve several tasks, give each --task as a task folder"))
    missing = [f"--{n}" for n in ("key", "secrets") if getattr(args, n) is None]
    if missing:
        raise UsageError(
            _("serve --role {role} needs {join}").format(role=args.role, join=" ".join(missing))
        )
    return [TaskSource(paths[0], Path(args.key), Path(args.secrets))]


def cmd_task(args: argparse.Namespace) -> int:
    """Create a task folder: task.json, three HPKE key pairs, three secrets files."""
    labels: tuple[str, ...] = ()
    if args.labels:
        labels = tuple(Path(args.labels).read_text(encoding="utf-8").split())
    top_items = _top_items(args, labels) if args.kind == COOCCURRENCE else ()
    length = len(labels) if labels else args.length
    entries = pair_count(len(top_items)) if top_items else length
    files = create_task(
        Path(args.out),
        length=length,
        max_weight=args.max_weight or min(default_weight(args.kind), entries),
        min_batch_size=args.min_batch_size,
        epsilon=args.epsilon,
        delta=args.delta,
        labels=() if top_items else labels,
        top_items=top_items,
    )
    task = Task.load(files.task)
    document = {
        "task": str(files.task),
        "kind": task.kind,
        "keys": {k: str(v) for k, v in files.keys.items()},
        "secrets": {k: str(v) for k, v in files.secrets.items()},
        "noise": task.noise_plan().to_json(),
    }
    lines = [
        _(
            "task {task}: {length} entries, at most {max_weight} ones "
            "per report, batches of at least {min_batch_size}"
        ).format(
            task=files.task,
            length=task.length,
            max_weight=task.max_weight,
            min_batch_size=task.min_batch_size,
        ),
        _(
            "each aggregator adds discrete Gaussian noise σ² = "
            "{sigma_sq}: ({epsilon}, {delta})-DP per device per week on "
            "its own"
        ).format(sigma_sq=task.noise_plan().sigma_sq, epsilon=task.epsilon, delta=task.delta),
        _("give leader.* to the leader, helper.* to the helper, keep collector.* (all 0600)"),
    ]
    if top_items:
        lines.insert(
            1,
            _("co-occurrence of the pairs among the top {m} items: {first}, …").format(
                m=len(top_items), first=", ".join(top_items[:5])
            ),
        )
    emit(args, document, lines)
    return 0


#: The pad length the defaults assume: the collaborative model's (both tasks pad alike).
DEFAULT_PAD = CollaborativeParams().item_pad


def default_weight(kind: str) -> int:
    """K when ``--max-weight`` is not given (at most the task's entries):
    :data:`DEFAULT_PAD` items, or all their pairs."""
    return pair_count(DEFAULT_PAD) if kind == COOCCURRENCE else DEFAULT_PAD


def _top_items(args: argparse.Namespace, labels: tuple[str, ...]) -> tuple[str, ...]:
    """A co-occurrence task's top-M items: the M most popular in ``--popularity`` (the
    collected popularity aggregate, or any estimates file), else the first M of
    ``--labels`` (in the publisher's order of popularity)."""
    if not MIN_TOP_ITEMS <= args.top_m <= MAX_TOP_ITEMS:
        raise UsageError(
            _("--top-m is in [{low}, {high}]").format(low=MIN_TOP_ITEMS, high=MAX_TOP_ITEMS)
        )
    if args.popularity:
        estimates = load_estimates(args.popularity)
        ranked = sorted(estimates, key=lambda item: (-estimates[item], item))
    elif labels:
        ranked = list(labels)
    else:
        raise UsageError(
            _("a co-occurrence task needs --popularity FILE (or --labels FILE, most popular first)")
        )
    if len(ranked) < args.top_m:
        raise InputError(
            _("only {count} items to choose the top {m} from; lower --top-m").format(
                count=len(ranked), m=args.top_m
            )
        )
    return tuple(ranked[: args.top_m])


def cmd_collect(args: argparse.Namespace) -> int:
    """Collect a week's batch from the leader and write the estimates document."""
    task = Task.load(Path(args.task))
    document = collect(
        task,
        hpke.read_keypair(Path(args.key)),
        read_secrets(Path(args.secrets)),
        args.leader,
        args.period,
    )
    header = _("{reports} valid reports for {period}; rejected: {rejected}").format(
        reports=document["reports"], period=args.period, rejected=document["rejected"]
    )
    if task.kind == COOCCURRENCE:
        emit_pairs(args, document, header)
    else:
        emit_estimates(args, document, header)
    return 0


def emit_pairs(args: argparse.Namespace, document: dict[str, Any], header: str) -> None:
    """Write a co-occurrence aggregate to ``--out`` (if given) and print its top pairs."""
    if args.out:
        atomic_write_bytes(Path(args.out), canonical_json(document))
    top, counts = document["top_items"], document["pair_counts"]
    pairs = itertools.combinations(top, 2)  # the order of pair_index, row by row
    ranked = sorted(zip(pairs, counts, strict=True), key=lambda pc: -pc[1])[:10]
    lines = [
        _("{header}; top pairs (± {stderr:.1f}):").format(header=header, stderr=document["stderr"]),
        *(f"  {a} + {b}: {count}" for (a, b), count in ranked),
    ]
    if args.out:
        lines.append(_("written to {path}").format(path=args.out))
    emit(args, document, lines)


def register(publish_commands: Any, common: argparse.ArgumentParser, period: Any) -> None:
    """Add ``publish secagg-task`` and ``publish collect``."""
    p = add_command(
        publish_commands,
        "secagg-task",
        common,
        help=_("create a secure-aggregation task (keys and secrets for both aggregators)"),
        example="discreet publish secagg-task --out ./task --length 1000 --max-weight 20",
        handler=cmd_task,
    )
    p.add_argument("--out", required=True, metavar="DIR", help=_("a new folder for the files"))
    p.add_argument(
        "--length", type=positive_int, default=1000, metavar="N", help=_("items in the histogram")
    )
    p.add_argument("--labels", metavar="FILE", help=_("item ids, one per line (sets --length)"))
    p.add_argument(
        "--kind",
        choices=KINDS,
        default=POPULARITY,
        help=_("what the task counts: items, or pairs among the top-M items"),
    )
    p.add_argument(
        "--top-m",
        type=positive_int,
        default=CollaborativeParams().items,
        metavar="M",
        help=_("co-occurrence: how many of the most popular items to pair"),
    )
    p.add_argument(
        "--popularity",
        metavar="FILE",
        help=_("co-occurrence: the estimates the top-M items are chosen from"),
    )
    p.add_argument(
        "--max-weight",
        type=positive_int,
        metavar="K",
        help=_(
            "items a device counts (default {items}), or pairs for co-occurrence (default "
            "{pairs} = C({items}, 2): all pairs of a device with at most {items} items)"
        ).format(items=DEFAULT_PAD, pairs=pair_count(DEFAULT_PAD)),
    )
    p.add_argument(
        "--min-batch-size",
        type=positive_int,
        default=1000,
        metavar="N",
        help=_("release no aggregate of fewer reports"),
    )
    p.add_argument(
        "--epsilon",
        type=positive_float,
        default=1.0,
        metavar="E",
        help=_(
            "the noise's ε per week for this task; with both tasks, give co-occurrence "
            "{share:g} of the week's ε and popularity the rest"
        ).format(share=CollaborativeParams().pair_share),
    )
    p.add_argument(
        "--delta", type=positive_float, default=1e-9, metavar="D", help=_("the noise's δ per week")
    )

    p = add_command(
        publish_commands,
        "collect",
        common,
        help=_("collect a week's secure aggregate from the leader"),
        example="discreet publish collect --task task/task.json --key task/collector.key "
        "--secrets task/collector.secrets.json --leader http://leader:8080 "
        "--period 2026-W50 --out popularity.json",
        handler=cmd_collect,
    )
    p.add_argument("--task", required=True, metavar="TASK", help=_("the task's task.json"))
    p.add_argument("--key", required=True, metavar="KEY", help=_("the collector's HPKE key file"))
    p.add_argument("--secrets", required=True, metavar="FILE", help=_("the collector's secrets"))
    p.add_argument("--leader", required=True, metavar="URL", help=_("the leader's address"))
    p.add_argument("--period", required=True, type=period, metavar="YYYY-Www", help=_("ISO week"))
    p.add_argument("--out", metavar="FILE", help=_("also write the JSON document to FILE"))
