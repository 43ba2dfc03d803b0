"""``discreet demo --secure-aggregation --json``: a real leader and helper process, a real
device and simulated ones, the publisher's collection; estimates within the stated noise."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from discreet.catalog.items import read_items
from discreet.catalog.taxonomy import load_taxonomy
from discreet.cli import main
from discreet.demo_data import demo_items_path, demo_taxonomy_path
from discreet.demo_secagg import DEVICES, MAX_WEIGHT, MIN_BATCH_SIZE, TOP_M


@pytest.mark.timeout(900)  # ~40 s on a quiet machine; far more when 2 cores are shared
def test_secure_aggregation_demo_estimates_the_truth_within_the_stated_noise(
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "discreet", "demo", "--secure-aggregation", "--seed", "3", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
        timeout=840,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert list(scratch.iterdir()) == [], "the demo left files behind"

    taxonomy = load_taxonomy(demo_taxonomy_path())
    items = read_items(demo_items_path(), taxonomy)
    sensitive = {i.id for i in items if set(i.categories) & taxonomy.sensitive_ids}
    task = summary["task"]
    assert (task["length"], task["max_weight"], task["min_batch_size"]) == (
        len(items),
        MAX_WEIGHT,
        MIN_BATCH_SIZE,
    )
    sigma_sq = task["privacy"]["sigma_sq_per_aggregator"]
    assert task["sigma_per_aggregator"] == pytest.approx(math.sqrt(sigma_sq))
    assert task["stderr"] == pytest.approx(math.sqrt(2 * sigma_sq))

    device = summary["device"]
    preview = device["preview"]
    assert preview["mode"] == "secure-aggregation"
    assert preview["size"] == len(bytes.fromhex(preview["bytes_hex"])) > 0
    assert 1 <= len(preview["items"]) <= MAX_WEIGHT
    assert not set(preview["items"]) & sensitive
    assert device["sent"] == 2  # one contribution per task
    pairs_task = summary["pairs_task"]
    assert (pairs_task["kind"], pairs_task["length"]) == ("cooccurrence", TOP_M * (TOP_M - 1) // 2)
    entries = {entry["kind"]: entry for entry in device["ledger"]}
    assert set(entries) == {"secagg", "secagg-pairs"}
    for kind, stated in (("secagg", task), ("secagg-pairs", pairs_task)):
        entry = entries[kind]
        assert (entry["status"], entry["epsilon"], entry["delta"]) == (
            "sent",
            stated["epsilon"],
            stated["delta"],
        )
    shown = preview["cooccurrence"]
    assert shown["size"] == len(bytes.fromhex(shown["bytes_hex"])) > 0
    assert len(shown["pairs"]) <= MAX_WEIGHT

    assert summary["devices"] == DEVICES + 1
    assert summary["reports"] == DEVICES + 1  # every contribution valid, none lost
    rows = summary["estimates"]
    assert [r["item"] for r in rows] == [i.id for i in items]
    truth = np.array([r["true"] for r in rows], dtype=float)
    assert 0 < truth.sum() <= MAX_WEIGHT * (DEVICES + 1)
    assert all(r["true"] == 0 for r in rows if r["item"] in sensitive)
    for item in preview["items"]:  # the real device's contribution is in the truth
        assert rows[[r["item"] for r in rows].index(item)]["true"] >= 1
    noise = np.array([r["estimate"] for r in rows]) - truth
    variance = task["stderr"] ** 2
    assert np.all(np.abs(noise) < 6 * task["stderr"])
    # The noise is of the stated scale, not smaller: its squared sum is chi-square-like.
    statistic = float(np.sum(noise**2) / variance)
    assert stats.chi2.sf(statistic, len(rows)) > 1e-4
    assert stats.chi2.cdf(statistic, len(rows)) > 1e-4
    covered = sum(r["covered"] for r in rows)
    assert covered == summary["covered"] >= 0.85 * len(rows)
    # The co-occurrence aggregate: every valid contribution, the truth plus noise of its scale.
    pairs = summary["pairs"]
    assert pairs["reports"] == DEVICES + 1
    assert pairs["m"] == TOP_M
    pair_truth = np.array(pairs["true_counts"], dtype=float)
    assert 0 < pair_truth.sum() <= MAX_WEIGHT * (DEVICES + 1)
    for pair in (p["pair"] for p in pairs["top"]):
        assert not set(pair) & sensitive
    pair_noise = np.array(pairs["pair_counts"]) - pair_truth
    assert pairs["stderr"] == pytest.approx(
        math.sqrt(2 * pairs_task["privacy"]["sigma_sq_per_aggregator"])
    )
    assert np.all(np.abs(pair_noise) < 6 * pairs["stderr"])
    pair_statistic = float(np.sum(pair_noise**2) / pairs["stderr"] ** 2)
    assert stats.chi2.sf(pair_statistic, len(pair_truth)) > 1e-4
    assert stats.chi2.cdf(pair_statistic, len(pair_truth)) > 1e-4
    assert set(summary["timings"]) == {"setup_s", "contributions_s", "collection_s", "total_s"}
    assert summary["timings"]["total_s"] > 0


def test_secure_aggregation_demo_takes_no_client_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--secure-aggregation", "--clients", "5000"]) == 2
    assert "--clients sizes the LDP demo" in capsys.readouterr().err
