"""``discreet kiosk``: a terminal session that keeps nothing.

The profile lives in a :class:`~discreet.store.memory.MemoryStore`: nothing is
written to disk, and the session is wiped after an idle period, on "forget"
and when it ends. Commands (one per line)::

    like N | dislike N | why N | more | interests | forget | help | quit
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from discreet.catalog.text import printable
from discreet.engine import Engine
from discreet.errors import CatalogNotInstalledError
from discreet.i18n import N_, _, current, use
from discreet.rank.records import Recommendation
from discreet.sync.installed import InstalledCatalogs

HELP = N_("commands: like N, dislike N, why N, more, interests, forget, help, quit")


def escaped(say: Callable[[str], None]) -> Callable[[str], None]:
    """``say``, with every line escaped by the CLI's one display rule first.

    The kiosk shows catalog titles and labels on a public terminal; none of
    them may steer it (:func:`~discreet.catalog.text.printable`).
    """

    def say_printable(line: str) -> None:
        say(printable(line))

    return say_printable


class KioskSession:
    """The command loop, independent of where lines come from and go to."""

    def __init__(
        self,
        engine: Engine,
        say: Callable[[str], None],
        page: int = 5,
        *,
        clear: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.say = escaped(say)
        self.page = page
        self.shown: list[Recommendation] = []
        self.count = page
        self._clear = clear
        self._forgetting = False

    def wiped(self) -> None:
        """The idle wipe happened: clear the screen, so that the previous visitor's list is
        gone, and forget what the numbers pointed at.

        Called from the idle timer's thread, holding the store's lock: it touches
        neither the engine nor a lock of its own, and the timer fires only when no
        command has run for the whole idle period.
        """
        if self._forgetting:
            return  # 'forget' says so itself
        self.shown = []
        self.count = 0  # 'more' shows the first page
        self._clear()
        self.say(_("the previous session was wiped after a while without input;"))
        self.say(_("nothing of it was kept. Type 'more' for recommendations, or 'help'."))

    def show(self) -> None:
        """Print the current recommendations."""
        self.shown = self.engine.recommend(self.count)
        self.say("")
        for position, rec in enumerate(self.shown, start=1):
            first = rec.reasons[0].text if rec.reasons else ""
            self.say(f"{position:>2}. {rec.title}  — {first}")

    def _pick(self, argument: str) -> Recommendation | None:
        if argument.isdigit() and 1 <= int(argument) <= len(self.shown):
            return self.shown[int(argument) - 1]
        if not self.shown:
            self.say(_("nothing is on the screen yet; type 'more' for recommendations"))
            return None
        self.say(_("choose a number from 1 to {n_shown}").format(n_shown=len(self.shown)))
        return None

    def handle(self, line: str) -> bool:
        """Run one command; return False to end the session."""
        command, _sep, argument = line.strip().partition(" ")
        command = command.lower()
        if command in ("quit", "exit", "q"):
            return False
        if command in ("like", "dislike"):
            picked = self._pick(argument.strip())
            if picked is not None:
                kept = self.engine.record(picked.item_id, command)
                self.say(
                    (_("liked {title}") if command == "like" else _("disliked {title}")).format(
                        title=picked.title
                    )
                    + ("" if kept else _(" (not kept: sensitive topic)"))
                )
                self.show()
        elif command == "why":
            picked = self._pick(argument.strip())
            if picked is not None:
                why = self.engine.explain(picked.item_id)
                self.say(
                    _("{title}: rank {rank}, score {score:.2f}").format(
                        title=why.title, rank=why.rank, score=why.score
                    )
                )
                for reason in why.reasons:
                    self.say(f"  - {reason.text}")
        elif command == "more":
            self.count += self.page
            self.show()
        elif command == "interests":
            for interest in self.engine.interests()[:5]:
                if interest.weight:
                    self.say(f"  {interest.label}: {interest.weight:.1f}")
        elif command == "forget":
            self._forgetting = True
            try:
                self.engine.erase_session()
            finally:
                self._forgetting = False
            self.count = self.page
            self.say(_("forgotten: this session kept nothing, and now holds nothing"))
            self.show()
        elif command in ("help", "?", ""):
            self.say(_(HELP))
        else:
            self.say(_("unknown command {command!r}; {HELP}").format(command=command, HELP=_(HELP)))
        return True


def run_kiosk(
    home: Path,
    lines: Iterable[str],
    say: Callable[[str], None],
    *,
    idle_seconds: float = 300.0,
    clear: Callable[[], None] = lambda: None,
) -> None:
    """Run a kiosk session over the catalog installed in ``home``; every line is escaped.

    ``clear`` clears the screen (on a terminal): after an idle wipe, nothing of the
    previous visitor's session stays on it.
    """
    show = escaped(say)  # KioskSession escapes its own lines
    if InstalledCatalogs(home).current() is None:
        raise CatalogNotInstalledError(
            _("no catalog installed here; run 'discreet sync' first, or 'discreet kiosk --demo'")
        )
    sessions: list[KioskSession] = []
    language = current()  # the idle timer's thread does not inherit the caller's --lang

    def wiped() -> None:
        with use(language):
            for session in sessions:
                session.wiped()

    with Engine.open(home, kiosk=True, idle_seconds=idle_seconds, on_wipe=wiped) as engine:
        catalog = engine.catalog
        show(
            _("{name} — {n_catalog} items. Nothing you do here is stored;").format(
                name=catalog.manifest.name, n_catalog=len(catalog)
            )
        )
        show(
            _(
                "the session is forgotten after {idle_seconds:g} s idle, on "
                "'forget', and at the end."
            ).format(idle_seconds=idle_seconds)
        )
        show(_(HELP))
        session = KioskSession(engine, say, clear=clear)
        sessions.append(session)
        session.show()
        try:
            for line in lines:
                if not session.handle(line):
                    break
        finally:
            sessions.clear()  # closing wipes too: the line below says so
    show(_("session ended; nothing was kept"))
