"""The user's language: English and Spanish, through gettext catalogs in the package.

Every user-facing sentence is written in English in the code, wrapped in
:func:`_` (or :func:`ngettext`; :func:`N_` marks a module-level constant that
is translated where it is shown). ``make messages`` extracts them with Babel
into ``locale/discreet.pot``, updates ``locale/es/LC_MESSAGES/discreet.po``
and compiles the ``.mo`` file that ships in the package.

The language is, first to last: the one a caller sets (``--lang``,
``Engine(locale=...)``, :func:`use`), then ``DISCREET_LANG``, ``LANGUAGE``,
``LC_ALL``, ``LC_MESSAGES`` and ``LANG``; a tag is matched by its primary
subtag (``es_ES.UTF-8`` and ``es-MX`` are Spanish), and anything else is
English. The service answers in the language of a request's ``Accept-Language``
(:func:`from_accept_language`). Machine-readable output (JSON keys, codes) never
changes with it; texts the publisher gives per language (category labels,
notices) are shown with :func:`pick`.

The catalogs are reproducible: ``make messages`` writes them without source
locations, sorted, with fixed header dates, and ``tests/test_translations.py``
fails when the code has a message the template lacks, a message has no Spanish
translation or different placeholders, or the ``.mo`` is older than the ``.po``.
"""

from __future__ import annotations

import contextlib
import contextvars
import gettext
import os
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

__all__ = [
    "DEFAULT",
    "N_",
    "SUPPORTED",
    "_",
    "current",
    "from_accept_language",
    "from_environment",
    "ngettext",
    "pick",
    "primary",
    "set_language",
    "use",
]

DOMAIN = "discreet"
LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT = "en"
SUPPORTED = ("en", "es")
_ENVIRONMENT = ("DISCREET_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_chosen: contextvars.ContextVar[str | None] = contextvars.ContextVar("discreet_lang", default=None)


def primary(tag: object) -> str | None:
    """The supported language a tag names, by its primary subtag, or ``None``.

    >>> primary("es_ES.UTF-8"), primary("es-MX"), primary("EN"), primary("C"), primary("pt")
    ('es', 'es', 'en', None, None)
    """
    if not isinstance(tag, str):
        return None
    head = tag.strip().replace("_", "-").split(".")[0].split("@")[0].split("-")[0].lower()
    return head if head in SUPPORTED else None


def from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The language the environment asks for (see the module docstring), else English."""
    env = os.environ if environ is None else environ
    for name in _ENVIRONMENT:
        for tag in env.get(name, "").split(":"):
            found = primary(tag)
            if found is not None:
                return found
    return DEFAULT


def from_accept_language(header: str) -> str:
    """The supported language an HTTP ``Accept-Language`` header prefers, else English.

    >>> from_accept_language("fr;q=0.9, es-MX;q=0.8, en;q=0.5")
    'es'
    >>> from_accept_language("de, *;q=0.1")
    'en'
    """
    best, best_q = DEFAULT, 0.0
    for part in header.split(",")[:32]:
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        found = primary(tag)
        # On equal weights the earlier entry wins: the order is the client's preference.
        if found is not None and 0 < q <= 1 and q > best_q:
            best, best_q = found, q
    return best


def current() -> str:
    """The language in use here: the one set by :func:`use` or :func:`set_language`,
    else the environment's."""
    return _chosen.get() or from_environment()


def set_language(lang: str | None) -> None:
    """Set the language for the rest of this context (the CLI's ``--lang``);
    ``None`` goes back to the environment's. Unknown tags fall back to English."""
    _chosen.set(None if lang is None else (primary(lang) or DEFAULT))


@contextlib.contextmanager
def use(lang: str | None) -> Iterator[str]:
    """Speak ``lang`` inside the block (an Engine's ``locale``); ``None`` keeps the
    language in use. Yields the language chosen."""
    chosen = current() if lang is None else (primary(lang) or DEFAULT)
    token = _chosen.set(chosen)
    try:
        yield chosen
    finally:
        _chosen.reset(token)


@cache
def _translations(lang: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


def _(message: str) -> str:
    """``message`` in the language in use."""
    return _translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, in the language in use."""
    return _translations(current()).ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802 - gettext's name for the marker
    """Mark ``message`` for extraction without translating it here."""
    return message


def pick(texts: str | Mapping[str, str], lang: str | None = None) -> str:
    """One text from a per-language mapping (``{"en": ..., "es": ...}``): the language
    in use, else English, else the first; a plain string is returned as it is."""
    if isinstance(texts, str):
        return texts
    want = lang or current()
    for key in (want, DEFAULT):
        if key in texts:
            return texts[key]
    for tag, text in texts.items():
        if primary(tag) == want:
            return text
    return next(iter(texts.values()), "")
