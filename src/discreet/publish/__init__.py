"""The publisher: signed TUF repository and catalog releases.

``publish_catalog`` pulls in scikit-learn, so it is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from discreet import _lazy
from discreet.publish.repository import Expiries, PublisherRepository

if TYPE_CHECKING:
    from discreet.publish.publisher import PublishResult, publish_catalog

__all__ = ["Expiries", "PublishResult", "PublisherRepository", "publish_catalog"]

__getattr__, __dir__ = _lazy.lazy_exports(
    __name__, {"discreet.publish.publisher": ("PublishResult", "publish_catalog")}
)
