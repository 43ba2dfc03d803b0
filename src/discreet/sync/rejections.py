"""TUF's failures named as discreet's errors: one class per attack, one line each.

TUF says *that* a file failed (its length or hash is not the one signed for it,
its signatures do not reach the threshold) but not *why*. When a metadata file
fails, the file itself is looked at, as the source sent it:

    another version than the one asked for,       another release's file
    signed by the keys trusted for its role       (mix-and-match)
    a trusted key's signature that no longer      tampered with or corrupted
    fits, not valid metadata, or longer than      in transit
    signed
    only other keys' signatures                   not signed by trusted keys

A file that goes on well past its signed length is endless data; one that ends
a little past it is merely longer than signed (:mod:`discreet.sync.fetchers`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from securesystemslib.exceptions import UnverifiedSignatureError
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Key, Metadata, Root, Signature
from tuf.api.serialization import DeserializationError

from discreet.errors import (
    CatalogError,
    CatalogExpiredError,
    CatalogMetadataTamperedError,
    CatalogMixAndMatchError,
    CatalogOversizedError,
    CatalogRejectedError,
    CatalogRollbackError,
    CatalogSignatureError,
    CatalogTamperedError,
    SourceUnavailableError,
)
from discreet.i18n import N_, _
from discreet.sync.fetchers import CatalogFetcher, Downloaded, LongerThanSignedError

_KEPT = N_("the previous catalog stays in use")
_TAMPERED = N_(
    "so it was tampered with or corrupted in transit; "
    "the previous catalog stays in use, sync again later or from another source"
)


class Rejections:
    """Turns TUF's failures during one sync into discreet's errors.

    ``fetcher`` is the sync's fetcher (it keeps the metadata file downloaded
    last); ``tuf_dir`` is TUF's metadata folder, whose ``root.json`` is the root
    the client trusts.
    """

    def __init__(self, fetcher: CatalogFetcher, tuf_dir: Path) -> None:
        self.fetcher = fetcher
        self.tuf_dir = tuf_dir

    @contextlib.contextmanager
    def metadata(self) -> Iterator[None]:
        """Around TUF's construction and refresh: metadata failures, named."""
        try:
            yield
        except LongerThanSignedError as exc:
            raise self._mismatch(
                f"is {exc.received} bytes, more than the {exc.expected} allowed"
            ) from None
        except tuf_errors.LengthOrHashMismatchError:
            raise self._mismatch("does not match the length and hash signed for it") from None
        except tuf_errors.UnsignedMetadataError:
            raise self._unsigned() from None
        except DeserializationError:
            raise self._undecodable() from None
        except tuf_errors.DownloadLengthMismatchError:
            downloaded = self.fetcher.last_metadata
            what = f"{_role(downloaded)} metadata" if downloaded else "catalog metadata"
            raise CatalogOversizedError(
                _(
                    "the source kept sending {what} past any length signed or "
                    "allowed (endless data); {KEPT}"
                ).format(what=what, KEPT=_(_KEPT))
            ) from None
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
            raise _common(exc) from None

    @contextlib.contextmanager
    def target(self, name: str) -> Iterator[None]:
        """Around the download of the catalog file ``name``: its failures, named."""
        try:
            yield
        except LongerThanSignedError as exc:
            raise CatalogTamperedError(
                _(
                    "the catalog file {name} is {received} bytes, more than the "
                    "{expected} signed, {TAMPERED}"
                ).format(
                    name=name, received=exc.received, expected=exc.expected, TAMPERED=_(_TAMPERED)
                )
            ) from None
        except tuf_errors.LengthOrHashMismatchError:
            raise CatalogTamperedError(
                _(
                    "the catalog file {name} does not match the length and hash "
                    "signed for it, {TAMPERED}"
                ).format(name=name, TAMPERED=_(_TAMPERED))
            ) from None
        except tuf_errors.DownloadLengthMismatchError:
            raise CatalogOversizedError(
                _(
                    "the source kept sending the catalog file {name} past its "
                    "signed length (endless data); {KEPT}"
                ).format(name=name, KEPT=_(_KEPT))
            ) from None
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
            raise _common(exc) from None

    def _trusted_root(self) -> Root | None:
        try:
            return Metadata[Root].from_bytes((self.tuf_dir / "root.json").read_bytes()).signed
        except (OSError, DeserializationError):
            return None

    def _mismatch(self, how: str) -> CatalogRejectedError:
        """A metadata file whose length or hash is not the one signed for it."""
        downloaded = self.fetcher.last_metadata
        if downloaded is None:
            return CatalogMetadataTamperedError(
                _("catalog metadata {how}, {TAMPERED}").format(how=how, TAMPERED=_(_TAMPERED))
            )
        role = _role(downloaded)
        offered = _parse(downloaded)
        root = self._trusted_root()
        wanted = _version_asked(downloaded)
        if (
            offered is not None
            and root is not None
            and wanted is not None
            and offered.signed.version != wanted
            and _vouched_for(offered, role, root)
        ):
            return CatalogMixAndMatchError(
                _(
                    "catalog metadata files do not belong to the same release "
                    "(mix-and-match: the source offers {role} v{version} where "
                    "the release names v{wanted}); {KEPT}"
                ).format(role=role, version=offered.signed.version, wanted=wanted, KEPT=_(_KEPT))
            )
        return CatalogMetadataTamperedError(
            _("the source's {role} metadata {how}, {TAMPERED}").format(
                role=role, how=how, TAMPERED=_(_TAMPERED)
            )
        )

    def _unsigned(self) -> CatalogRejectedError:
        """A metadata file whose signatures do not reach its role's threshold."""
        downloaded = self.fetcher.last_metadata
        offered = _parse(downloaded) if downloaded else None
        root = self._trusted_root()
        role = _role(downloaded) if downloaded else "catalog"
        if offered and root and _altered_after_signing(offered, role, root):
            return CatalogMetadataTamperedError(
                _("the source's {role} metadata does not match its signature, {TAMPERED}").format(
                    role=role, TAMPERED=_(_TAMPERED)
                )
            )
        return CatalogSignatureError(
            _(
                "catalog metadata is not signed by the keys this device "
                "trusts; the update was refused and {KEPT}"
            ).format(KEPT=_(_KEPT))
        )

    def _undecodable(self) -> CatalogError:
        """A file that is not metadata at all (or the device's own root file, if none came)."""
        downloaded = self.fetcher.last_metadata
        if downloaded is None:
            return _malformed()
        return CatalogMetadataTamperedError(
            _("the source's {role} metadata is not valid metadata, {TAMPERED}").format(
                role=_role(downloaded), TAMPERED=_(_TAMPERED)
            )
        )


