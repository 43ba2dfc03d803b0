"""Every failure a caller of discreet can act on has its own class here.

The tree::

    DiscreetError
    ├── UnsupportedFormatError        a file or record is newer than this code
    ├── InsufficientSpaceError        the disk is full; nothing was half-written
    ├── MissingDependencyError        an optional extra is not installed
    ├── ClusterUnavailableError       the Dask cluster cannot be started or reached
    ├── ServiceAddressError           the service cannot listen on that host and port
    ├── ServiceConfigError            a serve setting from the environment or file is wrong
    ├── BackupError                   ``serve backup`` made no good copy; DEST is unchanged
    ├── InputError                    the publisher's input files are wrong
    │   ├── ItemsInvalidError         items CSV/JSONL (names file, line, field)
    │   ├── TaxonomyInvalidError      taxonomy JSON/TOML
    │   ├── PopularityInvalidError    popularity priors
    │   ├── NoticesInvalidError       signed notices to users
    │   └── CatalogNameInvalidError   a catalog name devices would refuse
    ├── RepositoryError               the publisher's TUF repository
    │   ├── RepositoryExistsError     ``publish init`` on a folder in use
    │   ├── RepositoryNotFoundError   no repository (or no keys) at that path
    │   ├── RootPassphraseError       the root key did not open: wrong passphrase
    │   └── RepositoryBusyError       another process is publishing
    ├── StoreError                    the encrypted profile store
    │   ├── WrongKeyError             wrong passphrase, key file or keyring key
    │   ├── CorruptStoreError         authentication failed, truncated or bad header
    │   ├── CorruptSettingsError      ``config.json`` and its copy are both damaged
    │   ├── StoreLockedError          another process has the profile open
    │   ├── StoreReadOnlyError        a save in a read-only profile folder
    │   ├── StoreExistsError          ``init`` over an existing profile
    │   ├── StoreNotFoundError        no profile yet
    │   ├── KeySourceError            the key source itself is unusable
    │   └── KeyRequiredError          a passphrase profile was opened without one
    ├── SessionModeError              a kiosk-only call on a stored profile, or the reverse
    ├── EngineClosedError             the Engine was closed, or its profile erased
    ├── UnknownItemError              an item id the installed catalog does not have
    ├── UnknownCategoryError          a category the installed catalog does not have
    ├── UnknownEventKindError         an event kind other than view, click, like, ...
    ├── FilterInvalidError            a recommendation filter of the wrong type or range
    ├── ReportingError                private reports cannot be made
    │   ├── ConsentRequiredError      no consent, or consent to other parameters
    │   ├── BudgetExhaustedError      the period's privacy budget is spent
    │   └── EstimateUnavailableError  too few reports to publish an estimate
    ├── SecureAggregationError        the two aggregators' protocol
    │   ├── TaskInvalidError          a task or secrets file is malformed or exposed
    │   ├── ContributionInvalidError  a device's measurement does not fit the task
    │   ├── ReportMalformedError      an uploaded report is not the encoding: reject it
    │   ├── AggregatorError           the other party refused a request or is unreachable
    │   ├── BatchTooSmallError        a batch below the minimum size is never released
    │   ├── BatchCollectedError       a batch is released at most once
    │   ├── HpkeConfigError           an aggregator's public key config is malformed
    │   ├── HpkeKeyError              an aggregator's key file is missing, bad or exposed
    │   ├── NoiseParameterError       privacy parameters no noise can meet
    │   └── HpkeDecryptError          a ciphertext does not open: reject the report
    └── CatalogError                  the client's catalog
        ├── CatalogNotInstalledError  nothing synced yet
        ├── CatalogCorruptError       installed files are damaged
        ├── CatalogBusyError          another process is syncing
        ├── NoTrustedRootError        first sync without ``--root``
        ├── SourceUnavailableError    offline, wrong URL, missing folder
        └── CatalogRejectedError      an update failed verification;
            │                         the previous catalog stays in use
            ├── CatalogSignatureError     metadata not signed by trusted keys
            ├── CatalogTamperedError      a file's bytes do not match
            │   └── CatalogMetadataTamperedError
            │                                 a metadata file's bytes do not
            │                                 match (altered or corrupted)
            ├── CatalogRollbackError      metadata older than what we trust
            ├── CatalogExpiredError       expired metadata (freeze attack)
            ├── CatalogMixAndMatchError   metadata from different releases
            ├── CatalogOversizedError     more bytes than declared (endless data)
            └── CatalogInvalidError       signed, but the content is malformed

Every message is one line that says what was wrong and what to do. Messages
never contain personal data such as an item id from a user's history.
"""

from __future__ import annotations

