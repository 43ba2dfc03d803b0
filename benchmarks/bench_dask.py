"""Catalog builds and secure-aggregation preparation on a Dask LocalCluster: 1 vs 2 workers.

Each case runs in its own process (its workers are processes too: the
LocalCluster of ``--dask local``, one thread per worker), so peak memory is
its own. Tables:

1. speed-up: the same catalog build and the same preparation (leader and
   helper, a batch of reports) in this process, on 1 worker and on 2, with
   the load average of the machine while each case ran (the machine may be
   shared: a load above the core count means the workers waited for a core);
2. CPU seconds per task, measured in this process (``time.process_time``) on
   the partition functions the workers run;
3. the largest build: wall time and peak RSS of the client and of each worker;
4. a projection, from table 2, of the cores needed for 10^8 devices a week
   (each aggregator, at a 5·10^4-entry vector) and for a 10M-item build.

``python benchmarks/run.py bench_dask`` (``--quick``: smaller sizes);
``python benchmarks/bench_dask.py --speed-up`` for tables 1 only. The largest
build is ``publish build --dask local`` of ``DISCREET_BENCH_DASK_ITEMS``
(default 1,000,000) items generated into a file, in ``DISCREET_BENCH_DASK_CACHE``
(reused there; default a temporary folder).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _harness import peak_rss_mib, run_case, table
from bench_build import generated_items

WEEK_S = 7 * 86_400
DEVICES = 10**8
TEN_M = 10_000_000
SAMPLE = 250_000  # OnCluster.sample_rows
#: The speed-up case's build: twice the sample, so that the fit overlaps the rest's hashing.
SPEED_ITEMS = 500_000
PARAMS = {"dim": 64, "vectorizer": "hashing"}


def _load() -> float:
    return os.getloadavg()[0]


def _worker_peak_mib() -> float:
    """A worker's own peak RSS (VmHWM: a spawned worker's ``ru_maxrss`` starts at its
    parent's size at fork, the client's items included)."""
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))


def build_case(n: int, workers: int) -> dict[str, Any]:
    """A catalog build of ``n`` generated items, on ``workers`` workers (0: no Dask)."""
    from discreet.catalog.build import build_catalog_files
    from discreet.catalog.embedding import EmbeddingParams
    from discreet.catalog.embedding_dask import OnCluster
    from discreet.cluster import open_client

    items, taxonomy = generated_items(n)
    base = peak_rss_mib()
    load = _load()
    with tempfile.TemporaryDirectory() as tmp:

        def build(cluster: Any) -> float:
            start = time.perf_counter()
            build_catalog_files(
                items,
                taxonomy,
                Path(tmp) / "out",
                name="bench",
                version=1,
                built_at=dt.datetime.now(dt.UTC),
                params=EmbeddingParams(**PARAMS),  # type: ignore[arg-type]
                cluster=cluster,
            )
            return time.perf_counter() - start

        worker_peaks: list[float] = []
        if workers == 0:
            seconds = build(None)
        else:
            with open_client("local", workers=workers) as client:
                seconds = build(OnCluster(client))
                worker_peaks = sorted(client.run(_worker_peak_mib).values())
    return {
        "items": n,
        "workers": workers or "none",
        "build_s": seconds,
        "load_avg": max(load, _load()),
        "client_peak_mib": peak_rss_mib(),
        "client_over_inputs_mib": peak_rss_mib() - base,
        "worker_peaks_mib": " / ".join(f"{p:,.0f}" for p in worker_peaks) or "-",
    }


def write_generated_items(n: int, folder: Path, block: int = 100_000) -> tuple[Path, Path]:
    """``n`` items of :func:`bench_build.generated_items`'s distribution, written as JSONL a
    block at a time (not the same items: a file of any size, in little memory), and a
    taxonomy; an existing file of that size is reused."""
    folder.mkdir(parents=True, exist_ok=True)
    taxonomy = folder / "taxonomy.json"
    items = folder / f"items-{n}.jsonl"
    categories = [{"id": f"c{i}", "label": f"Category {i}"} for i in range(20)]
    taxonomy.write_text(json.dumps({"categories": categories}))
    if items.exists():
        return items, taxonomy
    rng = np.random.default_rng(0)
    syllables = np.array(
        ["ka", "lo", "mi", "ner", "sta", "po", "ri", "an", "te", "vu", "sol", "dor"]
    )
    words = ["".join(rng.choice(syllables, size=rng.integers(2, 5))) for _ in range(20_000)]
    vocab = np.array(words, dtype=object)
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.1
    p /= p.sum()
    partial = items.with_suffix(".partial")
    with open(partial, "w", encoding="utf-8") as f:
        for start in range(0, n, block):
            rows = min(block, n - start)
            lengths = rng.integers(30, 90, size=rows)
            drawn = vocab[rng.choice(len(vocab), size=int(lengths.sum()), p=p)]
            bounds = np.concatenate(([0], np.cumsum(lengths)))
            category = rng.integers(20, size=rows)
            lines = []
            for i in range(rows):
                chosen = drawn[bounds[i] : bounds[i + 1]]
                record = {
                    "id": f"i{start + i}",
                    "title": " ".join(chosen[:4]),
                    "text": " ".join(chosen[4:]),
                    "categories": [f"c{category[i]}"],
                }
                lines.append(json.dumps(record))
            f.write("\n".join(lines) + "\n")
    partial.rename(items)
    return items, taxonomy


def _disk_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def publish_case(n: int, workers: int, folder: Path) -> dict[str, Any]:
    """``publish build --dask local`` of ``n`` generated items from a file (streamed: the
    client never holds the item list), as the CLI runs it; the repository is removed after."""
    import shutil

    from discreet.catalog.embedding import EmbeddingParams
    from discreet.catalog.embedding_dask import OnCluster
    from discreet.cluster import open_client
    from discreet.publish.publisher import publish_catalog
    from discreet.publish.repository import PublisherRepository

    items, taxonomy = write_generated_items(n, folder)
    repo_path = folder / f"repo-{n}-{workers}"
    shutil.rmtree(repo_path, ignore_errors=True)
    repo = PublisherRepository.init(repo_path)
    base = peak_rss_mib()
    load = _load()
    try:
        with open_client("local", workers=workers) as client:
            start = time.perf_counter()
            publish_catalog(
                repo,
                items,
                taxonomy,
                params=EmbeddingParams(**PARAMS),  # type: ignore[arg-type]
                reporting=None,
                cluster=OnCluster(client),
            )
            seconds = time.perf_counter() - start
            worker_peaks = sorted(client.run(_worker_peak_mib).values())
        published_mib = _disk_mib(repo_path)
    finally:
        shutil.rmtree(repo_path, ignore_errors=True)
    return {
        "items": n,
        "workers": workers,
        "build_s": seconds,
        "load_avg": max(load, _load()),
        "client_peak_mib": peak_rss_mib(),
        "client_over_start_mib": peak_rss_mib() - base,
        "worker_peaks_mib": " / ".join(f"{p:,.0f}" for p in worker_peaks),
        "input_mib": items.stat().st_size / 2**20,
        "published_mib": published_mib,
    }


def _task(folder: Path, length: int) -> tuple[Any, ...]:
    from discreet.secagg import hpke
    from discreet.secagg.task import HELPER, LEADER, Task, create_task, read_secrets

    files = create_task(
        folder, length=length, max_weight=50, min_batch_size=1, epsilon=1.0, delta=1e-9
    )
    task = Task.load(files.task)
    keys = {role: hpke.read_keypair(files.keys[role]) for role in (LEADER, HELPER)}
    verify_key = read_secrets(files.secrets[LEADER]).verify_key
    return task, keys, verify_key


def _reports(task: Any, count: int) -> list[Any]:
    from discreet.secagg.upload import make_report

    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        bits = np.zeros(task.length, dtype=bool)
        bits[rng.choice(task.length, 50, replace=False)] = True
        out.append(make_report(task, "2026-W10", bits.tolist()))
    return out


def _prepare(task: Any, keys: Any, verify_key: bytes, reports: list[Any], client: Any) -> float:
    """Both aggregators' preparation of a batch (as in a leader's job); wall seconds."""
    from discreet.secagg.partitions import Preparation
    from discreet.secagg.prepare import PrepInput

    start = time.perf_counter()
    leader = Preparation(task, keys["leader"], verify_key, client)
    helper = Preparation(task, keys["helper"], verify_key, client)
    mine = [PrepInput(r.report_id, r.period, r.public_share, r.leader_share) for r in reports]
    round_, prepared = leader.leader_init(mine)
    theirs = [PrepInput(r.report_id, r.period, r.public_share, r.helper_share) for r in reports]
    helped, _ = helper.helper(theirs, [p.message for p in prepared])
    leader.leader_finish(round_, {h.report_id: h.rejection or h.message for h in helped})
    return time.perf_counter() - start


def prepare_case(length: int, count: int, workers: int) -> dict[str, Any]:
    """Both aggregators' preparation of ``count`` reports on ``workers`` workers (0: no Dask)."""
    from discreet.cluster import open_client

    with tempfile.TemporaryDirectory() as tmp:
        task, keys, verify_key = _task(Path(tmp) / "task", length)
        reports = _reports(task, count)
        load = _load()
        if workers == 0:
            seconds = _prepare(task, keys, verify_key, reports, None)
        else:
            with open_client("local", workers=workers) as client:
                _prepare(task, keys, verify_key, reports[:workers], client)  # workers warm
                seconds = _prepare(task, keys, verify_key, reports, client)
    return {
        "work": f"prepare {count} reports, length {length:,}",
        "workers": workers or "none",
        "seconds": seconds,
        "load_avg": max(load, _load()),
    }


