"""The Spanish catalog covers every message in the code, and is what ships compiled.

The template is compared with a fresh Babel extraction of the source, so a new
``_()`` without ``make messages`` fails here; so does a message without a
non-fuzzy Spanish translation, a translation whose placeholders differ from the
English, and a ``.mo`` file older than its ``.po``.
"""

from __future__ import annotations

import io
import string
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from discreet import i18n

SRC = Path(__file__).resolve().parents[1] / "src"
LOCALES = SRC / "discreet" / "locale"
TEMPLATE = LOCALES / "discreet.pot"
SPANISH_PO = LOCALES / "es" / "LC_MESSAGES" / "discreet.po"
SPANISH_MO = LOCALES / "es" / "LC_MESSAGES" / "discreet.mo"


def _read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def _ids(catalog: Catalog) -> set[str | tuple[str, ...]]:
    return {m.id for m in catalog if m.id}


def _extracted() -> set[str | tuple[str, ...]]:
    """What ``make messages`` extracts (babel.cfg: the package's modules, keyword N_ too)."""
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found = extract_from_dir(str(SRC), [("discreet/**.py", "python")], keywords=keywords)
    return {message if len(message) > 1 else message[0] for *_, message, _c, _x in found}


def placeholders(text: str) -> Counter[tuple[str, str, str]]:
    """The ``str.format`` fields of ``text``: name, conversion and format spec, counted."""
    return Counter(
        (name, conversion or "", spec or "")
        for _literal, name, spec, conversion in string.Formatter().parse(text)
        if name is not None
    )


def test_the_template_holds_every_message_in_the_code() -> None:
    in_code, in_template = _extracted(), _ids(_read(TEMPLATE))
    assert in_code, "the extraction found no message at all"
    assert not in_code - in_template, "new messages: run 'make messages' and translate them"
    assert not in_template - in_code, "messages gone from the code: run 'make messages'"


def test_every_message_has_a_spanish_translation() -> None:
    spanish = _read(SPANISH_PO)
    assert _ids(spanish) == _ids(_read(TEMPLATE)), "run 'make messages'"
    untranslated = [
        m.id
        for m in spanish
        if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)))
    ]
    assert not untranslated, f"{len(untranslated)} without a Spanish translation"


def test_translations_keep_the_placeholders() -> None:
    assert placeholders("{a:>3} {b!r}") != placeholders("{a} {b!r}")  # the check can fail
    mismatched = []
    for m in _read(SPANISH_PO):
        if not m.id:
            continue
        english = m.id[-1] if isinstance(m.id, tuple) else m.id
        for form in m.string if isinstance(m.string, tuple) else (m.string,):
            if placeholders(form) != placeholders(english):
                mismatched.append((english, form))
    assert not mismatched


def test_the_shipped_mo_is_compiled_from_the_po() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _read(SPANISH_PO))
    assert compiled.getvalue() == SPANISH_MO.read_bytes(), "run 'make messages'"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "es_ES.UTF-8"}, "es"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "es_MX.UTF-8"}, "es"),
        ({"LANGUAGE": "pt:es", "LANG": "en_US.UTF-8"}, "es"),
        ({"DISCREET_LANG": "en", "LANG": "es_ES.UTF-8"}, "en"),
        ({"LANG": "C"}, "en"),
        ({}, "en"),
    ],
)
def test_the_language_comes_from_the_environment(environ: dict[str, str], expected: str) -> None:
    assert i18n.from_environment(environ) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es-MX,es;q=0.9,en;q=0.8", "es"),
        ("en-GB, es;q=0.5", "en"),
        ("fr, es;q=0.3", "es"),
        ("es;q=0, en;q=0.1", "en"),
        ("de, *;q=0.1", "en"),
        ("es;q=bogus", "en"),
        ("", "en"),
    ],
)
def test_accept_language_picks_the_preferred_supported_language(header: str, expected: str) -> None:
    assert i18n.from_accept_language(header) == expected


def test_use_speaks_spanish_inside_the_block_only() -> None:
    message = "nothing to recommend"
    with i18n.use("es-AR"):
        assert i18n._(message) == "nada que recomendar"
    assert i18n._(message) == message


def test_pick_falls_back_to_english_then_the_first() -> None:
    texts = {"en": "Crime", "es": "Novela negra"}
    with i18n.use("es"):
        assert i18n.pick(texts) == "Novela negra"
        assert i18n.pick({"es-MX": "Novela negra"}) == "Novela negra"
    assert i18n.pick(texts, "pt") == "Crime"
    assert i18n.pick({"fr": "Policier", "de": "Krimi"}, "es") == "Policier"
    assert i18n.pick("Crime", "es") == "Crime"


def test_plural_forms_follow_the_count() -> None:
    with i18n.use("es"):
        one = i18n.ngettext("{lanes} lane", "{lanes} lanes", 1).format(lanes=1)
        four = i18n.ngettext("{lanes} lane", "{lanes} lanes", 4).format(lanes=4)
    assert (one, four) == ("1 carril", "4 carriles")