__all__ = [
    "AggregatorError",
    "BatchCollectedError",
    "BatchTooSmallError",
    "BudgetExhaustedError",
    "CatalogBusyError",
    "CatalogCorruptError",
    "CatalogError",
    "CatalogExpiredError",
    "CatalogInvalidError",
    "CatalogMetadataTamperedError",
    "CatalogMixAndMatchError",
    "CatalogNameInvalidError",
    "CatalogNotInstalledError",
    "CatalogOversizedError",
    "CatalogRejectedError",
    "CatalogRollbackError",
    "CatalogSignatureError",
    "CatalogTamperedError",
    "ClusterUnavailableError",
    "ConsentRequiredError",
    "ContributionInvalidError",
    "CorruptSettingsError",
    "CorruptStoreError",
    "DiscreetError",
    "EngineClosedError",
    "EstimateUnavailableError",
    "FilterInvalidError",
    "HpkeConfigError",
    "HpkeDecryptError",
    "HpkeKeyError",
    "InputError",
    "InsufficientSpaceError",
    "ItemsInvalidError",
    "KeyRequiredError",
    "KeySourceError",
    "MissingDependencyError",
    "NoTrustedRootError",
    "NoiseParameterError",
    "NoticesInvalidError",
    "PopularityInvalidError",
    "ReportMalformedError",
    "ReportingError",
    "RepositoryBusyError",
    "RepositoryError",
    "RepositoryExistsError",
    "RepositoryNotFoundError",
    "SecureAggregationError",
    "ServiceAddressError",
    "SessionModeError",
    "SourceUnavailableError",
    "StoreError",
    "StoreExistsError",
    "StoreLockedError",
    "StoreNotFoundError",
    "StoreReadOnlyError",
    "TaskInvalidError",
    "TaxonomyInvalidError",
    "UnknownCategoryError",
    "UnknownEventKindError",
    "UnknownItemError",
    "UnsupportedFormatError",
    "WrongKeyError",
]


class DiscreetError(Exception):
    """Base class of every error discreet raises on purpose."""


class UnsupportedFormatError(DiscreetError):
    """A file or record carries a format version newer than this code reads."""


class InsufficientSpaceError(DiscreetError):
    """The disk filled up during a write; the previous state is intact."""


class MissingDependencyError(DiscreetError):
    """A feature needs an optional extra that is not installed; the message says which."""


class ClusterUnavailableError(DiscreetError):
    """``--dask`` names a scheduler that cannot be reached, or a local cluster failed to start."""


class ServiceAddressError(DiscreetError):
    """``discreet serve`` cannot listen on the host and port given (in use, or not ours)."""


class ServiceConfigError(DiscreetError):
    """A ``serve`` setting from a ``DISCREET_SERVE_*`` variable or the config file is wrong."""


class BackupError(DiscreetError):
    """``discreet serve backup`` could not copy or check the database; ``DEST`` is unchanged."""


class InputError(DiscreetError):
    """The publisher's input is invalid; nothing was published.

    ``problems`` lists every problem found, each naming file, line and field.
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = problems or (message,)


class ItemsInvalidError(InputError):
    """The items file has an invalid record, field or encoding."""


class TaxonomyInvalidError(InputError):
    """The taxonomy file is malformed or inconsistent."""


class PopularityInvalidError(InputError):
    """The popularity priors file is malformed."""


class NoticesInvalidError(InputError):
    """The notices file is malformed."""


class CatalogNameInvalidError(InputError):
    """``publish build --name`` is not a catalog name devices accept; nothing was written."""


class RepositoryError(DiscreetError):
    """The publisher's TUF repository cannot be used as asked."""


class RepositoryExistsError(RepositoryError):
    """``publish init`` was pointed at a folder that already holds a repository."""


class RepositoryNotFoundError(RepositoryError):
    """No repository, or no signing key for a role, at the given path."""


class RootPassphraseError(RepositoryError):
    """The encrypted root signing key did not open with the passphrase given."""


class RepositoryBusyError(RepositoryError):
    """Another process holds the repository's publishing lock."""


class StoreError(DiscreetError):
    """The encrypted profile store cannot be used as asked."""


class WrongKeyError(StoreError):
    """The passphrase or key does not open the profile."""


class CorruptStoreError(StoreError):
    """The profile failed authentication, is truncated, or has a bad header.

    The damaged file is set aside (never deleted); ``set_aside`` names it and
    ``backup`` names the previous generation that can be restored, if any.
    """

    def __init__(self, message: str, set_aside: str | None = None, backup: str | None = None):
        super().__init__(message)
        self.set_aside = set_aside
        self.backup = backup


class CorruptSettingsError(StoreError):
    """The profile's settings (``config.json``) and their copy are damaged.

    The encrypted profile itself is untouched; only the file that says how it
    is protected has to be put back.
    """


