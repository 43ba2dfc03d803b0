"""``Engine``: the one object an app embeds.

>>> engine = Engine.open(key=PassphraseKey(passphrase))  # doctest: +SKIP
>>> engine.sync("https://recs.example", root="root.json")  # doctest: +SKIP
>>> engine.record("lb-0042", "like")  # doctest: +SKIP
>>> for rec in engine.recommend(k=10):  # doctest: +SKIP
...     print(rec.title, [r.text for r in rec.reasons])

It is safe to use from one UI thread and one background sync thread at the
same time: profile operations hold one lock, and a sync swaps in the new
catalog atomically once it is installed.

The engine reads the date only through its ``today`` callable (the system
date by default), so an app or a test can inject the clock.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from discreet._closing import Closable
from discreet.errors import (
    ConsentRequiredError,
    EngineClosedError,
    FilterInvalidError,
    KeyRequiredError,
    SessionModeError,
    UnknownCategoryError,
    UnknownEventKindError,
    UnknownItemError,
)
from discreet.home import DEFAULT_APP_NAME, resolve_home
from discreet.i18n import _, use
from discreet.profile.export import ProfileExport
from discreet.profile.model import Event, EventKind, LedgerEntry, Profile, RetentionPolicy
from discreet.profile.session import ProfileConfig, ProfileHome, ProfileSession
from discreet.store.encrypted import EncryptedStore
from discreet.sync.installed import InstalledCatalogs

if TYPE_CHECKING:
    import numpy as np

    from discreet.catalog.reader import Catalog
    from discreet.profile.contribution import ContributionPreview
    from discreet.profile.reports import Preview
    from discreet.protocol.params import ReportingParams
    from discreet.rank.explanation import Explanation
    from discreet.rank.ranker import Ranker
    from discreet.rank.records import Interest, Recommendation
    from discreet.rank.weights import RankingWeights
    from discreet.store.keys import KeySource
    from discreet.sync.client import SyncResult
    from discreet.sync.reports import SendResult

_EVENT_KINDS = tuple(k.value for k in EventKind)

# Ranking (numpy), syncing (TUF) and reporting are imported where they are first
# used, so that importing the engine or opening a profile stays cheap for an app.

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _speaking(
    method: Callable[Concatenate[Engine, _P], _R],
) -> Callable[Concatenate[Engine, _P], _R]:
    """Run an Engine method in the Engine's language (reasons, explanations, errors)."""

    @functools.wraps(method)
    def in_locale(self: Engine, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with use(self.locale):
            return method(self, *args, **kwargs)

    return in_locale


class Engine(Closable):
    """Personal recommendations over a verified catalog and a private, local profile."""

    def __init__(
        self,
        home: Path,
        session: ProfileSession,
        *,
        kiosk: bool = False,
        weights: RankingWeights | None = None,
        today: Callable[[], dt.date] = dt.date.today,
        locale: str | None = None,
    ) -> None:
        self.home = home
        self.kiosk = kiosk
        #: The language the engine speaks (``"es"``, ``"es-MX"``, ...); ``None``: the caller's.
        self.locale = locale
        #: The engine's clock: every date it records, ranks or reports with comes from here.
        self.today = today
        self._session = session
        self._weights = weights
        self._installed = InstalledCatalogs(home)
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()
        self._ranker: Ranker | None = None
        self._closed = False

    def _live(self) -> ProfileSession:
        """The open session; :class:`EngineClosedError` once closed or erased."""
        if self._closed:
            raise EngineClosedError(
                _("this engine was closed or its profile erased; open a new one with Engine.open")
            )
        return self._session

    @classmethod
    def open(
        cls,
        home: str | Path | None = None,
        app_name: str = DEFAULT_APP_NAME,
        key: KeySource | None = None,
        *,
        kiosk: bool = False,
        idle_seconds: float | None = 300.0,
        weights: RankingWeights | None = None,
        today: Callable[[], dt.date] = dt.date.today,
        on_wipe: Callable[[], None] | None = None,
        locale: str | None = None,
    ) -> Engine:
        """Open the engine of ``home`` (default: the platform's data folder for ``app_name``).

        In kiosk mode the profile lives in memory only and is wiped after
        ``idle_seconds`` (then ``on_wipe`` is called, perhaps from a timer's
        thread, so that the screen can be cleared); otherwise ``key`` opens the
        encrypted profile. A profile protected by a key file or the OS keyring
        opens without ``key``: its settings say where the key is. ``today`` is
        the clock the engine reads dates from. ``locale`` is the language its
        reasons, explanations and errors are in (default: the environment's, see
        :mod:`discreet.i18n`). A profile can be open in one Engine at a time: a
        second :meth:`open` raises :class:`StoreLockedError`.
        """
        with use(locale):
            folder = resolve_home(home, app_name)
            if kiosk:
                session = ProfileSession.kiosk(
                    today(), idle_seconds, calendar=today, on_wipe=on_wipe
                )
            else:
                profiles = ProfileHome(folder)
                if key is None:
                    key = profiles.config().configured_key()  # StoreNotFoundError before init
                if key is None:
                    raise KeyRequiredError(
                        _("this profile is protected by a passphrase: pass key=PassphraseKey(...)")
                    )
                session = profiles.open(key)
            return cls(folder, session, kiosk=kiosk, weights=weights, today=today, locale=locale)

    @classmethod
    def create(
        cls,
        home: str | Path | None = None,
        app_name: str = DEFAULT_APP_NAME,
        *,
        key: KeySource,
        retention: RetentionPolicy | None = None,
        weights: RankingWeights | None = None,
        today: Callable[[], dt.date] = dt.date.today,
        locale: str | None = None,
    ) -> Engine:
        """Create the encrypted profile of ``home`` under ``key`` and open the engine on it.

        >>> engine = Engine.create("app-home", key=KeyringKey.fresh("my-app"))  # doctest: +SKIP

        The settings record which kind of key protects it (a key file's path, a
        keyring entry's name), so that a later :meth:`open` finds a key file or
        keyring key by itself. Raises :class:`~discreet.errors.StoreExistsError`
        if ``home`` already has a profile. ``locale`` is as for :meth:`open`.
        """
        from discreet.store.keys import KeyFileKey, KeySource

        with use(locale):
            if not isinstance(key, KeySource):
                raise KeyRequiredError(
                    _(
                        "Engine.create needs key=PassphraseKey(...), KeyFileKey(...) "
                        "or KeyringKey(...)"
                    )
                )
            folder = resolve_home(home, app_name)
            keyfile = str(key.path.resolve()) if isinstance(key, KeyFileKey) else None
            config = ProfileConfig("standard", key.kind, keyfile, retention or RetentionPolicy())
            session = ProfileHome(folder).create(key, config, today())
            assert session is not None  # only a kiosk home is created without a session
            return cls(folder, session, weights=weights, today=today, locale=locale)

    # ---- catalog ---------------------------------------------------------------------
    @property
    @_speaking
    def catalog(self) -> Catalog:
        """The installed catalog in use."""
        return self._current_ranker().catalog

    def _current_ranker(self) -> Ranker:
        with self._lock:
            if self._ranker is None:
                from discreet.rank.ranker import Ranker

                self._ranker = Ranker(self._installed.open(), self._weights)
            return self._ranker

    @_speaking
    def sync(
        self, source: str | None = None, *, root: str | Path | None = None, timeout: int = 30
    ) -> SyncResult:
        """Fetch, verify and install the newest catalog (safe from a background thread)."""
        from discreet.catalog.reader import Catalog
        from discreet.rank.ranker import Ranker
        from discreet.sync.client import sync_catalog

        with self._sync_lock:
            target = source or self._installed.current_source()
            result = sync_catalog(self.home, target, root=root, timeout=timeout)
        if result.updated:
            ranker = Ranker(Catalog.open(result.folder), self._weights)
            with self._lock:
                self._ranker = ranker
        return result

    # ---- profile -----------------------------------------------------------------------
    @_speaking
    def record(
        self, item_id: str, kind: EventKind | str, day: dt.date | None = None
    ) -> Event | None:
        """Record an event; ``None`` means it was deliberately not kept (paused, sensitive).

        ``day`` defaults to the engine's ``today``; a later day is recorded as today.
        """
        if kind not in _EVENT_KINDS:
            raise UnknownEventKindError(
                _("an event kind is one of: {kinds}").format(kinds=", ".join(_EVENT_KINDS))
            )
        if day is not None and not isinstance(day, dt.date):
            raise FilterInvalidError(_("day must be a datetime.date, e.g. date(2024, 5, 31)"))
        catalog = self.catalog
        with self._lock:
            event = self._live().record(catalog, item_id, kind, self.today(), day=day)
            if event is not None:
                self._live().save()
            return event

    @_speaking
    def recommend(
        self,
        k: int = 10,
        *,
        category: str | None = None,
        language: str | None = None,
        created_after: dt.date | None = None,
        created_before: dt.date | None = None,
        diversity: float | None = None,
        explain: bool = True,
    ) -> list[Recommendation]:
        """The top ``k`` items, each with the reasons it is there.

        ``language`` matches a tag and its subtags (``es`` keeps ``es-MX``, BCP 47).
        Raises :class:`FilterInvalidError` for ``k`` below 1 or a date that is not a
        :class:`datetime.date`, and :class:`UnknownCategoryError` for a category the
        catalog does not have.
        """
        from discreet.rank.records import Filters

        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise FilterInvalidError(_("k is how many results to return: a whole number from 1"))
        for name, value in (("created_after", created_after), ("created_before", created_before)):
            if value is not None and not isinstance(value, dt.date):
                raise FilterInvalidError(
                    _("{name} must be a datetime.date, e.g. date(2024, 5, 31)").format(name=name)
                )
        if language is not None and not isinstance(language, str):
            raise FilterInvalidError(_("language is a tag such as 'es' or 'pt-BR'"))
        ranker = self._current_ranker()
        categories = (self._category(category),) if category is not None else ()
        filters = Filters(categories, language, created_after, created_before)
        with self._lock:
            self._live().touch()
            return ranker.recommend(
                self._live().profile,
                k,
                filters=filters,
                diversity=diversity,
                explain=explain,
                today=self.today(),
            )

    @_speaking
    def explain(self, item_id: str) -> Explanation:
        """Why ``item_id`` ranks where it does (or why it is left out)."""
        ranker = self._current_ranker()
        with self._lock:
            self._live().touch()
            try:
                return ranker.explain(self._live().profile, item_id, today=self.today())
            except KeyError:
                raise UnknownItemError(
                    _("that item is not in the installed catalog; check the id or sync")
                ) from None

    @_speaking
    def interests(self) -> list[Interest]:
        """What the profile infers, per category, with the mute and sensitivity flags."""
        ranker = self._current_ranker()
        with self._lock:
            self._live().touch()
            return ranker.interests(self._live().profile, self.today())

    def _category(self, category: str) -> str:
        """``category`` as an id: a category id, or a label the taxonomy gives one (in any
        of its languages)."""
        taxonomy = self.catalog.taxonomy
        if category in taxonomy:
            return category
        wanted = category.casefold()
        by_label = [
            c.id
            for c in taxonomy.categories
            if wanted in {text.casefold() for text in (c.label, *dict(c.labels).values())}
        ]
        if len(by_label) == 1:
            return by_label[0]
        raise UnknownCategoryError(
            _("no such category in the catalog; see 'discreet interests' for ids and labels")
        )

    @_speaking
    def mute(self, category: str) -> None:
        """Keep a category out of the profile and the results."""
        with self._lock:
            self._live().profile.muted.add(self._category(category))
            self._live().save()

    @_speaking
    def unmute(self, category: str) -> None:
        """Undo :meth:`mute`."""
        with self._lock:
            self._live().profile.muted.discard(self._category(category))
            self._live().save()

    @_speaking
    def opt_in(self, category: str) -> None:
        """Allow a sensitive category into the profile (never into reports)."""
        with self._lock:
            self._live().profile.sensitive_opt_in.add(self._category(category))
            self._live().save()

    @_speaking
    def opt_out(self, category: str) -> None:
        """Withdraw :meth:`opt_in`; events already kept in that category are dropped."""
        catalog = self.catalog
        with self._lock:
            profile = self._live().profile
            profile.sensitive_opt_in.discard(self._category(category))
            kept = []
            for event in profile.events:
                try:
                    categories = catalog.item(event.item).categories
                except KeyError:
                    kept.append(event)  # not in this catalog: nothing to judge it by
                    continue
                if profile.admits(categories, catalog.taxonomy):
                    kept.append(event)
            profile.events = kept
            self._live().save()

    @property
    @_speaking
    def paused(self) -> bool:
        """Whether personalisation is paused (nothing is recorded)."""
        with self._lock:
            return self._live().profile.paused

    @_speaking
    def pause(self, paused: bool = True) -> None:
        """Pause (or resume) personalisation: nothing is recorded while paused."""
        with self._lock:
            self._live().profile.paused = paused
            self._live().save()

    # ---- private reports ---------------------------------------------------------------
    @_speaking
    def reporting_parameters(self) -> ReportingParams:
        """The reporting parameters the installed catalog asks devices to use."""
        return self.catalog.manifest.reporting

    @property
    @_speaking
    def reporting_mode(self) -> str:
        """``"ldp"`` or ``"secure-aggregation"``, as the installed catalog's manifest says."""
        return self.catalog.manifest.reporting_mode

    @_speaking
    def reporting_terms(self) -> list[str]:
        """The installed catalog's reporting parameters in words, to show before consent."""
        section = self.catalog.manifest.secure_aggregation
        if section is not None:
            from discreet.profile.contribution import describe_contribution

            return describe_contribution(section)
        from discreet.profile.reports import describe_parameters

        return describe_parameters(self.reporting_parameters())

    @_speaking
    def consent_terms(self) -> dict[str, Any] | None:
        """What consent binds for the installed catalog (``None``: it asks for no reports):
        the LDP reporting parameters, or the secure-aggregation mode's task and aggregators."""
        section = self.catalog.manifest.secure_aggregation
        if section is not None:
            return section.consent_terms()
        params = self.reporting_parameters()
        return params.to_json() if params.enabled else None

    @_speaking
    def consent(self) -> str:
        """Opt in to reporting with exactly the installed catalog's :meth:`consent_terms`.

        Returns the digest of the parameters consented to. Raises
        :class:`ConsentRequiredError` when the catalog asks for no reports.
        """
        terms = self.consent_terms()
        if terms is None:
            raise ConsentRequiredError(
                _("this catalog asks for no reports; there is nothing to consent to")
            )
        with self._lock:
            consent = self._live().profile.grant(terms, self.today())
            self._live().save()
            return consent.digest

    @_speaking
    def revoke_consent(self) -> int:
        """Opt out; unsent reports are dropped. Returns how many."""
        with self._lock:
            dropped = self._live().profile.revoke()
            self._live().save()
            return dropped

    @_speaking
    def preview_reports(self, rng: np.random.Generator | None = None) -> Preview:
        """This period's reports (made once, ledgered, queued): the exact bytes to be sent."""
        from discreet.profile.reports import prepare_reports

        catalog, params = self.catalog, self.reporting_parameters()
        if catalog.manifest.secure_aggregation is not None:
            raise ConsentRequiredError(
                _(
                    "this catalog asks for secure-aggregation contributions, not "
                    "LDP reports; see 'discreet report preview'"
                )
            )
        with self._lock:
            preview = prepare_reports(self._live().profile, catalog, params, self.today(), rng)
            self._live().save()
            return preview

    @_speaking
    def preview_contribution(self, rng: np.random.Generator | None = None) -> ContributionPreview:
        """This week's secure-aggregation contribution (made once, ledgered, queued): the
        exact bytes for the leader. Raises :class:`ConsentRequiredError` in the LDP mode."""
        from discreet.profile.contribution import prepare_contribution

        catalog = self.catalog
        section = catalog.manifest.secure_aggregation
        if section is None:
            raise ConsentRequiredError(
                _("this catalog asks for LDP reports, not secure-aggregation contributions")
            )
        with self._lock:
            preview = prepare_contribution(
                self._live().profile, catalog, section, self.today(), rng
            )
            self._live().save()
            return preview

    @_speaking
    def send_reports(self, url: str | None = None, *, max_delay: float = 30.0) -> SendResult:
        """Send the queued reports to ``url`` (default: where the installed catalog's manifest
        says reports go, else where the catalog came from).

        Each report goes alone, after its own random delay of up to
        ``max_delay`` seconds (see :mod:`discreet.sync.reports`), and the
        profile is saved after each one. The engine's other calls are not held
        up by the delays: meant for a background thread.
        """
        from discreet.sync.reports import send_reports

        target = url or self.catalog.manifest.reports_url or self._installed.current_source_url()
        return send_reports(
            lambda: self._live().profile,
            target,
            max_delay=max_delay,
            settled=lambda: self._live().save(),
            guard=self._lock,
        )

    @_speaking
    def send_contributions(self, *, max_delay: float = 30.0) -> SendResult:
        """Send the queued secure-aggregation contributions to the leader, each to the
        task URL stored when it was made (under the consent of that time), as
        :meth:`send_reports` sends reports: alone, after a random delay, on a fresh
        connection, saved after each. Sending needs consent to the installed catalog's
        section too, so that a user who withdrew it sends nothing."""
        from discreet.profile.contribution import require_consent
        from discreet.sync.reports import send_contributions

        section = self.catalog.manifest.secure_aggregation
        if section is None:
            raise ConsentRequiredError(
                _("this catalog asks for LDP reports, not secure-aggregation contributions")
            )
        with self._lock:  # a catalog naming other aggregators needs consent to them first
            require_consent(self._live().profile, section)
        return send_contributions(
            lambda: self._live().profile,
            section.leader_url(section.task),
            max_delay=max_delay,
            settled=lambda: self._live().save(),
            guard=self._lock,
        )

    @_speaking
    def queued_reports(self) -> int:
        """How many reports wait in the outbox to be sent."""
        with self._lock:
            return len(self._live().profile.outbox)

    @_speaking
    def ledger(self) -> list[LedgerEntry]:
        """Every report made, with its ε and status."""
        with self._lock:
            return list(self._live().profile.ledger)

    @_speaking
    def export(self) -> ProfileExport:
        """Everything kept (``.to_json()`` is the documented JSON document)."""
        with self._lock:
            return self._live().export(self.today())

    @_speaking
    def change_key(self, new: KeySource) -> None:
        """Rewrap the profile's data key under ``new`` (the history is not re-encrypted).

        Raises :class:`SessionModeError` for a kiosk session, which has no key.
        """
        store = self._live().store
        if not isinstance(store, EncryptedStore):
            raise SessionModeError(_("a kiosk session has no key to change"))
        with self._lock:
            store.rewrap(new)

    @_speaking
    def data_card(self) -> dict[str, Any]:
        """The data card (``discreet privacy``): what is kept, why, for how long, where."""
        if not self.kiosk:
            return ProfileHome(self.home).data_card()
        from discreet.profile.schema import data_card

        with self._lock:
            session = self._live()
            return data_card(session.profile.retention, session.store.describe())

    @_speaking
    def erase_session(self) -> None:
        """Kiosk "forget me": wipe the in-memory session now and start afresh."""
        if not self.kiosk:
            raise SessionModeError(_("only a kiosk session can be forgotten this way; use erase()"))
        with self._lock:
            session = self._live()
            kept = session.profile
            session.erase()  # the idle hook may already have started afresh
            session.profile = kept.forget_keeping_budget(self.today())

    @_speaking
    def erase(self) -> list[str]:
        """Destroy the profile and close the engine; return what was removed.

        Every copy goes: the files (crypto-shredded), the settings (so that a
        new profile can be created in the same folder) and the profile held in
        memory. Every later call raises :class:`EngineClosedError`.
        """
        with self._lock:
            session = self._live()
            self._closed = True
            try:
                removed = session.erase()
                if not self.kiosk:
                    removed += ProfileHome(self.home).remove_settings()
            finally:
                session.profile = Profile.new(self.today())  # nothing of the old one is kept
                session.close()
                self._ranker = None
            return removed

    @_speaking
    def close(self) -> None:
        """Release the profile (and wipe it, in kiosk mode); later calls raise."""
        with self._lock:
            self._closed = True
            self._session.profile = Profile.new(self._session.profile.created)
            self._session.close()
