"""Importing the engine, and ranking with it, loads only what ranking needs.

An app pays at start-up for what ``import discreet.engine`` loads: no numpy,
no TUF, and never the publisher's scikit-learn, scipy or joblib. Opening an
engine and ranking loads numpy, but still none of the publisher's stack, nor
TUF (which only a sync needs).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import discreet
from discreet import _lazy

PUBLISHER_STACK = ("sklearn", "scipy", "joblib")


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport sys, json\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_engine_loads_neither_numpy_tuf_nor_the_publisher_stack() -> None:
    loaded = _loaded_after("import discreet.engine")
    assert "discreet" in loaded
    assert not {"numpy", "tuf", "urllib3", *PUBLISHER_STACK} & set(loaded)


def test_ranking_through_the_engine_never_loads_the_publisher_stack_or_tuf(
    cli_home: Path,
) -> None:
    code = (
        "from discreet.engine import Engine\n"
        f"engine = Engine.open({str(cli_home)!r}, kiosk=True)\n"
        "assert len(engine.recommend(5)) == 5\n"
        "engine.close()"
    )
    loaded = _loaded_after(code)
    assert "numpy" in loaded
    assert not {"tuf", *PUBLISHER_STACK} & set(loaded)


def test_a_lazy_name_is_imported_once_and_kept() -> None:
    assert "Engine" in dir(discreet)
    engine_class = discreet.Engine
    assert vars(discreet)["Engine"] is engine_class
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _lazy.lazy_exports("discreet", {"discreet.engine": ("Engine",)})[0]("Nothing")