def _cpu(action: Any) -> float:
    start = time.process_time()
    action()
    return time.process_time() - start


def build_task_costs(n: int) -> dict[str, float]:
    """CPU seconds of each build task, per 10,000 items (and the SVD fit on its sample)."""
    from discreet.catalog import embedding_dask as ed
    from discreet.catalog.build import items_jsonl
    from discreet.catalog.embedding import EmbeddingParams, feature_steps, truncated_svd
    from discreet.catalog.staged_cluster import _stage_range

    items, taxonomy = generated_items(n)
    params = EmbeddingParams(**PARAMS).resolved(TEN_M)  # type: ignore[arg-type]
    steps = feature_steps(params, TEN_M)
    branches = [p for _, p in steps[0][1].transformer_list]
    hashers = [b.named_steps["hash"] for b in branches]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "items.jsonl"
        source.write_bytes(items_jsonl(items))
        payload = source.read_bytes()
    stage_s = _cpu(lambda: _stage_range(payload, taxonomy, True, False))
    docs: list[str] = []
    documents_s = _cpu(lambda: docs.extend(ed.partition_documents(payload, taxonomy)))
    counts: list[Any] = []
    hash_s = _cpu(lambda: counts.extend(hasher.transform(docs) for hasher in hashers))
    frequencies = ed._document_frequencies(counts)
    for branch, df, hasher in zip(branches, frequencies, hashers, strict=True):
        ed._set_idf(branch.named_steps["idf"], df, n, hasher.dtype)
    columns = np.flatnonzero(np.concatenate(frequencies) >= 2)
    idfs = [b.named_steps["idf"] for b in branches]
    features: list[Any] = []
    features_s = _cpu(lambda: features.append(ed._features_partition(idfs, columns, counts)))
    svd = truncated_svd(params, len(columns), n)
    fit_s = _cpu(lambda: ed._fit_svd(svd, False, features[0]))
    none = features[0][:0]
    embed_s = _cpu(lambda: ed._embed_partition(svd, features[0], none, np.arange(n)))
    per = 10_000 / n
    return {
        "validate + stage items.jsonl lines": stage_s * per,
        "documents from items.jsonl lines": documents_s * per,
        "hash (+ document frequencies)": hash_s * per,
        "TF-IDF + rare-column cut": features_s * per,
        "project + normalise + quantise": embed_s * per,
        f"SVD fit on a {n:,}-row sample (whole)": fit_s,
        "rows": n,
    }


