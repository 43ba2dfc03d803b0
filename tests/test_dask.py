"""Catalog builds, secure-aggregation preparation and LDP merges on a Dask LocalCluster
of two workers give what the same work gives without Dask.

The cluster's workers are threads of this process (``processes=False``): two
worker processes take tens of seconds to start and to import discreet on a
loaded machine, and the tasks are the same functions either way
(``bench_dask`` runs process workers). Its scheduler listens on loopback TCP,
so the CLI's ``--dask tcp://...`` joins it as it would a remote cluster.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from discreet.catalog.build import build_catalog_files
from discreet.catalog.embedding import EmbeddingParams, item_document
from discreet.catalog.embedding_dask import OnCluster, fit_embeddings_on_cluster
from discreet.catalog.items import Item
from discreet.catalog.popularity import load_estimates
from discreet.catalog.taxonomy import Taxonomy
from discreet.cli import main
from discreet.cluster import open_client
from discreet.errors import ClusterUnavailableError, ItemsInvalidError, MissingDependencyError
from discreet.evaluation.data import convert_movielens, load_dataset
from discreet.protocol.params import ReportingParams
from discreet.protocol.report import Report, period_of
from discreet.publish.publisher import publish_catalog
from discreet.publish.repository import PublisherRepository
from discreet.secagg import hpke
from discreet.secagg.partitions import Preparation
from discreet.secagg.prepare import PrepInput
from discreet.secagg.task import COLLECTOR, HELPER, LEADER, Task, create_task, read_secrets
from discreet.secagg.upload import UploadReport, make_report
from discreet.server.sketch_merge import merge_sketches
from discreet.server.storage import ReportStore
from tests.secagg_support import prepare_in_process, running_aggregators
from tests.server_support import http, refused_port
from tests.shared_data import require_movielens

BUILT = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
PERIOD = "2026-W10"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A client of a LocalCluster of two thread workers, its scheduler on loopback TCP."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=":0"
    )
    with cluster, Client(cluster) as c:
        assert len(c.nthreads()) == 2
        yield c


def _catalog(n: int, seed: int = 0) -> tuple[list[Item], Taxonomy]:
    """``n`` items in 12 topics: each item's 30 words come, two thirds of them, from its
    topic's 200 words, the rest from 2,000 shared ones (Zipf-distributed)."""
    rng = np.random.default_rng(seed)
    shared = rng.choice(2000, size=(n, 10), p=_zipf(2000))
    own = rng.choice(200, size=(n, 20), p=_zipf(200))
    taxonomy = Taxonomy.from_json(
        {"categories": [{"id": f"c{i}", "label": f"Category {i}"} for i in range(12)]}
    )
    items = []
    for i in range(n):
        words = [f"s{w}x" for w in shared[i]] + [f"t{i % 12}w{w}x" for w in own[i]]
        rng.shuffle(words)
        items.append(Item(f"i{i}", " ".join(words[:3]), " ".join(words[3:]), ("c0",)))
    return items, taxonomy


def _zipf(size: int) -> np.ndarray:
    p = 1.0 / np.arange(1, size + 1) ** 1.1
    return p / p.sum()


def _build(folder: Path, items: list[Item], taxonomy: Taxonomy, **options: Any) -> dict[str, bytes]:
    result = build_catalog_files(
        items,
        taxonomy,
        folder,
        name="dask",
        version=1,
        built_at=BUILT,
        params=EmbeddingParams(dim=16, vectorizer="hashing", hashing_features=2**14, seed=3),
        **options,
    )
    return {f: (folder / f).read_bytes() for f in result.manifest.files}


def test_a_build_on_two_workers_writes_the_same_catalog_byte_for_byte(
    client: Any, tmp_path: Path
) -> None:
    items, taxonomy = _catalog(2_000)
    alone = _build(tmp_path / "alone", items, taxonomy)
    cluster = OnCluster(client, partition_rows=300, sample_rows=2_000)  # 7 partitions
    on_dask = _build(tmp_path / "dask", items, taxonomy, cluster=cluster)
    assert set(on_dask) == set(alone)
    assert {"embeddings.npy", "quantised.npy", "scales.npy"} <= set(alone)
    for name, data in alone.items():
        assert on_dask[name] == data, name


