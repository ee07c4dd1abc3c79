"""The one error family of Wangge.

Edges translate these into what their users see: the API through one status table
(``api.errors.STATUS_CODES``), the CLI as a one-line message and a non-zero exit.
Messages name what is wrong and where, so a planner can fix the input.
"""

from __future__ import annotations

from typing import Any


class WanggeError(Exception):
    """Base class of every error a user may see."""

    code = "error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class NotFound(WanggeError):
    code = "not_found"


class Conflict(WanggeError):
    """A stale edit (optimistic concurrency) or a duplicate key."""

    code = "conflict"


class InvalidInput(WanggeError):
    """Input that cannot be used as given (bad file, bad parameter)."""

    code = "invalid_input"


class InvalidGeometry(InvalidInput):
    code = "invalid_geometry"


class CRSMismatch(InvalidInput):
    code = "crs_mismatch"


class Infeasible(WanggeError):
    """A request that no answer can satisfy, e.g. household bounds that cannot be met."""

    code = "infeasible"


class PermissionDenied(WanggeError):
    code = "permission_denied"


class NotAuthenticated(WanggeError):
    code = "not_authenticated"


class AccessReasonRequired(WanggeError):
    """A read of personal records without a stated reason (PIPL: each access is kept with its purpose)."""

    code = "access_reason_required"


class PayloadTooLarge(InvalidInput):
    """A request body over the size limit (WANGGE_MAX_REQUEST_BYTES)."""

    code = "payload_too_large"


class TooManyRequests(WanggeError):
    """Too many attempts (failed sign-ins); ``details["retry_after_seconds"]`` says when to try again."""

    code = "too_many_requests"


class DatabaseUnavailable(WanggeError):
    """The database cannot be reached or is not set up."""

    code = "database_unavailable"


class DatabaseUnreachable(DatabaseUnavailable):
    """The database server did not answer: the message names it, which the CLI shows and the API only logs."""

    # What a caller of the API or the web pages is told instead: the host, port and database name
    # help an attacker map the network and nobody else outside the server.
    public_message = "数据库暂时不可用，请稍后重试 · the database is unavailable, try again shortly"


class SetupError(WanggeError):
    """The machine lacks something Wangge needs and could not install it."""

    code = "setup_error"