def prepare_task_costs(length: int, count: int) -> dict[str, float]:
    """CPU seconds per report of each preparation task, at ``length``."""
    from discreet.secagg import partitions as parts
    from discreet.secagg.prepare import PrepInput

    with tempfile.TemporaryDirectory() as tmp:
        task, keys, verify_key = _task(Path(tmp) / "task", length)
        reports = _reports(task, count)
    mine = [PrepInput(r.report_id, r.period, r.public_share, r.leader_share) for r in reports]
    theirs = [PrepInput(r.report_id, r.period, r.public_share, r.helper_share) for r in reports]
    prepared: list[Any] = []
    init_s = _cpu(
        lambda: prepared.extend(parts.leader_init_partition(task, keys["leader"], verify_key, mine))
    )
    helped: list[Any] = []
    helper_s = _cpu(
        lambda: helped.append(
            parts.helper_partition(
                task, keys["helper"], verify_key, theirs, [p.prep_share for p in prepared]
            )
        )
    )
    answers = {o.report_id: o.rejection or o.message for o in helped[0][0]}
    finish_s = _cpu(lambda: parts.leader_finish_partition(task, prepared, answers))
    return {
        f"leader step 1, length {length:,}": init_s / count,
        f"helper round, length {length:,}": helper_s / count,
        f"leader last step, length {length:,}": finish_s / count,
    }