def test_beyond_the_sample_every_row_is_its_items_projection(client: Any, tmp_path: Path) -> None:
    """The sample's rows are hashed apart from the rest and put back in order: each written
    vector is what the fitted pipeline makes of that item, even where a partition lies
    wholly in the sample."""
    items, taxonomy = _catalog(1_500)
    params = EmbeddingParams(dim=16, vectorizer="hashing", hashing_features=2**14, seed=3)
    cluster = OnCluster(client, partition_rows=100, sample_rows=1_495)  # rests mostly empty

    def partitions(bounds: list[tuple[int, int]]) -> Iterator[list[Item]]:
        return (items[start:stop] for start, stop in bounds)

    fitted = fit_embeddings_on_cluster(partitions, len(items), taxonomy, params, cluster, tmp_path)
    vectors = np.array(fitted.vectors)
    documents = [item_document(item, taxonomy) for item in items]
    np.testing.assert_allclose(fitted.pipeline.transform(documents), vectors, atol=2e-5)
    assert vectors.shape == (1_500, 16)


def test_on_movielens_an_svd_fitted_on_a_fifth_ranks_as_well(client: Any, tmp_path: Path) -> None:
    dataset = load_dataset(*convert_movielens(require_movielens(), tmp_path / "ml"))
    items, taxonomy = dataset.items, dataset.taxonomy
    exact = _build(tmp_path / "exact", items, taxonomy)
    sampled = _build(
        tmp_path / "sampled", items, taxonomy, cluster=OnCluster(client, sample_rows=2_000)
    )
    for name in ("items.jsonl", "popularity.npy", "taxonomy.json"):
        assert sampled[name] == exact[name], name
    manifests = [json.loads(files["manifest.json"]) for files in (sampled, exact)]
    features = [m["embeddings"]["model"].pop("n_features") for m in manifests]
    assert manifests[0] == manifests[1]
    assert 0 < features[0] < features[1]  # the rare-column cut counts in the sample
    assert sampled["embeddings.npy"] != exact["embeddings.npy"]
    genres = [set(item.categories) for item in items]

    def precision(folder: str) -> float:
        """How many of the top-10 neighbours of 300 films share a genre with them."""
        vectors = np.load(tmp_path / folder / "embeddings.npy")
        rows = np.arange(0, len(items), len(items) // 300)
        scores = vectors[rows] @ vectors.T
        scores[np.arange(len(rows)), rows] = -np.inf
        top = np.argsort(-scores, axis=1)[:, :10]
        shared = [[bool(genres[r] & genres[n]) for n in t] for r, t in zip(rows, top, strict=True)]
        return float(np.mean(shared))

    assert precision("exact") > 0.7
    assert precision("sampled") >= precision("exact") - 0.02


@pytest.fixture(scope="module")
def secagg_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, ...]:
    files = create_task(
        tmp_path_factory.mktemp("task"),
        length=8,
        max_weight=2,
        min_batch_size=10,
        epsilon=1.0,
        delta=1e-9,
    )
    task = Task.load(files.task)
    verify_key = read_secrets(files.secrets[LEADER]).verify_key
    rng = np.random.default_rng(5)
    ones = [set(rng.choice(8, 2, replace=False).tolist()) for _ in range(20)]
    reports = [make_report(task, PERIOD, [i in chosen for i in range(8)]) for chosen in ones]
    bad = reports[7]  # the helper's share sealed to another report id: it does not open
    reports[7] = UploadReport(
        secrets.token_bytes(16), PERIOD, bad.public_share, bad.leader_share, bad.helper_share
    )
    keys = {role: hpke.read_keypair(files.keys[role]) for role in (LEADER, HELPER)}
    return task, keys, verify_key, reports


