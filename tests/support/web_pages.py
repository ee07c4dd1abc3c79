"""Helpers of the browser tests (tests/web): sign in through the login page, save screenshots."""

from __future__ import annotations

from pathlib import Path

from gis.services.demo import DEMO_PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"


def sign_in(page: object, username: str, *, reason: str | None = None) -> None:
    """Log in through the login page and wait until the role's view has loaded.

    A view that reads personal records first asks why (once per browser session): the answer is
    ``reason``, or the view's default when None.
    """
    page.goto("/")  # type: ignore[attr-defined]
    page.wait_for_url("**/app/login")  # type: ignore[attr-defined]
    page.fill("#username", username)  # type: ignore[attr-defined]
    page.fill("#password", DEMO_PASSWORD)  # type: ignore[attr-defined]
    page.click("#login-button")  # type: ignore[attr-defined]
    page.wait_for_selector("body[data-ready='1'], #reason-dialog[open]", timeout=60_000)  # type: ignore[attr-defined]
    if page.locator("#reason-dialog[open]").count():  # type: ignore[attr-defined]
        if reason is not None:
            page.fill("#reason-input", reason)  # type: ignore[attr-defined]
        page.click("#reason-ok")  # type: ignore[attr-defined]
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)  # type: ignore[attr-defined]


def screenshot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
