"""The kiosk's pages, rendered on the server as plain HTML (no template engine, no inline code).

Every text that comes from the catalog or the Engine goes through :func:`text`:
control characters are written as visible escapes (the CLI's one display
rule, :func:`~discreet.catalog.text.printable`) and markup is escaped, so a
title like ``<b>Soups</b>`` shows as those characters. The pages hold no
inline script or style, so the Content-Security-Policy can forbid both; the
stylesheet and the script come from the package (:mod:`discreet.kiosk_web.app`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from discreet.catalog.manifest import Notice
from discreet.catalog.taxonomy import Taxonomy
from discreet.catalog.text import printable
from discreet.i18n import N_, SUPPORTED, _, pick
from discreet.rank.records import Interest, Recommendation

#: Each language's name, written in that language, for the switch on screen.
LANGUAGE_NAMES = {"en": "English", "es": "Español"}
#: The data card's storage keys, as the page labels them.
STORAGE_LABELS = {
    "location": N_("Where"),
    "encryption": N_("Encryption"),
    "key": N_("Key"),
    "backup": N_("Copies"),
}


def text(value: str) -> str:
    """``value`` as HTML text: control characters escaped visibly, then markup escaped.

    >>> text("<b>Soups</b>\\x1b[2J")
    '&lt;b&gt;Soups&lt;/b&gt;\\\\x1b[2J'
    """
    return html.escape(printable(value), quote=True)


@dataclass(frozen=True)
class Frame:
    """What every page shows around its content: the shop, the language, the notices."""

    lang: str
    shop: str
    notices: tuple[Notice, ...]
    #: The page's own path and query (without ``lang``), for the language switch's links.
    here: str
    query: Mapping[str, str]
    #: During a visit, how often the page asks whether the visit is still on (ms); else 0.
    poll_ms: int = 0


def _link(frame: Frame, **changes: str) -> str:
    query = {k: v for k, v in {**frame.query, **changes}.items() if v}
    return html.escape(frame.here + ("?" + urlencode(query) if query else ""), quote=True)


def _language_switch(frame: Frame) -> str:
    links = []
    for lang in SUPPORTED:
        current = ' aria-current="true"' if lang == frame.lang else ""
        links.append(
            f'<li><a class="lang" href="{_link(frame, lang=lang)}" hreflang="{lang}" '
            f'lang="{lang}"{current}>{LANGUAGE_NAMES[lang]}</a></li>'
        )
    label = text(_("Language"))
    return f'<nav class="languages" aria-label="{label}"><ul>{"".join(links)}</ul></nav>'


def _notices(frame: Frame) -> str:
    if not frame.notices:
        return ""
    items = "".join(
        f'<li class="notice {text(n.severity)}"><h3>{text(pick(n.title, frame.lang))}</h3>'
        f"<p>{text(pick(n.body, frame.lang))}</p>"
        f'<p class="date">{text(n.date.isoformat())}</p></li>'
        for n in frame.notices
    )
    heading = text(_("Notices from the shop"))
    return (
        f'<section class="notices" aria-labelledby="notices-h">'
        f'<h2 id="notices-h">{heading}</h2><ul>{items}</ul></section>'
    )


def document(frame: Frame, title: str, screen: str, content: str) -> str:
    """A whole page: the header with the language switch, ``content``, and the notices."""
    visit = f' data-poll-ms="{frame.poll_ms}"' if frame.poll_ms else ""
    return (
        f'<!doctype html>\n<html lang="{frame.lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{text(title)} — {text(frame.shop)}</title>"
        '<link rel="stylesheet" href="/static/kiosk.css">'
        '<script src="/static/kiosk.js" defer></script></head>'
        f'<body data-screen="{screen}"{visit}>'
        f'<header><p class="shop">{text(frame.shop)}</p>{_language_switch(frame)}</header>'
        f'<main id="main">{content}</main>'
        f"<footer>{_notices(frame)}</footer></body></html>\n"
    )


def _tag(name: str, message: str, *, css: str = "") -> str:
    """One element holding ``message`` as text."""
    attribute = f' class="{css}"' if css else ""
    return f"<{name}{attribute}>{text(message)}</{name}>"


def _privacy_link() -> str:
    label = _("What is kept, and for how long")
    return f'<p><a href="/privacy">{text(label)}</a></p>'


def _said(said: str) -> str:
    # Always present, so that a screen reader announces each new message in it.
    return f'<p class="said" role="status">{text(said)}</p>'


def _hidden(fields: Mapping[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{name}" value="{text(value)}">'
        for name, value in fields.items()
    )


def _post(action: str, label: str, *, css: str, fields: Mapping[str, str] | None = None) -> str:
    return (
        f'<form method="post" action="{action}">{_hidden(fields or {})}'
        f'<button type="submit" class="{css}">{text(label)}</button></form>'
    )


def start_screen(frame: Frame, said: str = "") -> str:
    """The screen every visit starts from, and every visit returns to."""
    content = (
        _said(said)
        + _tag("h1", _("Find your next book"))
        + _tag("p", _("Like a few books and see what this shop suggests."), css="lead")
        + _tag(
            "p",
            _(
                "Nothing you do here is stored: your visit is forgotten when you press "
                "“Forget me”, after a few minutes without a touch, and when the next person "
                "starts."
            ),
        )
        + _post("/start", _("Start"), css="primary", fields={"lang": frame.lang})
        + _privacy_link()
    )
    return document(frame, _("Welcome"), "start", content)


def _card(rec: Recommendation, category: str) -> str:
    reasons = "".join(f"<li>{text(r.text)}</li>" for r in rec.reasons)
    like = _("Like")
    dismiss = _("Not for me")
    return (
        f'<li class="card"><h3>{text(rec.title)}</h3>'
        + "<details>"
        + _tag("summary", _("Why this?"))
        + f'<ul class="reasons">{reasons}</ul></details>'
        + '<form method="post" action="/feedback" class="actions">'
        + _hidden({"item": rec.item_id, "category": category})
        + f'<button type="submit" name="kind" value="like" class="like" '
        f'aria-label="{text(like)}: {text(rec.title)}">{text(like)}</button>'
        f'<button type="submit" name="kind" value="dismiss" class="dismiss" '
        f'aria-label="{text(dismiss)}: {text(rec.title)}">{text(dismiss)}</button>'
        "</form></li>"
    )


def _categories(taxonomy: Taxonomy, chosen: str) -> str:
    entries = [("", _("For you"))] + [(c, taxonomy[c].shown_label) for c in taxonomy.ids]
    links = []
    for category, label in entries:
        current = ' aria-current="page"' if category == chosen else ""
        href = "/visit" + ("?" + urlencode({"category": category}) if category else "")
        links.append(f'<li><a href="{text(href)}"{current}>{text(label)}</a></li>')
    label = text(_("Browse by topic"))
    return f'<nav class="topics" aria-label="{label}"><ul>{"".join(links)}</ul></nav>'


def _learned(interests: Iterable[Interest]) -> str:
    shown = [i for i in interests if i.weight > 0][:5]
    if not shown:
        body = _tag("p", _("Nothing yet: like a book and it shows here."))
    else:
        body = "<ul>" + "".join(f"<li>{text(i.label)}</li>" for i in shown) + "</ul>"
    heading = text(_("What this visit has taught it"))
    return (
        '<section class="learned" aria-labelledby="learned-h">'
        f'<h2 id="learned-h">{heading}</h2>{body}</section>'
    )


def visit_screen(
    frame: Frame,
    recommendations: Sequence[Recommendation],
    taxonomy: Taxonomy,
    interests: Iterable[Interest],
    *,
    category: str = "",
    said: str = "",
) -> str:
    """The visit: recommendations with their reasons, topics, what was learned, "forget me"."""
    heading = taxonomy[category].shown_label if category else _("Recommended for you")
    recommendations_label = _("Recommendations")
    cards = "".join(_card(rec, category) for rec in recommendations)
    content = (
        f"{_said(said)}"
        f'<div class="bar"><h1>{text(heading)}</h1>'
        + _post("/forget", _("Forget me"), css="forget")
        + "</div>"
        + _categories(taxonomy, category)
        + f'<ol class="cards" aria-label="{text(recommendations_label)}">{cards}</ol>'
        + _learned(interests)
        + _privacy_link()
    )
    return document(frame, heading, "visit", content)


def privacy_screen(frame: Frame, card: Mapping[str, Any], back: str) -> str:
    """The data card: what is kept, why, for how long, where, and what leaves the device."""
    fields = "".join(
        f"<dt>{text(f['field'])}</dt><dd>{text(f['holds'])}</dd>"
        f"<dd>{text(f['purpose'])}</dd><dd>{text(f['retention'])}</dd>"
        for f in card["fields"]
    )
    storage = "".join(
        f"<dt>{text(_(STORAGE_LABELS[key]) if key in STORAGE_LABELS else key)}</dt>"
        f"<dd>{text(value)}</dd>"
        for key, value in card["storage"].items()
    )
    back_label = _("Back")
    content = (
        _tag("h1", _("What is kept, and for how long"))
        + _tag("p", card["summary"], css="lead")
        + _tag("h2", _("What the visit keeps"))
        + f'<dl class="card-fields">{fields}</dl>'
        + _tag("h2", _("Where and how"))
        + f"<dl>{storage}</dl>"
        + _tag("h2", _("What leaves this device"))
        + _tag("p", card["leaves_the_device"])
        + f'<p><a class="back" href="{text(back)}">{text(back_label)}</a></p>'
    )
    return document(frame, _("What is kept"), "privacy", content)