def _prepare(task: Task, keys: Any, verify_key: bytes, reports: Any, client: Any) -> Any:
    leader = Preparation(task, keys[LEADER], verify_key, client)
    helper = Preparation(task, keys[HELPER], verify_key, client)
    mine = [PrepInput(r.report_id, PERIOD, r.public_share, r.leader_share) for r in reports]
    round_, prepared = leader.leader_init(mine)
    sent = [(r, p) for r, p in zip(reports, prepared, strict=True) if p.rejection is None]
    theirs = [PrepInput(r.report_id, PERIOD, r.public_share, r.helper_share) for r, _ in sent]
    helped, helper_share = helper.helper(theirs, [p.message for _, p in sent])
    answers = {h.report_id: h.rejection or h.message for h in helped}
    finished, leader_share = leader.leader_finish(round_, answers)
    count = sum(f.rejection is None for f in finished)
    return finished, helped, task.vdaf().unshard([leader_share, helper_share], count)


def test_preparation_on_two_workers_gives_the_same_outcomes_and_sum(
    client: Any, secagg_batch: tuple[Any, ...]
) -> None:
    task, keys, verify_key, reports = secagg_batch
    alone = _prepare(task, keys, verify_key, reports, None)
    on_dask = _prepare(task, keys, verify_key, reports, client)
    assert on_dask == alone
    finished, _, total = alone
    assert [f.report_id for f in finished] == [r.report_id for r in reports]
    assert [f.rejection for f in finished].count("undecryptable") == 1
    assert sum(total) > 0


