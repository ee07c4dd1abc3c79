"""Users, passwords, roles and grid assignments; who may see what is decided from a Principal.

Passwords are argon2id hashes (argon2-cffi). A Principal is the signed-in user as the
services see it: role, district and the grids assigned to them. Grid-scoped roles (leaders
and workers) see personal data only of those grids; planners and viewers see aggregates.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any, TypedDict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from gis.db.models import ROLES, AppUser, Grid, GridAssignment
from gis.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied

_hasher = PasswordHasher()
# Verifying against a fixed hash when the user is unknown keeps the timing of both failures alike.
_DUMMY_HASH = _hasher.hash("no such user")

GRID_SCOPED_ROLES = frozenset({"grid_leader", "grid_worker"})
# Roles that may read personal records at all (always audited; grid-scoped roles only within their grids).
PERSONAL_DATA_ROLES = frozenset({"admin", "grid_leader", "grid_worker"})
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class Principal:
    """The signed-in user as the services see them."""

    user_id: int
    username: str
    role: str
    district_code: str | None = None
    grid_codes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_grid_scoped(self) -> bool:
        return self.role in GRID_SCOPED_ROLES

    @property
    def may_read_personal_data(self) -> bool:
        return self.role in PERSONAL_DATA_ROLES

    def sees_district(self, district_code: str | None) -> bool:
        """Whether ``district_code`` is within this user's district (every district for a user without one)."""
        return self.district_code is None or district_code == self.district_code

    def sees_grid(self, grid_code: str | None) -> bool:
        """Whether personal data located in ``grid_code`` is within this user's scope."""
        if not self.may_read_personal_data:
            return False
        if not self.is_grid_scoped:
            return True
        return grid_code is not None and grid_code in self.grid_codes


def require_district(principal: Principal, district_code: str | None, what: str) -> None:
    """PermissionDenied unless ``what`` (in ``district_code``) lies in the principal's district.

    Users with a district (planners, district admins, grid staff) act in it only; a user without
    one (a city admin, the command line) acts everywhere. Something with no district at all is
    outside every district.
    """
    if not principal.sees_district(district_code):
        raise PermissionDenied(f"{principal.username} works in district {principal.district_code} and may not "
                               f"act on {what} of district {district_code or '(none)'}",
                               details={"district_code": district_code})


# A principal for work done from the command line or by the system itself.
SYSTEM = Principal(user_id=0, username="system", role="admin")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} does not exist; choose one of {', '.join(ROLES)}")
    return role


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password: at least {MIN_PASSWORD_LENGTH} characters are needed, got {len(password)}")
    return password


def generate_password() -> str:
    """A random password good enough for a first sign-in."""
    return secrets.token_urlsafe(12)


