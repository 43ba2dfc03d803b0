"""How the TUF client reaches a catalog source: HTTP(S) or a local folder."""

from __future__ import annotations

import random
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tuf.api.exceptions import DownloadError, DownloadHTTPError
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


class RetryingFetcher(FetcherInterface):
    """Retry a request that failed to connect, timed out or got a 5xx, with backoff.

    A 4xx is an answer, not a failure (a 404 ends TUF's root-rotation walk),
    so it is never retried. Proxies follow the standard environment variables.
    """

    def __init__(
        self,
        inner: FetcherInterface,
        *,
        attempts: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = inner
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep

    def _fetch(self, url: str) -> Iterator[bytes]:
        last: Exception = DownloadError(f"no attempt was made to fetch {url}")
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1) * (0.5 + random.random()))  # noqa: S311 (jitter, not secrecy)
            try:
                return self._inner._fetch(url)
            except DownloadHTTPError as exc:
                if exc.status_code < 500:
                    raise
                last = exc
            except Exception as exc:  # connection refused, reset, TLS, timeout
                last = exc
        raise last


@dataclass(frozen=True)
class Source:
    """Where a catalog comes from: base URLs for metadata and targets, and a fetcher."""

    metadata_url: str
    targets_url: str
    fetcher: FetcherInterface
    description: str


def resolve_source(source: str, *, timeout: int = 30, attempts: int = 3) -> Source:
    """Turn ``sync --from`` into a :class:`Source`.

    An ``http(s)://`` URL is the served folder of a repository. A local path
    may be a repository folder (its ``public/`` is used) or a served folder.
    """
    if source.startswith(("http://", "https://")):
        base = source.rstrip("/")
        fetcher = RetryingFetcher(
            Urllib3Fetcher(socket_timeout=timeout, app_user_agent=None), attempts=attempts
        )
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
