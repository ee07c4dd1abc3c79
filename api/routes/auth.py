"""Sign-in (OAuth2 password flow) and who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES
from api.schemas.auth import TokenPublic
from api.schemas.users import UserPublic
from api.security import TOKEN_URL, create_token
from gis.errors import NotAuthenticated
from gis.services import users as user_service

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)


@router.post(TOKEN_URL, summary="Sign in: username and password for a bearer token",
             response_model=TokenPublic)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
          settings: SettingsDep, request: Request) -> dict[str, Any]:
    """A JWT valid for ``WANGGE_TOKEN_MINUTES``; send it as ``Authorization: Bearer <token>``.

    Failed sign-ins are limited per username and per client address (api/ratelimit.py): 429 then.
    """
    limiter = request.app.state.login_limiter
    ip = request.client.host if request.client else "unknown"
    limiter.check(username=form.username, ip=ip)
    try:
        user = user_service.authenticate(session, form.username, form.password,
                                         allow_demo_accounts=settings.demo_mode)
    except NotAuthenticated:
        limiter.record_failure(username=form.username, ip=ip)
        raise
    limiter.record_success(username=form.username)
    return create_token(settings, user)


@router.get("/auth/me", summary="The signed-in user, their role and grids", response_model=UserPublic)
def me(principal: PrincipalDep, session: SessionDep) -> user_service.UserView:
    return user_service.describe_user(session, user_service.get_user(session, principal.user_id))
