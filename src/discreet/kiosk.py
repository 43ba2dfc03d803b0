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
from discreet.i18n import N_, _
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

    def __init__(self, engine: Engine, say: Callable[[str], None], page: int = 5) -> None:
        self.engine = engine
        self.say = escaped(say)
        self.page = page
        self.shown: list[Recommendation] = []
        self.count = page

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
        self.say(_("choose a number from 1 to {n_shown}").format(n_shown=len(self.shown)))
        return None

    def handle(self, line: str) -> bool:
        """Run one command; return False to end the session."""
        command, argument = line.strip().partition(" ")[::2]
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
            self.engine.erase_session()
            self.count = self.page
            self.say(_("forgotten: this session kept nothing, and now holds nothing"))
            self.show()
        elif command in ("help", "?", ""):
            self.say(_(HELP))
        else:
            self.say(_("unknown command {command!r}; {HELP}").format(command=command, HELP=_(HELP)))
        return True


def run_kiosk(
    home: Path, lines: Iterable[str], say: Callable[[str], None], *, idle_seconds: float = 300.0
) -> None:
    """Run a kiosk session over the catalog installed in ``home``; every line is escaped."""
    show = escaped(say)  # KioskSession escapes its own lines
    if InstalledCatalogs(home).current() is None:
        raise CatalogNotInstalledError(
            _("no catalog installed here; run 'discreet sync' first, or 'discreet kiosk --demo'")
        )
    with Engine.open(home, kiosk=True, idle_seconds=idle_seconds) as engine:
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
        session = KioskSession(engine, say)
        session.show()
        for line in lines:
            if not session.handle(line):
                break
    show(_("session ended; nothing was kept"))