def _common(exc: tuf_errors.RepositoryError | tuf_errors.DownloadError) -> CatalogError:
    """The failures named by their type alone, whatever file they are about."""
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        return CatalogRollbackError(
            _(
                "the source offers catalog metadata older than this device "
                "already has (rollback); {KEPT}"
            ).format(KEPT=_(_KEPT))
        )
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        return CatalogExpiredError(
            _(
                "the source offers expired catalog metadata (a stale mirror "
                "or a freeze attack); {KEPT}, try again later"
            ).format(KEPT=_(_KEPT))
        )
    if isinstance(exc, tuf_errors.DownloadError):
        return SourceUnavailableError(
            _(
                "cannot reach the catalog source ({exc}); {KEPT}, check the "
                "address or try again later"
            ).format(exc=exc, KEPT=_(_KEPT))
        )
    return _malformed()


def _malformed() -> CatalogSignatureError:
    return CatalogSignatureError(
        _("catalog metadata is malformed or fails verification; {KEPT}").format(KEPT=_(_KEPT))
    )


def _role(downloaded: Downloaded) -> str:
    """``snapshot`` for ``…/3.snapshot.json``."""
    name = downloaded.url.rsplit("/", 1)[-1].removesuffix(".json")
    version, _, role = name.partition(".")
    return role if version.isdigit() and role else name


def _version_asked(downloaded: Downloaded) -> int | None:
    """The version TUF asked for (``3`` for ``…/3.snapshot.json``), if the name carries one."""
    version = downloaded.url.rsplit("/", 1)[-1].partition(".")[0]
    return int(version) if version.isdigit() else None


def _parse(downloaded: Downloaded) -> Metadata[Any] | None:
    try:
        return Metadata.from_bytes(downloaded.data)
    except DeserializationError:
        return None


def _vouched_for(offered: Metadata[Any], role: str, root: Root) -> bool:
    """Whether ``offered`` is ``role`` metadata signed by the keys ``root`` trusts for it."""
    if offered.signed.type != role or role not in root.roles:
        return False
    return root.get_verification_result(role, offered.signed_bytes, offered.signatures).verified


def _altered_after_signing(offered: Metadata[Any], role: str, root: Root) -> bool:
    """Whether a signature by a key ``root`` trusts for ``role`` is there but no longer fits.

    Either the bytes changed under a trusted key's signature, or the key id
    beside a trusted key's signature did: an alteration, not another signer.
    """
    if role not in root.roles:
        return False
    payload = offered.signed_bytes
    for keyid in root.roles[role].keyids:
        key = root.keys.get(keyid)
        if key is None:
            continue
        if keyid in offered.signatures:
            if not _verifies(key, offered.signatures[keyid], payload):
                return True
        elif any(
            _verifies(key, Signature(keyid, other.signature), payload)
            for other in offered.signatures.values()
        ):
            return True
    return False


def _verifies(key: Key, signature: Signature, payload: bytes) -> bool:
    try:
        key.verify_signature(signature, payload)
    except UnverifiedSignatureError:
        return False
    return True
