"""Access tokens: OAuth2 password flow, JWT (HS256) with expiry and the user's version.

A token carries the user's ``version``: changing a user's role, password or active flag bumps
it, so tokens issued before the change stop working at once rather than at expiry.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from gis.db.models import AppUser
from gis.errors import NotAuthenticated
from gis.services.users import DEMO_PREFIX, Principal, load_principal
from gis.settings import Settings

ALGORITHM = "HS256"
TOKEN_URL = "/auth/token"

# auto_error=False: the access table, not this scheme, decides which routes are public.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def create_token(settings: Settings, user: AppUser, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """A signed access token for ``user`` and when it expires."""
    issued = now or dt.datetime.now(dt.UTC)
    expires = issued + dt.timedelta(minutes=settings.token_minutes)
    claims = {"sub": str(user.id), "name": user.username, "role": user.role_code, "ver": user.version,
              "iat": issued, "exp": expires}
    return {"access_token": jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM), "token_type": "bearer",
            "expires_at": expires.isoformat(), "role": user.role_code}


def principal_from_token(session: Session, settings: Settings, token: str | None) -> Principal:
    """The Principal a bearer token stands for; NotAuthenticated when it is missing, bad, expired or revoked."""
    if not token:
        raise NotAuthenticated("sign in first: this needs a bearer token from POST /auth/token")
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise NotAuthenticated("the access token has expired; sign in again") from None
    except jwt.PyJWTError:
        raise NotAuthenticated("the access token is not valid; sign in again") from None
    subject = str(claims["sub"])
    found = load_principal(session, int(subject)) if subject.isdigit() else None
    if found is None or not found[2] or found[1] != claims.get("ver"):
        raise NotAuthenticated("the access token was revoked (the user changed or was deactivated); sign in again")
    if not settings.demo_mode and found[0].username.startswith(DEMO_PREFIX):
        # A token issued in demo mode stops working once the server runs without it.
        raise NotAuthenticated("demo accounts work in demo mode only (wangge demo)")
    return found[0]