def create_user(session: Session, *, username: str, password: str, role: str, display_name: str | None = None,
                district_code: str | None = None, phone: str | None = None,
                street_code: str | None = None) -> AppUser:
    """A new active user; the username must be free. ``street_code`` scopes them to one street of their district."""
    username = username.strip()
    if not username:
        raise InvalidInput("username: empty")
    if session.scalar(select(AppUser.id).where(AppUser.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    street_code = check_street(street_code, district_code)
    user = AppUser(username=username, display_name=display_name or username, role_code=check_role(role),
                   password_hash=hash_password(_check_password(password)), district_code=district_code, phone=phone,
                   street_code=street_code)
    session.add(user)
    session.flush()
    return user


def check_street(street_code: str | None, district_code: str | None) -> str | None:
    """A street scope: 9 digits inside the user's district; None (or blank) for the whole district."""
    street = (street_code or "").strip() or None
    if street is None:
        return None
    if not (len(street) == 9 and street.isdigit()):
        raise InvalidInput(f"street_code must be a 9-digit street code; received {street_code!r}")
    if not district_code or street[:6] != district_code:
        raise InvalidInput(f"street_code {street} must lie in the user's district ({district_code or 'none'}): a "
                           f"street-scoped user works in one street of their district")
    return street


def get_user(session: Session, user_id: int) -> AppUser:
    user = session.get(AppUser, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def get_user_by_name(session: Session, username: str) -> AppUser:
    user = session.scalar(select(AppUser).where(AppUser.username == username.strip()))
    if user is None:
        raise NotFound(f"user {username!r} does not exist")
    return user


def list_users(session: Session, *, district_code: str | None = None) -> list[AppUser]:
    """Every user, or those of one district."""
    query = select(AppUser).order_by(AppUser.id)
    if district_code is not None:
        query = query.where(AppUser.district_code == district_code)
    return list(session.scalars(query))


def get_user_for(session: Session, principal: Principal, user_id: int) -> AppUser:
    """A user the principal may manage; NotFound (the same answer as a missing one) outside their district."""
    user = session.get(AppUser, user_id)
    if user is None or not principal.sees_district(user.district_code):
        raise NotFound(f"user {user_id} does not exist" + (f" in district {principal.district_code}"
                                                           if principal.district_code else ""))
    return user


def check_managed_district(principal: Principal, district_code: str | None) -> str | None:
    """The district a user created or changed by ``principal`` gets: theirs when they have one."""
    if principal.district_code is None:
        return district_code
    if district_code is None:
        return principal.district_code
    require_district(principal, district_code, "a user")
    return district_code


DEMO_PREFIX = "demo_"


def authenticate(session: Session, username: str, password: str, *, allow_demo_accounts: bool = True) -> AppUser:
    """The active user with this username and password; one message for every failure, so names do not leak.

    Demo accounts (``demo_*``, public passwords) are refused where ``allow_demo_accounts`` is off.
    """
    if not allow_demo_accounts and username.strip().startswith(DEMO_PREFIX):
        raise NotAuthenticated("demo accounts work in demo mode only (wangge demo)")
    user = session.scalar(select(AppUser).where(AppUser.username == username.strip()))
    try:
        _hasher.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise NotAuthenticated("wrong username or password") from None
    if user is None or not user.is_active:
        raise NotAuthenticated("wrong username or password")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def update_user(session: Session, user_id: int, *, expected_version: int, changes: dict[str, Any]) -> AppUser:
    """Change a user's role, name, district, phone, password or active flag; a stale version gets Conflict.

    Any change bumps ``version``, which also invalidates the user's outstanding tokens.
    """
    user = get_user(session, user_id)
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None:
            continue
        if key == "password":
            values["password_hash"] = hash_password(_check_password(value))
        elif key == "role":
            values["role_code"] = check_role(value)
        elif key in {"display_name", "district_code", "phone", "is_active"}:
            values[key] = value
        elif key == "street_code":
            # "" clears the street scope (None means "unchanged" here).
            values[key] = check_street(value, changes.get("district_code") or user.district_code)
        else:
            raise InvalidInput(f"user field {key!r} cannot be changed")
    row = session.execute(
        update(AppUser).where(AppUser.id == user_id, AppUser.version == expected_version)
        .values(**values, version=AppUser.version + 1).returning(AppUser.version)
    ).first()
    if row is None:
        raise Conflict(f"user {user.username} was changed by someone else (current version {user.version}, "
                       f"yours {expected_version}); reload and try again", details={"current_version": user.version})
    session.refresh(user)
    return user


def assigned_grids(session: Session, user_id: int, *, at: dt.datetime | None = None) -> list[GridAssignment]:
    """The user's grid assignments valid now (or at ``at``)."""
    when = at or dt.datetime.now(dt.UTC)
    return list(session.scalars(
        select(GridAssignment).where(
            GridAssignment.user_id == user_id, GridAssignment.valid_from <= when,
            (GridAssignment.valid_to.is_(None)) | (GridAssignment.valid_to > when),
        ).order_by(GridAssignment.grid_code)
    ))


def assign_grids(session: Session, user_id: int, grid_codes: list[str], *, duty: str | None = None,
                 public_phone: str | None = None) -> list[GridAssignment]:
    """Make ``grid_codes`` the user's current grids: ended assignments keep their history (valid_to)."""
    user = get_user(session, user_id)
    if user.role_code not in GRID_SCOPED_ROLES:
        raise InvalidInput(f"user {user.username} is a {user.role_code}; only grid leaders and workers have grids")
    codes = sorted(set(grid_codes))
    known = set(session.scalars(select(Grid.code).where(Grid.code.in_(codes), Grid.valid_to.is_(None))))
    missing = [c for c in codes if c not in known]
    if missing:
        raise NotFound(f"no current grid with code {', '.join(missing)}")
    now = dt.datetime.now(dt.UTC)
    current = {a.grid_code: a for a in assigned_grids(session, user_id)}
    for code, assignment in current.items():
        if code not in codes:
            assignment.valid_to = now
    for code in codes:
        if code not in current:
            session.add(GridAssignment(user_id=user_id, grid_code=code, public_phone=public_phone,
                                       duty=duty or ("leader" if user.role_code == "grid_leader" else "worker")))
    session.flush()
    return assigned_grids(session, user_id)


def principal_for(session: Session, user: AppUser) -> Principal:
    """The Principal of an active user, with their current grids."""
    grids = frozenset(a.grid_code for a in assigned_grids(session, user.id)) if user.role_code in GRID_SCOPED_ROLES \
        else frozenset()
    return Principal(user_id=user.id, username=user.username, role=user.role_code,
                     district_code=user.district_code, grid_codes=grids)


def load_principal(session: Session, user_id: int) -> tuple[Principal, int, bool] | None:
    """The principal of a user with their version and active flag, in one query (every request needs it)."""
    row = session.execute(text("""
        SELECT u.id, u.username, u.role_code, u.district_code, u.version, u.is_active,
               COALESCE(array_agg(a.grid_code ORDER BY a.grid_code) FILTER (WHERE a.grid_code IS NOT NULL), '{}')
        FROM app_user u LEFT JOIN grid_assignment a
          ON a.user_id = u.id AND a.valid_from <= now() AND (a.valid_to IS NULL OR a.valid_to > now())
        WHERE u.id = :id GROUP BY u.id"""), {"id": user_id}).first()
    if row is None:
        return None
    uid, username, role, district, version, active, grids = row
    scoped = frozenset(grids) if role in GRID_SCOPED_ROLES else frozenset()
    return Principal(user_id=uid, username=username, role=role, district_code=district, grid_codes=scoped), \
        version, active


class UserView(TypedDict):
    """The public view of a user (never the password hash)."""

    id: int
    username: str
    display_name: str | None
    role: str
    district_code: str | None
    street_code: str | None
    is_active: bool
    version: int
    grids: list[str]
    created_at: str | None


def describe_user(session: Session, user: AppUser) -> UserView:
    """The public view of a user (never the hash)."""
    return {
        "id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role_code,
        "district_code": user.district_code, "street_code": user.street_code, "is_active": user.is_active,
        "version": user.version,
        "grids": [a.grid_code for a in assigned_grids(session, user.id)],
        "created_at": user.created_at.isoformat() if user.created_at else None,
    }
