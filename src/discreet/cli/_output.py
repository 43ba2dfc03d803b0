"""How the CLI talks: one JSON document with ``--json``, plain text otherwise.

Text lines hold what catalogs, profiles and users wrote, so every one goes
through :func:`~discreet.catalog.text.printable` (re-exported here): a title
cannot clear the screen, set the window title or write the clipboard. Colour is
added after escaping, by :class:`Styled`. JSON is exact and UTF-8 ("ñ"), with every
control character escaped (:func:`~discreet.catalog.text.json_text`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from discreet._fs import atomic_write_bytes, canonical_json
from discreet.catalog.text import json_text, printable
from discreet.i18n import _, pick

__all__ = [
    "StageProgress",
    "Styled",
    "colour_enabled",
    "emit",
    "emit_estimates",
    "notice_lines",
    "paint",
    "printable",
]


@dataclass(frozen=True)
class Styled:
    """A text line to print in ``style`` (see :func:`paint`), escaped like any other."""

    text: str
    style: str


def emit(args: Any, document: Mapping[str, Any], text: Iterable[str | Styled]) -> None:
    """Print ``document`` as JSON if ``--json`` was given, else the ``text`` lines, escaped."""
    if getattr(args, "json", False):
        sys.stdout.write(json_text(document) + "\n")
    else:
        for line in text:
            if isinstance(line, Styled):
                sys.stdout.write(paint(printable(line.text), line.style) + "\n")
            else:
                sys.stdout.write(printable(line) + "\n")


def emit_estimates(args: Any, document: Mapping[str, Any], header: str) -> None:
    """Write an estimates document to ``--out`` (if given) and print its top ten."""
    if args.out:
        atomic_write_bytes(Path(args.out), canonical_json(document))
    ranked = sorted(document["estimates"].items(), key=lambda kv: -kv[1]["estimate"])[:10]
    lines = [
        _("{header}; top estimates:").format(header=header),
        *(f"  {label:<30} {e['estimate']:>10.1f} ± {e['stderr']:.1f}" for label, e in ranked),
    ]
    if args.out:
        lines.append(
            _("written to {out}; use it with 'publish build --popularity {out}'").format(
                out=args.out
            )
        )
    emit(args, document, lines)


def colour_enabled(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


_STYLES = {"bold": "1", "red": "31", "yellow": "33", "green": "32"}


def paint(text: str, style: str, stream: TextIO | None = None) -> str:
    """``text`` in ``style`` when the stream shows colour, else unchanged."""
    if not colour_enabled(stream or sys.stdout):
        return text
    return f"\033[{_STYLES[style]}m{text}\033[0m"


def notice_lines(notices: Iterable[Mapping[str, Any]]) -> list[str | Styled]:
    """Signed notices from the publisher, one block each, the body indented line by line,
    in the user's language when the publisher gave one."""
    lines: list[str | Styled] = []
    for n in notices:
        style = "yellow" if n["severity"] != "info" else "bold"
        lines.append(
            Styled(
                _("NOTICE [{severity}] {date} {title}").format(
                    severity=n["severity"], date=n["date"], title=pick(n["title"])
                ),
                style,
            )
        )
        lines.extend(f"  {line}" for line in pick(n["body"]).split("\n"))
    return lines


class StageProgress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, stream: TextIO | None = None, width: int = 24) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = self.stream.isatty() and os.environ.get("TERM") != "dumb"

    def __call__(self, step: int, total: int, what: str) -> None:
        if not self.enabled:
            return
        filled = round(self.width * (step - 1) / total)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {step}/{total} {printable(what):<40.40}")
        self.stream.flush()

    def done(self) -> None:
        """Clear the bar."""
        if self.enabled:
            self.stream.write("\r" + " " * (self.width + 50) + "\r")
            self.stream.flush()
