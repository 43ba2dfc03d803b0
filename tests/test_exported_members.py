"""The public API is exactly what ``__all__`` says, sorted, and every member is documented."""

from __future__ import annotations

import inspect

import discreet
from discreet import errors


def test_all_is_sorted_and_complete() -> None:
    assert discreet.__all__ == sorted(discreet.__all__)
    plumbing = {"annotations", "importlib", "TYPE_CHECKING", "Any"}
    public = {
        name
        for name in dir(discreet)
        if not name.startswith("_")
        and name not in plumbing
        and not inspect.ismodule(getattr(discreet, name))
    }
    assert public == set(discreet.__all__) - {"__version__", "errors"}


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


def test_device_code_never_loads_the_publisher_ml_stack() -> None:
    """Apps import the client side; scikit-learn and joblib (which unpickles) stay out."""
    import subprocess
    import sys

    code = (
        "import sys, discreet, discreet.sync.client, discreet.catalog.reader, discreet.cli;"
        "print(sorted(m for m in ('sklearn', 'joblib', 'scipy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert "publish_catalog" in dir(discreet)
    assert discreet.publish_catalog.__name__ == "publish_catalog"


def test_every_subpackage_exports_a_documented_all() -> None:
    """Each name once, each documented (ruff's RUF022 keeps the order)."""
    import importlib
    import pkgutil

    packages = [m.name for m in pkgutil.iter_modules(discreet.__path__) if m.ispkg]
    assert "protocol" in packages
    for name in packages:
        package = importlib.import_module(f"discreet.{name}")
        exported = getattr(package, "__all__", None)
        if exported is None:
            continue  # a package of private modules (the CLI) exports nothing
        assert len(set(exported)) == len(exported), name
        for member_name in exported:
            member = getattr(package, member_name)
            if inspect.isclass(member) or inspect.isfunction(member):
                assert inspect.getdoc(member), f"{name}.{member_name}"