def test_aggregators_preparing_on_dask_release_the_batch_sum(client: Any, tmp_path: Path) -> None:
    """A real leader and helper (``serve --role ... --dask``, on this module's cluster)
    prepare a batch: the collector gets the sum the preparation without Dask gives, plus
    the central noise."""
    length, count = 8, 12
    files = create_task(
        tmp_path / "task",
        length=length,
        max_weight=2,
        min_batch_size=count,
        epsilon=1.0,
        delta=1e-9,
        labels=tuple(f"item-{i}" for i in range(length)),
    )
    task = Task.load(files.task)
    period = period_of(dt.date.today())
    rng = np.random.default_rng(11)
    chosen = [set(rng.choice(length, 2, replace=False).tolist()) for _ in range(count)]
    reports = [make_report(task, period, [i in c for i in range(length)]) for c in chosen]
    alone, rejected = prepare_in_process(files, reports)
    assert rejected == {}
    from distributed import get_task_stream

    extra = ["--dask", client.scheduler.address]
    with (
        get_task_stream(client) as stream,
        running_aggregators(files, tmp_path, extra) as (leader, _helper),
    ):
        for report in reports:
            status, _, _ = http("PUT", f"{leader.url}/v1/secagg/reports", report.encode())
            assert status == 201
        out = tmp_path / "popularity.json"
        cli = subprocess.run(
            [
                sys.executable, "-m", "discreet", "publish", "collect",
                "--task", str(files.task), "--key", str(files.keys[COLLECTOR]),
                "--secrets", str(files.secrets[COLLECTOR]), "--leader", leader.url,
                "--period", period, "--out", str(out), "--json",
            ],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    ran = {str(task["key"]).split("-")[0] for task in stream.data}
    assert {"leader_init_partition", "_helper_pair", "leader_finish_partition"} <= ran
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["reports"] == count
    estimates = load_estimates(out)
    noise = np.array([estimates[f"item-{i}"] for i in range(length)]) - np.array(alone)
    assert np.all(np.abs(noise) < 7 * np.sqrt(task.noise_plan().release_variance))


def _ldp_stores(folder: Path, reporting: ReportingParams) -> list[Path]:
    rng = np.random.default_rng(9)
    paths = []
    for shard in range(3):
        path = folder / f"shard{shard}.db"
        store = ReportStore(path, rng=np.random.default_rng(shard))
        store.register_catalog(1, reporting, [f"i{i}" for i in range(50)])
        oracle = reporting.kinds["item"].oracle
        batch = [
            (secrets.token_bytes(16), Report("item", oracle.mechanism, 1, PERIOD, int(payload)))
            for payload in rng.integers(0, oracle.payload_limit, size=200 + 50 * shard)
        ]
        store.ingest(batch)
        store.close()
        paths.append(path)
    return paths


def test_ldp_sums_merged_by_range_on_two_workers_are_the_sums(client: Any, tmp_path: Path) -> None:
    reporting = ReportingParams.default_for(["c0", "c1"], item_count=50)
    paths = _ldp_stores(tmp_path, reporting)
    oracle = reporting.kinds["item"].oracle
    key = (PERIOD, "item", 1)
    stores = [ReportStore(p, create=False) for p in paths]
    expected = [s.sketch(*key) for s in stores]
    for s in stores:
        s.close()
    assert all(e is not None for e in expected)
    for on in (None, client):
        merged = merge_sketches(paths, oracle, key, client=on, range_cells=7)
        assert merged.n == sum(e.n for e in expected if e is not None) == 750
        np.testing.assert_array_equal(
            merged.vector, sum(e.vector for e in expected if e is not None)
        )
    absent = merge_sketches(paths, oracle, ("2026-W11", "item", 1), range_cells=7)
    assert absent.n == 0


def test_dask_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'discreet\[dask\]'"):
        open_client("local").__enter__()


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    with refused_port() as port, pytest.raises(ClusterUnavailableError, match="cannot be used"):
        open_client(f"tcp://127.0.0.1:{port}", timeout=1).__enter__()


def test_publish_estimates_merges_several_databases(
    client: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    reporting = ReportingParams.default_for(["c0", "c1"], item_count=50)
    paths = _ldp_stores(tmp_path, reporting)
    command = ["publish", "estimates", "--period", PERIOD, "--min-reports", "10", "--json"]
    reports = []
    for options in (
        ["--db", str(paths[0])],
        [a for p in paths for a in ("--db", str(p))],
        [*(a for p in paths for a in ("--db", str(p))), "--dask", client.scheduler.address],
    ):
        assert main([*command, *options]) == 0
        reports.append(json.loads(capsys.readouterr().out)["reports"])
    assert reports == [200, 750, 750]


def test_publish_build_on_a_running_scheduler_publishes_the_same_catalog(
    client: Any, capsys: pytest.CaptureFixture[str], inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    popularity = tmp_path / "popularity.csv"
    popularity.write_text("id,estimate\n" + "".join(f"b{i},{i + 1}\n" for i in range(1, 5)))
    catalogs = []
    for options in ((), ("--dask", client.scheduler.address)):
        repo = tmp_path / f"repo{len(options)}"
        assert main(["publish", "init", str(repo)]) == 0
        capsys.readouterr()
        argv = ["publish", "build", str(inputs[0]), "--taxonomy", str(inputs[1])]
        argv += ["--popularity", str(popularity)]
        assert main([*argv, "--repo", str(repo), "--json", *options]) == 0
        assert json.loads(capsys.readouterr().out)["items"] == 8
        published = PublisherRepository.open(repo)
        targets = published.current_targets()
        catalogs.append(
            {
                name: published.target_path(target).read_bytes()
                for name, target in targets.items()
                if name != "catalog/manifest.json"  # it says when it was built
            }
        )
        assert [p.name for p in repo.iterdir() if p.name.startswith(".staging")] == []
    assert {"catalog/embeddings.npy", "catalog/items.jsonl", "catalog/popularity.npy"} <= set(
        catalogs[0]
    )
    assert catalogs[0] == catalogs[1]


def test_a_refused_items_file_publishes_nothing_on_dask(
    client: Any, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    repo = PublisherRepository.init(tmp_path / "repo")
    before = sorted(p.relative_to(repo.path) for p in repo.path.rglob("*"))
    items = tmp_path / "items.jsonl"
    lines = inputs[0].read_text().splitlines()
    items.write_text("\n".join([*lines, lines[2]]) + "\n")  # the third item again
    with pytest.raises(ItemsInvalidError, match=r"items.jsonl:9: field 'id': duplicate id"):
        publish_catalog(repo, items, inputs[1], cluster=OnCluster(client))
    assert sorted(p.relative_to(repo.path) for p in repo.path.rglob("*")) == before