def projection(build: dict[str, float], prepare: dict[str, float]) -> list[dict[str, Any]]:
    """Cores needed, from the measured CPU seconds per task (no parallel overhead)."""
    leader_s = sum(v for k, v in prepare.items() if k.startswith("leader"))
    helper_s = sum(v for k, v in prepare.items() if k.startswith("helper"))
    per_item = sum(v for k, v in build.items() if k != "rows" and not k.startswith("SVD"))
    # The fit is linear in the sample's rows: scaled from the measured sample to 250,000.
    fit_s = next(v for k, v in build.items() if k.startswith("SVD")) * SAMPLE / build["rows"]
    build_cpu = per_item / 10_000 * TEN_M + fit_s
    rows = []
    for who, cpu in (("leader", leader_s * DEVICES), ("helper", helper_s * DEVICES)):
        rows.append(
            {
                "work": f"{who}: 10^8 reports/week, length 50,000",
                "cpu_hours": cpu / 3600,
                "cores_in_a_week": math.ceil(cpu / WEEK_S),
                "cores_in_a_day": math.ceil(cpu / 86_400),
                "cores_in_an_hour": math.ceil(cpu / 3600),
            }
        )
    rows.append(
        {
            "work": "10M-item build (hashing, SVD on a 250k sample, fit scaled)",
            "cpu_hours": build_cpu / 3600,
            "cores_in_a_week": math.ceil(build_cpu / WEEK_S),
            "cores_in_a_day": math.ceil(build_cpu / 86_400),
            "cores_in_an_hour": math.ceil((build_cpu - fit_s) / max(1.0, 3600 - fit_s)),
        }
    )
    return rows


