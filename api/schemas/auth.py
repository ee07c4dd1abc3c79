"""Response model of sign-in (``POST /auth/token``); ``GET /auth/me`` answers ``api.schemas.users.UserPublic``."""

from __future__ import annotations

from api.schemas.common import Public, Timestamp


class TokenPublic(Public):
    """A bearer token (send it as ``Authorization: Bearer <token>``), when it expires and the user's role."""

    access_token: str
    token_type: str = "bearer"
    expires_at: Timestamp
    role: str
