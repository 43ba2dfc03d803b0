"""``discreet serve --role leader|helper``, ``publish secagg-task`` and ``publish collect``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from discreet.cli._command import UsageError, add_command, positive_float, positive_int
from discreet.cli._output import emit, emit_estimates
from discreet.publish.collect import collect
from discreet.secagg import hpke
from discreet.secagg.task import HELPER, LEADER, Task, create_task, read_secrets
from discreet.server.secagg.run import serve_aggregator

ROLE_HELP = (
    "'catalog' (the default) serves the catalog and takes LDP reports; 'leader' and "
    "'helper' run one of the two secure-aggregation aggregators (with --task, --key, "
    "--secrets and --db; the leader also --helper URL)"
)


def add_role_options(add: Callable[..., None]) -> None:
    """The options ``serve`` takes for an aggregator's role (``add`` declares one setting)."""
    add("--role", choices=("catalog", LEADER, HELPER), default="catalog", help=ROLE_HELP)
    add("--task", metavar="TASK", help="an aggregator's task.json")
    add("--key", metavar="KEY", help="an aggregator's HPKE key file")
    add("--secrets", metavar="FILE", help="an aggregator's secrets file")
    add("--helper", metavar="URL", help="the leader: the helper's URL")


def serve_role(args: argparse.Namespace) -> int:
    """Run the leader or the helper (``serve --role``)."""
    missing = [f"--{n}" for n in ("task", "key", "secrets") if getattr(args, n) is None]
    if args.role == LEADER and args.helper is None:
        missing.append("--helper")
    if missing:
        raise UsageError(f"serve --role {args.role} needs {' '.join(missing)}")
    serve_aggregator(
        args.role,
        task_path=Path(args.task),
        key_path=Path(args.key),
        secrets_path=Path(args.secrets),
        db_path=Path(args.db),
        helper_url=args.helper,
        host=args.host,
        port=args.port,
        header_timeout=args.header_timeout,
        max_connections=args.max_connections,
    )
    return 0


def cmd_task(args: argparse.Namespace) -> int:
    """Create a task folder: task.json, three HPKE key pairs, three secrets files."""
    labels: tuple[str, ...] = ()
    if args.labels:
        labels = tuple(Path(args.labels).read_text(encoding="utf-8").split())
    files = create_task(
        Path(args.out),
        length=len(labels) if labels else args.length,
        max_weight=args.max_weight,
        min_batch_size=args.min_batch_size,
        epsilon=args.epsilon,
        delta=args.delta,
        labels=labels,
    )
    task = Task.load(files.task)
    document = {
        "task": str(files.task),
        "keys": {k: str(v) for k, v in files.keys.items()},
        "secrets": {k: str(v) for k, v in files.secrets.items()},
        "noise": task.noise_plan().to_json(),
    }
    lines = [
        f"task {files.task}: {task.length} entries, at most {task.max_weight} ones per report, "
        f"batches of at least {task.min_batch_size}",
        f"each aggregator adds discrete Gaussian noise σ² = {task.noise_plan().sigma_sq}: "
        f"({task.epsilon}, {task.delta})-DP per device per week on its own",
        "give leader.* to the leader, helper.* to the helper, keep collector.* (all 0600)",
    ]
    emit(args, document, lines)
    return 0


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
    emit_estimates(
        args,
        document,
        f"{document['reports']} valid reports for {args.period}; rejected: {document['rejected']}",
    )
    return 0


def register(publish_commands: Any, common: argparse.ArgumentParser, period: Any) -> None:
    """Add ``publish secagg-task`` and ``publish collect``."""
    p = add_command(
        publish_commands,
        "secagg-task",
        common,
        help="create a secure-aggregation task (keys and secrets for both aggregators)",
        example="discreet publish secagg-task --out ./task --length 1000 --max-weight 20",
        handler=cmd_task,
    )
    p.add_argument("--out", required=True, metavar="DIR", help="a new folder for the files")
    p.add_argument("--length", type=positive_int, default=1000, metavar="N")
    p.add_argument("--labels", metavar="FILE", help="item ids, one per line (sets --length)")
    p.add_argument("--max-weight", type=positive_int, default=20, metavar="K")
    p.add_argument("--min-batch-size", type=positive_int, default=1000, metavar="N")
    p.add_argument("--epsilon", type=positive_float, default=1.0, metavar="E")
    p.add_argument("--delta", type=positive_float, default=1e-9, metavar="D")

    p = add_command(
        publish_commands,
        "collect",
        common,
        help="collect a week's secure aggregate from the leader",
        example="discreet publish collect --task task/task.json --key task/collector.key "
        "--secrets task/collector.secrets.json --leader http://leader:8080 "
        "--period 2026-W50 --out popularity.json",
        handler=cmd_collect,
    )
    p.add_argument("--task", required=True, metavar="TASK")
    p.add_argument("--key", required=True, metavar="KEY", help="the collector's HPKE key file")
    p.add_argument("--secrets", required=True, metavar="FILE")
    p.add_argument("--leader", required=True, metavar="URL")
    p.add_argument("--period", required=True, type=period, metavar="YYYY-Www", help="ISO week")
    p.add_argument("--out", metavar="FILE", help="also write the JSON document to FILE")
