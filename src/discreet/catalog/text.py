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

import json
import re
from collections.abc import Mapping
from typing import Any

from discreet.i18n import _

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
    return (
        None if found is None else _("contains a control character ({found})").format(found=found)
    )


#: A BCP 47 language tag as catalogs use them: ``es``, ``pt-BR``, ``zh-Hant``.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}", re.ASCII)
#: At most this many languages per text.
MAX_LANGUAGES = 16


def per_language_problem(texts: Mapping[Any, Any]) -> str | None:
    """What is wrong with a per-language text (``{"en": ..., "es": ...}``) as a whole, or
    ``None``; each text is then checked like a plain one.

    >>> per_language_problem({"en": "Crime", "es": "Novela negra"})
    >>> per_language_problem({})
    'must name at least one language'
    """
    if not texts:
        return _("must name at least one language")
    if len(texts) > MAX_LANGUAGES:
        return _("names more than {limit} languages").format(limit=MAX_LANGUAGES)
    for tag in texts:
        if not isinstance(tag, str) or not LANGUAGE_TAG.fullmatch(tag):
            return _("{tag!r} is not a language tag like 'es' or 'pt-BR'").format(tag=tag)
    return None


_BEYOND_C0 = re.compile(f"[{_OTHERS}]")


def json_text(document: Any) -> str:
    """``document`` as indented JSON in plain UTF-8 (``"ñ"``, not ``"\\u00f1"``).

    ``json.dumps`` escapes C0 controls itself; every other character
    :func:`unsafe_character` refuses is written as a ``\\uXXXX`` escape too, so
    the document stays exact and still cannot steer a terminal.

    >>> print(json_text(["Niño", "\\x9b"]))
    [
      "Niño",
      "\\u009b"
    ]
    """
    text = json.dumps(document, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    return _BEYOND_C0.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


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
