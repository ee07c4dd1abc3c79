"""Every role's main page, at desktop and phone size, in Chinese: no API code shows through as text.

The list of codes is read from the Python tables that define them (tests/support/visible_codes.py),
so a new status, action, tag, level or purpose is checked on every page as soon as it exists.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from visible_codes import visible_codes
from web_pages import screenshot, sign_in

from gis.db.engine import make_engine, transaction
from gis.roles import ROLES
from gis.services import departments as department_service
from gis.services import users as user_service
from gis.services.demo import DEMO_DISTRICT, DEMO_PASSWORD, DEMO_USERS

DEMO_ROLE_USERS = {role: username for username, role, _ in DEMO_USERS}
# Roles without a demo account get one here, scoped as their work needs.
EXTRA = {"supervisor": "page_supervisor", "department_staff": "page_department", "street_officer": "page_street",
         "community_officer": "page_community", "unit_contact": "page_unit"}


@pytest.fixture(scope="module")
def role_users(web_database_url: str) -> dict[str, str]:
    engine = make_engine(web_database_url)
    try:
        with transaction(engine) as session:
            district = DEMO_DISTRICT[0]
            street, community = session.execute(text(
                "SELECT street_code, code FROM community WHERE district_code = :d AND valid_to IS NULL "
                "ORDER BY code LIMIT 1"), {"d": district}).one()
            for role, username in EXTRA.items():
                exists = session.scalar(text("SELECT id FROM app_user WHERE username = :u"), {"u": username})
                if exists:
                    continue
                user = user_service.create_user(session, username=username, password=DEMO_PASSWORD, role=role,
                                                display_name=username, district_code=district,
                                                street_code=street if role == "street_officer" else None)
                if role == "community_officer":
                    department_service.set_community(session, user.id, community)
    finally:
        engine.dispose()
    return {**DEMO_ROLE_USERS, **EXTRA}


def test_every_role_is_covered() -> None:
    assert set(ROLES) == set(DEMO_ROLE_USERS) | set(EXTRA)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_roles_main_page_shows_no_code_at_desktop_or_phone_size(open_page, role_users: dict[str, str],
                                                                   role: str) -> None:
    page = open_page()
    sign_in(page, role_users[role])
    page.wait_for_load_state("networkidle")
    if role == "unit_contact":  # not linked to a unit yet: told so in words, not a code or English
        assert "尚未关联驻区单位" in page.inner_text("#message")
    assert visible_codes(page.inner_text("body")) == [], page.url
    screenshot(page, f"role-{role}-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_load_state("networkidle")
    assert visible_codes(page.inner_text("body")) == [], page.url
    screenshot(page, f"role-{role}-phone")