def speed_up(
    quick: bool = False, workers: tuple[int, ...] = (1, 2), from_file: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The same build and the same preparation on 1 worker, then on 2 (0: without Dask);
    with ``from_file``, also ``publish build --dask local`` of a generated items file."""
    items = 100_000 if quick else SPEED_ITEMS
    speed = [run_case("bench_dask", ["build", str(items), str(w)]) for w in workers]
    published: list[dict[str, Any]] = []
    if from_file:
        cache = os.environ.get("DISCREET_BENCH_DASK_CACHE")
        with tempfile.TemporaryDirectory() as tmp:
            for w in (w for w in workers if w):
                case = ["publish", str(items), str(w), cache or tmp]
                published.append(run_case("bench_dask", case))
    length, count = (1_000, 16) if quick else (50_000, 32)
    prep = [run_case("bench_dask", ["prepare", str(length), str(count), str(w)]) for w in workers]
    for rows, key in ((speed, "build_s"), (published, "build_s"), (prep, "seconds")):
        one = next((r[key] for r in rows if r["workers"] == 1), None)
        for r in rows:
            r["speed_up_vs_1"] = one / r[key] if one else float("nan")
    return speed, prep, published


def speed_up_tables(
    speed: list[dict[str, Any]], prep: list[dict[str, Any]], published: list[dict[str, Any]]
) -> list[str]:
    tables = [
        table(
            f"catalog build ({speed[0]['items']:,} items, hashing, 64 dims, SVD on at most "
            f"250,000 rows) on a LocalCluster, {os.cpu_count()} cores",
            speed,
            ["items", "workers", "build_s", "speed_up_vs_1", "load_avg", "worker_peaks_mib"],
        ),
        table(
            "secure-aggregation preparation (leader step 1, helper round, leader last step)",
            prep,
            ["work", "workers", "seconds", "speed_up_vs_1", "load_avg"],
        ),
    ]
    if published:
        tables.append(
            table(
                f"publish build --dask local of {published[0]['items']:,} items from a JSONL "
                "file (validated and staged on the workers, signed and published)",
                published,
                ["items", "workers", "build_s", "speed_up_vs_1", "load_avg", "client_peak_mib"],
            )
        )
    return tables


def main(quick: bool = False) -> str:
    speed, prep, _ = speed_up(quick, (0, 1, 2))
    costs = run_case("bench_dask", ["costs", "20000" if quick else "100000"])
    largest_n = int(os.environ.get("DISCREET_BENCH_DASK_ITEMS", 100_000 if quick else 1_000_000))
    cache = os.environ.get("DISCREET_BENCH_DASK_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        largest = run_case("bench_dask", ["publish", str(largest_n), "2", cache or tmp])
    out = [
        *speed_up_tables(speed, prep, []),
        table(
            "CPU seconds per task (build: per 10,000 items; preparation: per report)",
            [
                {"task": k, "cpu_s": v}
                for k, v in {**costs["build"], **costs["prepare"]}.items()
                if k != "rows"
            ],
            ["task", "cpu_s"],
        ),
        table(
            f"largest build here: publish build --dask local (2 workers) of {largest_n:,} "
            "items from a file",
            [largest],
            [
                "items",
                "build_s",
                "load_avg",
                "client_peak_mib",
                "worker_peaks_mib",
                "input_mib",
                "published_mib",
            ],
        ),
        table(
            "projection from the CPU seconds per task (perfect parallelism, no I/O)",
            projection(costs["build"], costs["prepare"]),
            ["work", "cpu_hours", "cores_in_a_week", "cores_in_a_day", "cores_in_an_hour"],
        ),
    ]
    return "\n\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", nargs="+")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--speed-up", action="store_true", help="only the 1 vs 2 worker tables")
    parser.add_argument(
        "--from-file",
        action="store_true",
        help="with --speed-up: also publish build --dask of a generated items file",
    )
    options = parser.parse_args()
    if options.case:
        kind, *args = options.case
        if kind == "build":
            result = build_case(int(args[0]), int(args[1]))
        elif kind == "publish":
            result = publish_case(int(args[0]), int(args[1]), Path(args[2]))
        elif kind == "prepare":
            result = prepare_case(int(args[0]), int(args[1]), int(args[2]))
        else:
            result = {
                "build": build_task_costs(int(args[0])),
                "prepare": prepare_task_costs(50_000, 2),
            }
        print(json.dumps(result))
    elif options.speed_up:
        print("\n\n".join(speed_up_tables(*speed_up(options.quick, from_file=options.from_file))))
    else:
        print(main(options.quick))
        sys.exit(0)
