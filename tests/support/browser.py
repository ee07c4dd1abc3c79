"""Debian's Chromium driven by Playwright: no browser download, no network beyond what a test allows.

One browser per test process: Playwright's sync API allows one running instance per thread, and under
pytest-xdist a worker runs the web, map and security files in any order, so each of them borrowing the one
browser (each test opens its own context or page) is what lets them share a process. It is closed when the
session ends (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying Google's hosts on a closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

_shared: dict[str, Any] = {}


def _browser() -> Any:
    browser = _shared.get("browser")
    if browser is not None and browser.is_connected():
        return browser
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (scripts/bootstrap.sh does)"
    if "playwright" not in _shared:
        _shared["playwright"] = sync_playwright().start()
    browser = _shared["playwright"].chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    _shared["browser"] = browser
    return browser


@contextmanager
def chromium() -> Iterator[Any]:
    """The process's headless Chromium; a missing Chromium fails the test (it never skips)."""
    yield _browser()


def close_browser() -> None:
    """Close the process's browser and Playwright, if a test started them."""
    browser, playwright = _shared.pop("browser", None), _shared.pop("playwright", None)
    if browser is not None:
        browser.close()
    if playwright is not None:
        playwright.stop()
