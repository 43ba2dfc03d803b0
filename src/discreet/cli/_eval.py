"""``discreet eval``: offline evaluation against centralized baselines."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from discreet.cli._command import add_command, positive_int
from discreet.cli._output import StageProgress, emit, printable
from discreet.errors import InputError
from discreet.i18n import _


def cmd_eval(args: argparse.Namespace) -> int:
    """Run the comparison and print the table."""
    from discreet.evaluation import (
        EvalConfig,
        convert_movielens,
        format_table,
        load_dataset,
        run_evaluation,
    )
    from discreet.evaluation.heap import keep_freed_memory

    # The command's process does nothing else: large arrays reuse freed memory.
    keep_freed_memory()
    with tempfile.TemporaryDirectory() as tmp:
        if args.movielens:
            source = Path(args.movielens)
            if not (source / "ratings.csv").exists():
                raise InputError(
                    _(
                        "{source} has no ratings.csv; point --movielens at the unpacked folder"
                    ).format(source=source)
                )
            items, interactions = convert_movielens(source, tmp)
        elif args.items and args.interactions:
            items, interactions = Path(args.items), Path(args.interactions)
        else:
            raise InputError(_("give --items and --interactions, or --movielens DIR"))
        dataset = load_dataset(items, interactions)

        start = time.monotonic()
        # The bar is drawn on a terminal only; the phase lines go to stderr either way
        # (stdout keeps the table, or the JSON document alone).
        progress = StageProgress()

        def log(message: str) -> None:
            progress.done()
            line = f"[{time.monotonic() - start:4.0f} s] {printable(message)}"
            print(line, file=sys.stderr, flush=True)

        config = EvalConfig(
            clients=tuple(args.clients),
            epsilons=tuple(args.epsilon),
            secure_clients=tuple(args.secure_clients),
            secure_epsilons=tuple(args.secure_epsilon),
            baselines=not args.no_baselines,
            seed=args.seed,
            log=log,
            progress=progress,
            jobs=args.jobs,
        )
        try:
            rows = run_evaluation(dataset, config)
        finally:
            progress.done()
        log(_("done: {count} rows").format(count=len(rows)))
    document: dict[str, Any] = {"rows": [r.to_json() for r in rows]}
    emit(args, document, [format_table(rows)])
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``eval``."""
    p = add_command(
        sub,
        "eval",
        common,
        help=_("offline evaluation against centralized baselines"),
        example="discreet eval --movielens ../shared/data/ml-latest-small",
        handler=cmd_eval,
    )
    p.add_argument(
        "--items", metavar="ITEMS_CSV", help=_("the catalog's items (with --interactions)")
    )
    p.add_argument("--interactions", metavar="INTERACTIONS_CSV", help=_("user,item,day rows"))
    p.add_argument("--movielens", metavar="DIR", help=_("a MovieLens folder, converted first"))
    p.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=[100_000, 1_000_000],
        metavar="N",
        help=_("simulated devices of the LDP route (default 1e5 1e6)"),
    )
    p.add_argument(
        "--epsilon",
        type=float,
        nargs="+",
        default=[1.0],
        metavar="E",
        help=_("the LDP route's ε (default 1)"),
    )
    p.add_argument(
        "--secure-clients",
        type=int,
        nargs="+",
        default=[10_000, 100_000, 1_000_000],
        metavar="N",
        help=_("simulated devices of the secure-aggregation route (default 1e4 1e5 1e6)"),
    )
    p.add_argument(
        "--secure-epsilon",
        type=float,
        nargs="+",
        default=[0.5, 1.0, 2.0],
        metavar="E",
        help=_("the secure-aggregation route's ε per week, δ = 1e-6 (default 0.5 1 2)"),
    )

    p.add_argument(
        "--jobs",
        type=positive_int,
        default=os.cpu_count() or 1,
        metavar="N",
        help=_(
            "processes for the private routes (default: the cores, here {cores}); "
            "1 runs them in this process"
        ).format(cores=os.cpu_count() or 1),
    )
    p.add_argument("--no-baselines", action="store_true", help=_("only the engine"))
    p.add_argument("--seed", type=int, default=0, help=_("seed of the split and the simulation"))
