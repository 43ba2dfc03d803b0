"""Package attributes imported on first use (PEP 562), so that importing a package stays cheap.

An app that embeds the engine should not pay, at ``import discreet``, for
numpy, TUF, the publisher's scikit-learn stack or anything else it may never
touch. A package lists where each public name lives; the name's module is
imported the first time the name is read, and the value is then kept in the
package like any other attribute.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, modules: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, which exports ``modules[m]`` from ``m``.

    >>> __getattr__, __dir__ = lazy_exports(__name__, {"discreet.engine": ["Engine"]})
    """
    where = {name: module for module, names in modules.items() for name in names}

    def attribute(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def names() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return attribute, names
