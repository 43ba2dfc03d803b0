"""A ranking call runs BLAS on one thread and leaves the app's own setting unchanged."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from discreet.catalog.reader import Catalog
from discreet.profile.model import Profile
from discreet.publish.publisher import PublishResult
from discreet.publish.repository import PublisherRepository
from discreet.rank.ranker import Ranker
from discreet.sync.client import sync_catalog

TODAY = dt.date(2026, 11, 29)


def _blas_threads() -> int:
    found = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert found, "numpy's BLAS is not visible to threadpoolctl"
    return int(found[0])


@pytest.fixture
def catalog(
    repo: PublisherRepository, publish: Callable[..., PublishResult], tmp_path: Path
) -> Catalog:
    publish()
    folder = sync_catalog(tmp_path / "home", str(repo.path), root=repo.trusted_root_path).folder
    return Catalog.open(folder)


def test_ranking_calls_limit_blas_to_one_thread_and_restore_the_app_setting(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    profiled = Ranker.profiled

    def noting(self: Ranker, profile: Profile, today: dt.date) -> Any:
        seen.append(_blas_threads())  # every ranking call starts here, inside its limit
        return profiled(self, profile, today)

    monkeypatch.setattr(Ranker, "profiled", noting)
    ranker = Ranker(catalog)
    profile = Profile.new(TODAY)
    profile.record(catalog.item_at(0).id, "like", TODAY)
    with threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads() == 2
        assert ranker.recommend(profile, 3, today=TODAY)
        ranker.explain(profile, catalog.item_at(1).id, today=TODAY)
        assert ranker.interests(profile, TODAY)
        assert _blas_threads() == 2  # the app's own setting, untouched
    assert seen == [1, 1, 1]


_OVERLAP = """
import threading
from threadpoolctl import threadpool_info
from discreet.rank.blas import one_blas_thread

def blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"][0]

a_inside, a_release, b_release = threading.Event(), threading.Event(), threading.Event()
seen = []

@one_blas_thread
def call_a():
    a_inside.set()
    a_release.wait(10)
    seen.append(blas_threads())

@one_blas_thread
def call_b():
    b_release.wait(10)
    seen.append(blas_threads())

before = blas_threads()
first = threading.Thread(target=call_a)
first.start()
assert a_inside.wait(10)
second = threading.Thread(target=call_b)  # starts before A returns, ends after it
second.start()
a_release.set()
first.join(10)
b_release.set()
second.join(10)
print(before, seen, blas_threads())
"""


def test_overlapping_calls_from_two_threads_restore_the_app_setting() -> None:
    # The app's setting comes from the environment, as an app would set it, in a
    # fresh process where no thread holds a threadpoolctl limit of its own.
    done = subprocess.run(
        [sys.executable, "-c", _OVERLAP],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "2"},
    )
    assert done.stdout.split(maxsplit=1)[0] == "2"
    assert done.stdout.strip() == "2 [1, 1] 2"


def test_calls_inside_a_held_limit_run_as_they_are_and_the_setting_comes_back(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discreet.rank import blas

    asked: list[int] = []
    controller = blas._controller()
    limit = controller.limit

    def counting(**kwargs: Any) -> Any:
        asked.append(1)
        return limit(**kwargs)

    monkeypatch.setattr(controller, "limit", counting)
    ranker = Ranker(catalog)
    profile = Profile.new(TODAY)
    profile.record(catalog.item_at(0).id, "like", TODAY)

    @blas.one_blas_thread
    def many() -> list[int]:
        threads = []
        for _ in range(3):
            ranker.recommend(profile, 3, today=TODAY)
            threads.append(_blas_threads())
        return threads

    with threadpool_limits(limits=2, user_api="blas"):
        assert many() == [1, 1, 1]
        assert asked == [1]  # one limit for the loop, none per call inside it
        assert _blas_threads() == 2
        ranker.recommend(profile, 3, today=TODAY)
        assert asked == [1, 1]  # outside, each call limits again
        assert _blas_threads() == 2
