"""Tests that need ../shared skip on a fresh clone and fail when CI requires the data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import shared_data


@pytest.fixture
def absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MovieLens looked for where it is not."""
    missing = tmp_path / "shared" / "data" / "ml-latest-small"
    monkeypatch.setattr(shared_data, "MOVIELENS", missing)
    return missing


def test_missing_data_skips_with_the_place_it_looked(
    absent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for unset in (None, "", "0"):
        if unset is None:
            monkeypatch.delenv(shared_data.REQUIRE_VARIABLE, raising=False)
        else:
            monkeypatch.setenv(shared_data.REQUIRE_VARIABLE, unset)
        with pytest.raises(pytest.skip.Exception, match="MovieLens is not at") as info:
            shared_data.require_movielens()
        assert str(absent) in str(info.value)


def test_missing_data_fails_when_required(absent: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(shared_data.REQUIRE_VARIABLE, "1")
    with pytest.raises(pytest.fail.Exception, match="DISCREET_REQUIRE_SHARED_DATA requires it"):
        shared_data.require_movielens()


def test_present_data_is_returned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_data, "MOVIELENS", tmp_path)
    monkeypatch.setenv(shared_data.REQUIRE_VARIABLE, "1")
    assert shared_data.require_movielens() == tmp_path
