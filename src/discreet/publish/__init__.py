"""The publisher: signed TUF repository and catalog releases."""

from discreet.publish.publisher import PublishResult, publish_catalog
from discreet.publish.repository import Expiries, PublisherRepository

__all__ = ["Expiries", "PublishResult", "PublisherRepository", "publish_catalog"]
