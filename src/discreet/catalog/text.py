"""Which characters catalog text may hold, and how any text is shown on a terminal.

Everything in a catalog reaches a terminal: titles, category labels and notices
are printed by ``sync``, ``recommend``, ``catalog info`` and the kiosk. Some
characters are not text but commands to the terminal: ESC starts the sequences
that clear the screen, set the window title, write the clipboard (OSC 52) or
draw links (OSC 8); CR and LF start lines that can pose as the app's own; U+009B
is an 8-bit CSI; bidirectional overrides reorder what is shown. One rule
(:func:`unsafe_character`) refuses them at build (the publisher) and at
verification (the device); :func:`printable` escapes them on display, for text
that came from anywhere else.
"""

from __future__ import annotations

import re

#: C0 controls and DEL, C1 controls, line and paragraph separators, bidirectional
#: embeddings, overrides and isolates, and lone surrogates (which cannot be encoded).
_OTHERS = "\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_SINGLE_LINE = re.compile(f"[\x00-\x1f{_OTHERS}]")
#: Long texts (descriptions, notice bodies) may also hold line breaks and tabs.
_MULTI_LINE = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHERS}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def unsafe_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character of ``text`` that steers a terminal, as ``U+001B``, or ``None``.

    With ``multiline``, ``\\n`` and ``\\t`` are allowed.

    >>> unsafe_character("Winter Soups")
    >>> unsafe_character("Soups\\x1b]52;c;cm0gLXJm\\x07")
    'U+001B'
    """
    found = (_MULTI_LINE if multiline else _SINGLE_LINE).search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def control_problem(text: str, *, multiline: bool = False) -> str | None:
    """What is wrong with ``text`` under :func:`unsafe_character`'s rule, or ``None``."""
    found = unsafe_character(text, multiline=multiline)
    return None if found is None else f"contains a control character ({found})"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every character :func:`unsafe_character` refuses written as an escape.

    The one function every line the CLI and the kiosk print goes through, so
    that even text no check has seen cannot steer the terminal.

    >>> printable("Soups\\x1b[2J\\nNOTICE")
    'Soups\\\\x1b[2J\\\\nNOTICE'
    """
    return _SINGLE_LINE.sub(_escape, text)
