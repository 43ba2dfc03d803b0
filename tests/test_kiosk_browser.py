"""A visit to ``discreet kiosk --web`` in a real headless Chromium, in Spanish.

The visitor starts, likes three books (one with the keyboard), reads a "why
this?", presses "forget me" and is back at the start screen with nothing of
theirs left. On a second page, with a short idle time, a visitor walks away and
the page returns to the start by itself once the visit is wiped. Nothing
reaches the disk. The
recommendations screen is saved as a screenshot (``docs/kiosk-web-es.png``
is one; set ``DISCREET_KIOSK_SCREENSHOT=PATH`` to write a new one there).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tests.browser_support import chromium
from tests.kiosk_web_support import demo_home, kiosk_page, snapshot

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

#: The idle time of the page the visitor walks away from: short, but long enough for a
#: loaded machine to show the visit screen first. The main visit has the default idle time,
#: so that no step of it, however slow, runs into an idle wipe.
IDLE = 8.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _screen(driver: WebDriver) -> str:
    # One script call, so that a page replaced meanwhile cannot leave a stale element.
    return str(driver.execute_script("return document.body && document.body.dataset.screen"))


def _said(driver: WebDriver) -> str:
    # One script call too: reading an element's text while the next page replaces it can fail
    # with an inspector error that is neither "stale" nor "no such element".
    script = "const e = document.querySelector('.said'); return e ? e.innerText : ''"
    return str(driver.execute_script(script))


def _waiting(driver: WebDriver, seconds: float) -> WebDriverWait[WebDriver]:
    """A wait that looks again when the page was replaced while it looked."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.wait import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, seconds, poll_frequency=0.1, ignored_exceptions=ignored)


def _wait_for_screen(driver: WebDriver, screen: str, seconds: float) -> None:
    _waiting(driver, seconds).until(lambda d: _screen(d) == screen)


def _like_first(driver: WebDriver, *, keyboard: bool = False) -> str:
    """Like the first recommendation; return its title."""
    from selenium.webdriver.common.keys import Keys

    card = driver.find_element("css selector", ".cards .card")
    title = card.find_element("css selector", "h3").text
    button = card.find_element("css selector", "button.like")
    assert button.accessible_name == f"Me gusta: {title}"
    if keyboard:
        button.send_keys(Keys.ENTER)
    else:
        button.click()
    _waiting(driver, 20).until(lambda d: title in _said(d))
    return title


def test_a_visit_in_spanish(tmp_path: Path) -> None:
    driver = chromium(tmp_path / "chromium-profile", lang="es")
    home = demo_home(tmp_path / "shop")
    before = snapshot(home)
    try:
        with (
            kiosk_page(home, tmp_path / "page") as page,
            kiosk_page(home, tmp_path / "idle-page", idle=IDLE) as idle_page,
        ):
            driver.get(page.url + "/")
            assert driver.find_element("tag name", "html").get_attribute("lang") == "es"
            assert _screen(driver) == "start"
            driver.find_element("css selector", "form[action='/start'] button").click()
            _wait_for_screen(driver, "visit", 20)

            liked = [_like_first(driver), _like_first(driver, keyboard=True), _like_first(driver)]
            cards = driver.find_elements("css selector", ".cards .card")
            assert len(cards) == 8
            shown = [c.find_element("css selector", "h3").text for c in cards]
            assert not set(liked) & set(shown), "a liked book is still recommended"
            assert all(
                c.find_element("css selector", ".reasons li").get_attribute("textContent")
                for c in cards
            ), "a recommendation without its reason"
            why = cards[0].find_element("css selector", "details")
            why.find_element("css selector", "summary").click()
            reasons = why.find_elements("css selector", ".reasons li")
            assert reasons
            assert all(r.is_displayed() and r.text for r in reasons)
            controls = driver.find_elements("css selector", "a, button, summary")
            assert controls
            assert [c.tag_name for c in controls if not c.accessible_name] == []
            learned = driver.find_elements("css selector", ".learned li")
            assert learned, "the visit's interests are not shown"
            assert driver.get_cookies()[0]["name"] == "visit"

            shot = tmp_path / "kiosk-web-es.png"
            driver.save_screenshot(str(shot))
            assert shot.read_bytes().startswith(PNG_SIGNATURE)
            if os.environ.get("DISCREET_KIOSK_SCREENSHOT"):
                shutil.copyfile(shot, os.environ["DISCREET_KIOSK_SCREENSHOT"])

            driver.find_element("css selector", "button.forget").click()
            _wait_for_screen(driver, "start", 20)
            assert driver.find_element("css selector", ".said").text
            source = driver.page_source
            assert not [title for title in liked if title in source]
            assert driver.get_cookies() == []

            # A visitor starts and walks away: the page goes back to the start by itself.
            driver.get(idle_page.url + "/")
            driver.find_element("css selector", "form[action='/start'] button").click()
            _wait_for_screen(driver, "visit", 20)
            # Read in one script call: the page may go back to the start while it is read.
            script = "return Array.from(document.querySelectorAll('.cards h3'), h => h.innerText)"
            seen = list(driver.execute_script(script))
            assert seen
            _wait_for_screen(driver, "start", IDLE + 20)
            source = driver.page_source
            assert not [title for title in seen if title in source]
            folders = [(p.user_home, p.scratch) for p in (page, idle_page)]
    finally:
        driver.quit()
    assert snapshot(home) == before, "the page wrote to the kiosk's home"
    for user_home, scratch in folders:
        assert list(user_home.iterdir()) == [], "the page wrote under HOME"
        assert list(scratch.iterdir()) == [], "the page wrote temporary files"
