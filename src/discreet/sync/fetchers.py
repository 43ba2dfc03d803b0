"""How the TUF client reaches a catalog source: HTTP(S) or a local folder."""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import FetcherInterface, Urllib3Fetcher

from discreet.errors import SourceUnavailableError

_CHUNK = 1 << 20


class LocalFolderFetcher(FetcherInterface):
    """Serve ``file://`` URLs from the local file system, as a web server would.

    A missing file answers like HTTP 404, which the TUF client needs to detect
    the end of the root rotation chain.
    """

    def _fetch(self, url: str) -> Iterator[bytes]:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme != "file":
            raise DownloadHTTPError(f"not a file URL: {url}", 400)
        path = Path(urllib.request.url2pathname(parsed.path))
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise DownloadHTTPError(f"{path} not found", 404) from None
        return _chunks(handle)


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


@dataclass(frozen=True)
class Source:
    """Where a catalog comes from: base URLs for metadata and targets, and a fetcher."""

    metadata_url: str
    targets_url: str
    fetcher: FetcherInterface
    description: str


def resolve_source(source: str, *, timeout: int = 30) -> Source:
    """Turn ``sync --from`` into a :class:`Source`.

    An ``http(s)://`` URL is the served folder of a repository. A local path
    may be a repository folder (its ``public/`` is used) or a served folder.
    """
    if source.startswith(("http://", "https://")):
        base = source.rstrip("/")
        fetcher = Urllib3Fetcher(socket_timeout=timeout, app_user_agent=None)
        return Source(f"{base}/metadata/", f"{base}/targets/", fetcher, base)
    path = Path(urllib.request.url2pathname(source[7:]) if source.startswith("file://") else source)
    for candidate in (path / "public", path):
        if (candidate / "metadata").is_dir():
            base = candidate.resolve().as_uri()
            return Source(
                f"{base}/metadata/", f"{base}/targets/", LocalFolderFetcher(), str(candidate)
            )
    raise SourceUnavailableError(
        f"{source} is not a catalog repository (no metadata folder); check the path"
    )
