"""Sign-in (OAuth2 password flow) and who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.security import TOKEN_URL, create_token
from gis.services import users as user_service

router = APIRouter(tags=["auth"])


@router.post(TOKEN_URL, summary="Sign in: username and password for a bearer token")
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
          settings: SettingsDep) -> dict[str, Any]:
    """A JWT valid for ``WANGGE_TOKEN_MINUTES``; send it as ``Authorization: Bearer <token>``."""
    user = user_service.authenticate(session, form.username, form.password,
                                     allow_demo_accounts=settings.environment != "production")
    return create_token(settings, user)


@router.get("/auth/me", summary="The signed-in user, their role and grids")
def me(principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return user_service.describe_user(session, user_service.get_user(session, principal.user_id))
