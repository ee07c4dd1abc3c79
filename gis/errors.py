"""The one error family of Wangge.

Edges translate these into what their users see: the API through one status table
(``api.errors.STATUS_CODES``), the CLI as a one-line message and a non-zero exit.
Messages name what is wrong and where, so a planner can fix the input.

The field convention
--------------------
An error about one input names it in the API's terms, never by a CLI flag: the message starts with
the field's name as the API spells it (a JSON body key or a query parameter) and ``details["field"]``
holds that name::

    raise InvalidInput.for_field("radius_m", "must be a positive number of metres; got -3")
    # message "radius_m must be a positive number of metres; got -3", details {"field": "radius_m"}

HTTP clients read ``details.field``; the CLI (``gis.cli.errors``) shows the same error under the
flag of the command that ran ("--radius-m: must be a positive number of metres; got -3").
"""

from __future__ import annotations

from typing import Any, Self


class WanggeError(Exception):
    """Base class of every error a user may see."""

    code = "error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message

    @classmethod
    def for_field(cls, field: str, message: str, **details: Any) -> Self:
        """An error about one input: the message after the field's API name, ``details["field"]`` that name.

        ``message`` is what is wrong with the value ("must be 1 or more; got 0"). A message that
        already starts with the field ("scheduler: cannot reach ...") or a bilingual one whose Chinese
        part comes first (naming the field after "·") is kept whole.
        """
        named = message.startswith((f"{field} ", f"{field}:")) or " · " in message
        text = message if named else f"{field} {message}"
        return cls(text, details={"field": field, **details})

    @property
    def field(self) -> str | None:
        """The API name of the input this error is about, or None."""
        if isinstance(self.details, dict):
            field = self.details.get("field")
            return field if isinstance(field, str) else None
        return None


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
