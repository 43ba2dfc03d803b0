"""A headless Chromium, driven with Selenium, for the kiosk page's browser test.

Chromium and its driver come from Debian's packages (``chromium``,
``chromium-driver``). Where they are missing the test skips, saying so; CI
installs them and sets ``DISCREET_REQUIRE_BROWSER=1`` (see ``.ci/run``), and
then a missing browser fails the test instead, so that it cannot quietly stop
running.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

REQUIRE_VARIABLE = "DISCREET_REQUIRE_BROWSER"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser_required() -> bool:
    """Whether the environment asks for a missing browser to fail (any value but 0)."""
    return os.environ.get(REQUIRE_VARIABLE, "").strip() not in ("", "0")


def _missing(reason: str) -> None:
    if browser_required():
        pytest.fail(f"{reason}, and {REQUIRE_VARIABLE} requires it", pytrace=False)
    pytest.skip(f"{reason}; CI installs it and sets {REQUIRE_VARIABLE}=1 to require it")


def chromium(profile: Path, *, lang: str, width: int = 1280, height: int = 1000) -> WebDriver:
    """A headless Chromium whose ``Accept-Language`` is ``lang``, with its profile in
    ``profile``; the test skips (or fails, when required) without one."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("Selenium is not installed (pip install -e '.[dev]')")
    binary = next((found for b in BROWSERS if (found := shutil.which(b))), None)
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        _missing("Chromium or chromedriver is missing (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={width},{height}",
        f"--lang={lang}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    # The driver is the one installed beside the browser: Selenium never downloads one.
    return webdriver.Chrome(options=options, service=Service(executable_path=str(driver)))
