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
from discreet.demo_secagg import DEVICES, MAX_WEIGHT, MIN_BATCH_SIZE


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
        timeout=300,
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
    assert device["sent"] == 1
    (entry,) = device["ledger"]
    assert (entry["status"], entry["epsilon"], entry["delta"]) == (
        "sent",
        task["epsilon"],
        task["delta"],
    )

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
    assert set(summary["timings"]) == {"setup_s", "contributions_s", "collection_s", "total_s"}
    assert summary["timings"]["total_s"] > 0


def test_secure_aggregation_demo_takes_no_client_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--secure-aggregation", "--clients", "5000"]) == 2
    assert "--clients sizes the LDP demo" in capsys.readouterr().err
