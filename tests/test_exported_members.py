"""The public API is exactly what ``__all__`` says, sorted, and every member is documented."""

from __future__ import annotations

import inspect

import discreet
from discreet import errors


def test_all_is_sorted_and_complete() -> None:
    assert discreet.__all__ == sorted(discreet.__all__)
    public = {name for name in dir(discreet) if not name.startswith("_")}
    submodules = {"catalog", "cli", "demo_data", "errors", "home", "publish", "sync"}
    assert public - submodules == set(discreet.__all__) - {"__version__", "errors"}


def test_public_members_have_docstrings() -> None:
    for name in discreet.__all__:
        member = getattr(discreet, name)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert inspect.getdoc(member), name


def test_error_tree_is_drawn_and_rooted() -> None:
    assert errors.__all__ == sorted(errors.__all__)
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.DiscreetError)
        assert name in (errors.__doc__ or ""), f"{name} is missing from the drawn tree"