class StoreLockedError(StoreError):
    """Another process holds the profile open for writing."""


class StoreReadOnlyError(StoreError):
    """The profile folder is read-only: the profile can be read, but nothing saved."""


class StoreExistsError(StoreError):
    """A profile already exists where a new one was to be created."""


class StoreNotFoundError(StoreError):
    """There is no profile yet."""


class KeySourceError(StoreError):
    """The key source is unusable: unreadable key file, missing keyring entry, empty passphrase."""


class KeyRequiredError(StoreError):
    """The profile is protected by a passphrase and none was given."""


class EngineClosedError(DiscreetError):
    """The Engine was closed, or its profile erased: open a new one."""


class SessionModeError(DiscreetError):
    """A call that needs a kiosk session was made on a stored profile, or the reverse."""


class ReportingError(DiscreetError):
    """Private reports cannot be made as asked."""


class ConsentRequiredError(ReportingError):
    """Reporting is off, or the catalog's parameters differ from those consented to."""


class BudgetExhaustedError(ReportingError):
    """Another report would spend more privacy budget than the period allows."""


class EstimateUnavailableError(ReportingError):
    """Too few reports to publish an estimate (below the minimum-count threshold)."""


class SecureAggregationError(DiscreetError):
    """The secure-aggregation protocol between a device and the two aggregators failed."""


class TaskInvalidError(SecureAggregationError):
    """A task definition or secrets file is malformed, impossible or readable by others."""


class ContributionInvalidError(SecureAggregationError):
    """A device's measurement does not fit the task (length, weight, values)."""


class ReportMalformedError(SecureAggregationError):
    """An uploaded report, or a share in it, is not the encoding the task prescribes."""


class AggregatorError(SecureAggregationError):
    """The leader, the helper or the collector refused a request, or could not be reached."""


class BatchTooSmallError(SecureAggregationError):
    """A batch has fewer valid reports than the task's minimum batch size."""


class BatchCollectedError(SecureAggregationError):
    """The batch was already released; it is never released twice."""


class HpkeConfigError(SecureAggregationError):
    """An aggregator's HPKE public key config is malformed or names another suite."""


class HpkeKeyError(SecureAggregationError):
    """An aggregator's key file is missing, malformed, or readable by others."""


class NoiseParameterError(SecureAggregationError):
    """Privacy parameters (ε, δ, a sensitivity) out of range, or noise the sampler cannot draw."""


class HpkeDecryptError(SecureAggregationError):
    """A ciphertext that does not open with this aggregator's key: reject the report."""


class UnknownItemError(DiscreetError, KeyError):
    """The item is not in the installed catalog (the message never repeats the id).

    Also a ``KeyError``, as a look-up by id that finds nothing.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownCategoryError(DiscreetError):
    """The category is not in the installed catalog's taxonomy."""


class UnknownEventKindError(DiscreetError):
    """An event kind that is not one of :class:`~discreet.profile.model.EventKind`."""


class FilterInvalidError(DiscreetError):
    """A recommendation filter of the wrong type (a string for a date) or out of range."""


class CatalogError(DiscreetError):
    """The client's catalog cannot be used or updated."""


class CatalogNotInstalledError(CatalogError):
    """No catalog has been installed yet."""


class CatalogCorruptError(CatalogError):
    """The installed catalog's files are damaged or inconsistent."""


class CatalogBusyError(CatalogError):
    """Another process is syncing the catalog in the same home folder."""


class NoTrustedRootError(CatalogError):
    """The first sync needs a trusted root metadata file."""


class SourceUnavailableError(CatalogError):
    """The catalog source could not be reached; the installed catalog stays."""


class CatalogRejectedError(CatalogError):
    """An update failed verification; the previous catalog stays in use."""


class CatalogSignatureError(CatalogRejectedError):
    """Metadata is not signed by the keys the client trusts."""


class CatalogTamperedError(CatalogRejectedError):
    """A catalog file does not match the length and hash that were signed."""


class CatalogMetadataTamperedError(CatalogTamperedError):
    """A metadata file does not match the length and hash signed for it, or its own signature.

    It was altered after signing or corrupted in transit; a validly signed file
    from another release is :class:`CatalogMixAndMatchError` instead.
    """


class CatalogRollbackError(CatalogRejectedError):
    """The source offers metadata older than the client already trusts."""


class CatalogExpiredError(CatalogRejectedError):
    """The source offers expired metadata, as in a freeze attack."""


class CatalogMixAndMatchError(CatalogRejectedError):
    """Metadata files do not belong to the same release."""


class CatalogOversizedError(CatalogRejectedError):
    """The source sent more bytes than declared or allowed (endless data)."""


class CatalogInvalidError(CatalogRejectedError):
    """The catalog verified but its content is malformed or hostile."""
