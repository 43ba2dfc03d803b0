"""``discreet kiosk --web``: the page's HTTP contract, against a real process on loopback.

What a browser shows is tested in ``test_kiosk_browser.py``; here are the
headers, the one cookie, the visit's life (forget, replaced, idle), the
language, the refusals, the escaping, and that nothing reaches the disk.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from discreet.catalog.manifest import Notice
from discreet.catalog.taxonomy import Taxonomy
from discreet.cli import main
from discreet.kiosk_web import pages
from discreet.kiosk_web.app import CONTENT_SECURITY_POLICY, preferred_language
from discreet.rank.explanation import Reason
from discreet.rank.records import Interest, Recommendation
from tests.kiosk_web_support import (
    PageProcess,
    call,
    demo_home,
    item_ids,
    kiosk_page,
    snapshot,
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_home(tmp_path_factory.mktemp("shop"))


@pytest.fixture(scope="module")
def page(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageProcess]:
    with kiosk_page(shop, tmp_path_factory.mktemp("page")) as running:
        yield running


def _start(page: PageProcess, lang: str = "en") -> str:
    answer = call(page, "POST", "/start", form={"lang": lang})
    assert answer.status == 303
    assert answer.location == "/visit"
    token = answer.cookie()
    assert token
    return token


def _learned(body: str) -> str:
    found = re.search(r'<section class="learned".*?</section>', body, re.S)
    assert found is not None
    return found.group(0)


def test_every_response_carries_the_strict_policy(page: PageProcess) -> None:
    token = _start(page)
    paths = ["/", "/visit", "/privacy", "/static/kiosk.css", "/static/kiosk.js", "/nowhere"]
    answers = [call(page, "GET", path, cookie=token) for path in paths]
    assert [a.status for a in answers] == [303, 200, 200, 200, 200, 404]
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    for answer in answers:
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert "server" not in answer.headers
    for answer in answers[1:3]:  # the pages hold no inline script or style to allow
        assert re.findall(r"<script[^>]*>", answer.body) == [
            '<script src="/static/kiosk.js" defer>'
        ]
        assert "<style" not in answer.body
        assert " style=" not in answer.body
        assert re.findall(r"<[^>]*\son[a-z]+\s*=", answer.body) == []  # no onclick= and such
    assert answers[3].headers["content-type"].startswith("text/css")
    assert answers[4].headers["content-type"].startswith("text/javascript")


def test_the_only_cookie_is_a_session_id_that_dies_with_the_visit(page: PageProcess) -> None:
    start = call(page, "GET", "/")
    assert start.status == 200
    assert start.headers.get_all("set-cookie") is None
    answer = call(page, "POST", "/start", form={"lang": "en"})
    (set_cookie,) = answer.headers.get_all("set-cookie") or []
    token = answer.cookie()
    assert token is not None
    assert len(token) >= 43  # 256 bits, URL-safe base64
    attributes = {a.strip().split("=")[0].lower() for a in set_cookie.split(";")[1:]}
    assert attributes == {"httponly", "path", "samesite"}  # no expiry: a browser-session cookie
    assert "samesite=strict" in set_cookie.lower()
    assert call(page, "GET", "/visit", cookie=token).status == 200
    forgotten = call(page, "POST", "/forget", form={}, cookie=token)
    assert forgotten.status == 303
    assert forgotten.location.startswith("/?")
    assert forgotten.cookie() == ""
    # The old id names nothing now: every page sends it back to the start, and clears it.
    assert call(page, "GET", "/visit", cookie=token).location == "/"
    again = call(page, "GET", "/", cookie=token)
    assert again.status == 200
    assert 'data-screen="start"' in again.body
    assert again.cookie() == ""


def test_forget_me_wipes_the_visit_at_once(page: PageProcess) -> None:
    token = _start(page)
    first = call(page, "GET", "/visit", cookie=token).body
    assert "Nothing yet" in _learned(first)
    for item in item_ids(first)[:3]:
        liked = call(page, "POST", "/feedback", form={"item": item, "kind": "like"}, cookie=token)
        assert liked.location == "/visit"
    after = call(page, "GET", "/visit", cookie=token).body
    assert "Liked: " in after
    assert "Nothing yet" not in _learned(after)
    assert item_ids(after) != item_ids(first)  # the recommendations moved with the likes
    assert re.search(r'<ul class="reasons"><li>[^<]+</li>', after)
    call(page, "POST", "/forget", form={}, cookie=token)
    fresh = _start(page)
    assert "Nothing yet" in _learned(call(page, "GET", "/visit", cookie=fresh).body)


def test_the_next_visitor_starts_clean_and_the_previous_page_is_closed(page: PageProcess) -> None:
    first = _start(page)
    items = item_ids(call(page, "GET", "/visit", cookie=first).body)
    call(page, "POST", "/feedback", form={"item": items[0], "kind": "like"}, cookie=first)
    second = _start(page)
    assert second != first
    assert "Nothing yet" in _learned(call(page, "GET", "/visit", cookie=second).body)
    # The first visitor's page can neither see nor add to the new visit.
    assert call(page, "GET", "/visit", cookie=first).location == "/"
    stale = call(page, "POST", "/feedback", form={"item": items[1], "kind": "like"}, cookie=first)
    assert stale.location == "/"
    assert "Nothing yet" in _learned(call(page, "GET", "/visit", cookie=second).body)
    assert call(page, "GET", "/visit/status", cookie=first).body == '{"active":false}'
    assert call(page, "GET", "/visit/status", cookie=second).body == '{"active":true}'


def test_feedback_on_an_unknown_item_or_kind_records_nothing(page: PageProcess) -> None:
    token = _start(page)
    answer = call(page, "POST", "/feedback", form={"item": "no-such", "kind": "like"}, cookie=token)
    assert answer.location == "/visit"
    body = call(page, "GET", "/visit", cookie=token).body
    assert "not in this shop&#x27;s catalog" in body
    assert "Nothing yet" in _learned(body)
    item = item_ids(body)[0]
    odd = call(page, "POST", "/feedback", form={"item": item, "kind": "purchase"}, cookie=token)
    assert odd.status == 403
    assert "Nothing yet" in _learned(call(page, "GET", "/visit", cookie=token).body)


def test_a_topic_narrows_the_recommendations(page: PageProcess) -> None:
    token = _start(page)
    body = call(page, "GET", "/visit?category=crime", cookie=token).body
    assert 'aria-current="page">Crime &amp; mystery<' in body
    assert "<h1>Crime &amp; mystery</h1>" in body
    unknown = call(page, "GET", "/visit?category=%3Cscript%3E", cookie=token).body
    assert "<h1>Recommended for you</h1>" in unknown


def test_the_language_follows_the_browser_and_the_switch(page: PageProcess) -> None:
    spanish = call(page, "GET", "/", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert '<html lang="es">' in spanish.body
    english = call(page, "GET", "/", headers={"Accept-Language": "fr, en;q=0.4, es;q=0.2"})
    assert '<html lang="en">' in english.body
    switched = call(page, "GET", "/?lang=es", headers={"Accept-Language": "en"})
    assert '<html lang="es">' in switched.body
    assert 'href="/?lang=en" hreflang="en" lang="en">English</a>' in switched.body
    token = _start(page, "es")
    assert '<html lang="es">' in call(page, "GET", "/visit", cookie=token).body
    call(page, "GET", "/visit?lang=en", cookie=token)  # the switch, during a visit
    later = call(page, "GET", "/privacy", cookie=token, headers={"Accept-Language": "es"})
    assert '<html lang="en">' in later.body


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "en"),
        ("es", "es"),
        ("es-ES;q=0.1, en-GB;q=0.8", "en"),
        ("de, pt-BR, es-419;q=0.3", "es"),
        ("es;q=0, en;q=0.1", "en"),
        ("es;q=abc, en;q=0.5", "en"),
        ("*", "en"),
    ],
)
def test_preferred_language(header: str, expected: str) -> None:
    assert preferred_language(header) == expected


def test_other_hosts_origins_and_forms_are_refused(page: PageProcess) -> None:
    rebound = call(page, "GET", "/", headers={"Host": "attacker.example"})
    assert rebound.status == 400
    assert call(page, "GET", "/", headers={"Host": f"localhost:{page.port}"}).status == 200
    cross = {"Origin": "http://attacker.example"}
    assert call(page, "POST", "/start", form={"lang": "en"}, headers=cross).status == 403
    site = {"Sec-Fetch-Site": "cross-site"}
    assert call(page, "POST", "/start", form={"lang": "en"}, headers=site).status == 403
    as_json = {"Content-Type": "application/json"}
    assert call(page, "POST", "/start", form={"lang": "en"}, headers=as_json).status == 403
    huge = call(page, "POST", "/start", form={"lang": "en", "pad": "x" * 10_000})
    assert huge.status == 403
    assert call(page, "GET", "/static/..%2Fapp.py").status == 404


def test_catalog_text_shows_as_text() -> None:
    """Markup and control characters in catalog text are shown, never interpreted."""
    hostile = "<img src=x onerror=alert(1)>\x1b[2J\u202eevil"
    taxonomy = Taxonomy.from_json(
        {"format_version": 1, "categories": [{"id": "c", "label": "<i>Topic</i>"}]}
    )
    rec = Recommendation("x-1\"'><b>", hostile, 1.0, (Reason("popular", "<b>why</b>\x07"),))
    notice = Notice("n", "info", "<script>alert(2)</script>", "body\x1b]0;t\x07", dt.date.today())
    frame = pages.Frame("en", "<shop>", (notice,), "/visit", {"category": 'c"><x'})
    body = pages.visit_screen(
        frame, [rec], taxonomy, [Interest("c", "<i>Topic</i>", 1.0, False, False)], category="c"
    )
    for raw in ("<img", "<b>", "<i>", "<script>alert", "<shop>", "\x1b", "\x07", "\u202e", '"><x'):
        assert raw not in body
    assert "&lt;img src=x onerror=alert(1)&gt;\\x1b[2J\\u202eevil" in body
    assert "&lt;b&gt;why&lt;/b&gt;\\x07" in body
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in body
    assert 'value="x-1&quot;&#x27;&gt;&lt;b&gt;"' in body


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    """WCAG 2's contrast ratio of two ``#rrggbb`` colours."""
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_text_colours_meet_wcag_aa() -> None:
    """Every text-on-background pair the stylesheet uses has a contrast of 4.5:1 or more."""
    assert contrast("#777777", "#ffffff") < 4.5 < contrast("#767676", "#ffffff")  # WCAG's edge
    css = (Path(pages.__file__).parent / "static" / "kiosk.css").read_text(encoding="utf-8")
    colour = dict(re.findall(r"--([a-z-]+): (#[0-9a-f]{6});", css))
    pairs = [
        ("ink", "paper"),
        ("muted", "paper"),
        ("muted", "card"),
        ("accent", "paper"),
        ("accent", "card"),
        ("accent-ink", "accent"),
        ("accent-ink", "danger"),
        ("ink", "said"),
    ]
    assert {name for pair in pairs for name in pair} <= set(colour)
    low = [(a, b) for a, b in pairs if contrast(colour[a], colour[b]) < 4.5]
    assert low == []


