"""How the TUF client reaches a catalog source: HTTP(S) or a local folder.

Over HTTP(S), every download goes through the device's one HTTP client
(:mod:`discreet.sync.http`), with its retries and its proxy handling.

Both fetchers read a little past the length TUF allows (:data:`OVERRUN_PROBE`):
a file that ends there is merely longer than signed, tampered with or corrupted
(:class:`LongerThanSignedError`); one that goes on is an endless-data attack
(``DownloadLengthMismatchError``). Each keeps the metadata file it downloaded
last, so that a file TUF then refuses can be looked at and the failure named.
"""

from __future__ import annotations

import io
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from tuf.api.exceptions import DownloadError, DownloadHTTPError, DownloadLengthMismatchError
from tuf.ngclient import FetcherInterface

from discreet.errors import SourceUnavailableError
from discreet.i18n import _
from discreet.sync.http import DeviceHttpClient, RetryPolicy

_CHUNK = 1 << 20
#: The most a bare ``fetch()`` reads (TUF never calls it: it passes each file's length).
_FETCH_LIMIT = 16 << 20
#: How far past a file's allowed length a download goes on reading, to tell a file
#: that is longer than signed from a source that keeps sending (endless data).
OVERRUN_PROBE = 64 << 10


class LongerThanSignedError(DownloadLengthMismatchError):
    """A download ended, but past the length TUF allowed for it: not the file that was signed."""

    def __init__(self, url: str, expected: int, received: int) -> None:
        super().__init__(f"{url} is {received} bytes, more than the {expected} expected")
        self.url, self.expected, self.received = url, expected, received


@dataclass(frozen=True)
class Downloaded:
    """A metadata file as the source sent it (before TUF verified it)."""

    url: str
    data: bytes


class CatalogFetcher(FetcherInterface):
    """TUF's downloads, telling a file longer than signed from endless data.

    :attr:`last_metadata` is the metadata file downloaded last: the one a
    verification failure during TUF's refresh is about.
    """

    last_metadata: Downloaded | None = None

    def _receive(self, url: str, into: BinaryIO, limit: int) -> int:
        """Write ``url``'s bytes into ``into``; return how many, or raise past ``limit``."""
        received = 0
        for chunk in self.fetch(url):
            received += len(chunk)
            if received > limit:
                raise DownloadLengthMismatchError(f"{url} sent more than {limit} bytes")
            into.write(chunk)
        return received

    def _download(self, url: str, into: BinaryIO, max_length: int) -> None:
        received = self._receive(url, into, max_length + OVERRUN_PROBE)
        if received > max_length:
            raise LongerThanSignedError(url, max_length, received)

    @contextmanager
    def download_file(self, url: str, max_length: int) -> Iterator[IO[bytes]]:
        """Download ``url`` into a temporary file, at most ``max_length`` bytes."""
        with tempfile.TemporaryFile() as temp:
            self._download(url, temp, max_length)
            temp.seek(0)
            yield temp

    def download_bytes(self, url: str, max_length: int) -> bytes:
        """Download ``url`` (a metadata file), at most ``max_length`` bytes, and keep it."""
        buffer = io.BytesIO()
        try:
            self._download(url, buffer, max_length)
        finally:
            self.last_metadata = Downloaded(url, buffer.getvalue())
        return buffer.getvalue()


class LocalFolderFetcher(CatalogFetcher):
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


class HttpFetcher(CatalogFetcher):
    """TUF's downloads over HTTP(S), through the device's :class:`DeviceHttpClient`.

    Each file is one exchange, retried as a whole by the client's policy, so a
    download cut off half-way starts again. A 4xx raises ``DownloadHTTPError`` at
    once (a 404 ends TUF's root-rotation walk); a failure on every attempt raises
    ``DownloadError``; a file that goes on past the probe is cut off there
    (endless data), unread further.
    """

    def __init__(self, client: DeviceHttpClient) -> None:
        self.client = client

    def _receive(self, url: str, into: BinaryIO, limit: int) -> int:
        try:
            reply = self.client.request("GET", url, max_length=limit, into=into)
        except SourceUnavailableError as exc:
            raise DownloadError(str(exc)) from exc
        if reply.oversized:
            raise DownloadLengthMismatchError(f"{url} sent more than {limit} bytes")
        if not reply.ok:
            raise DownloadHTTPError(f"{url} answered HTTP {reply.status}", reply.status)
        return into.tell()  # the client empties ``into`` before each attempt

    def _fetch(self, url: str) -> Iterator[bytes]:
        # TUF itself calls download_file with each file's signed length; a bare
        # fetch() has no length to hold the server to, so it gets a fixed cap.
        return iter((self.download_bytes(url, _FETCH_LIMIT),))


@dataclass(frozen=True)
class Source:
    """Where a catalog comes from: base URLs for metadata and targets, and a fetcher."""

    metadata_url: str
    targets_url: str
    fetcher: CatalogFetcher
    description: str


def resolve_source(
    source: str, *, timeout: float = 30, attempts: int = 3, deadline: float | None = None
) -> Source:
    """Turn ``sync --from`` into a :class:`Source`.

    An ``http(s)://`` URL is the served folder of a repository. A local path
    may be a repository folder (its ``public/`` is used) or a served folder.
    ``deadline`` (on ``time.monotonic``) bounds every download from a URL.
    """
    if source.startswith(("http://", "https://")):
        base = source.rstrip("/")
        fetcher = HttpFetcher(
            DeviceHttpClient(
                policy=RetryPolicy(attempts=attempts), timeout=timeout, deadline=deadline
            )
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
        _("{source} is not a catalog repository (no metadata folder); check the path").format(
            source=source
        )
    )
