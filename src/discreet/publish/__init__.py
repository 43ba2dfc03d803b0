"""The publisher: signed TUF repository and catalog releases.

``publish_catalog`` pulls in scikit-learn, so it is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from discreet.publish.repository import Expiries, PublisherRepository

if TYPE_CHECKING:
    from discreet.publish.publisher import PublishResult, publish_catalog

_LAZY = {
    "PublishResult": "discreet.publish.publisher",
    "publish_catalog": "discreet.publish.publisher",
}

__all__ = ["Expiries", "PublishResult", "PublisherRepository", "publish_catalog"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