def test_an_idle_visit_is_wiped_and_nothing_reaches_the_disk(shop: Path, tmp_path: Path) -> None:
    before = snapshot(shop)
    with kiosk_page(shop, tmp_path, idle=1.5) as page:
        token = _start(page)
        item = item_ids(call(page, "GET", "/visit", cookie=token).body)[0]
        call(page, "POST", "/feedback", form={"item": item, "kind": "like"}, cookie=token)
        assert "Nothing yet" not in _learned(call(page, "GET", "/visit", cookie=token).body)
        # Asking whether the visit is on does not keep it on: the page's timer asks this.
        deadline = time.monotonic() + 15
        while call(page, "GET", "/visit/status", cookie=token).body != '{"active":false}':
            assert time.monotonic() < deadline, "the idle visit was never wiped"
            time.sleep(0.2)
        assert call(page, "GET", "/visit", cookie=token).location == "/"
        fresh = _start(page)
        assert "Nothing yet" in _learned(call(page, "GET", "/visit", cookie=fresh).body)
        user_home, scratch = page.user_home, page.scratch
    assert snapshot(shop) == before, "the page wrote to the kiosk's home"
    assert list(user_home.iterdir()) == [], "the page wrote under HOME"
    assert list(scratch.iterdir()) == [], "the page wrote temporary files"


def test_cli_web_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kiosk", "--port", "9000"]) == 2
    assert "--web" in capsys.readouterr().err
    empty = tmp_path / "nothing-here"
    assert main(["--home", str(empty), "kiosk", "--web", "--port", "0"]) == 1
    assert "kiosk --web --demo" in capsys.readouterr().err
    assert not empty.exists()


def test_topics_and_notices_are_in_the_visitors_language(page: PageProcess) -> None:
    spanish = call(page, "GET", "/visit", cookie=_start(page, "es")).body
    assert "Novela negra y misterio" in spanish
    assert "Cómo recomienda Lantern Books" in spanish
    english = call(page, "GET", "/visit", cookie=_start(page, "en")).body
    assert "Crime &amp; mystery" in english
    assert "How Lantern Books recommends" in english
