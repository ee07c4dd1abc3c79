"""Response models of Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2), with the spec's field names.

Public answers carry no personal data: ``address``, ``address_id``, ``zipcode`` and ``media_url``
are always null; ``description`` only for requests filed through Open311. The shapes are those of
``gis.services.cases`` (``open311_services``, ``open311_requests``, ``open311_create``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.schemas.common import Public, Timestamp


class ServicePublic(Public):
    """A GeoReport service: an incident category (``service_code`` = category code)."""

    service_code: str
    service_name: str | None = Field(default=None, description="the 小类 name")
    description: str
    metadata: bool = Field(description="always false: no extra attributes are asked for")
    type: str = Field(description="realtime")
    keywords: str
    group: str


class ServiceRequestPublic(Public):
    """A GeoReport service request: a case as the public sees it (lat/long rounded)."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None = Field(default=None, description="the internal status, e.g. handling (处置中)")
    service_name: str | None = None
    service_code: str | None = None
    description: str | None = None
    agency_responsible: str | None = Field(default=None, description="the grid that handles it")
    service_notice: str | None = None
    requested_datetime: Timestamp
    updated_datetime: Timestamp | None = None
    expected_datetime: Timestamp | None = None
    address: str | None = None
    address_id: int | None = None
    zipcode: str | None = None
    lat: float
    long: float
    media_url: str | None = None


class ServiceRequestCreatedPublic(Public):
    """A request filed: its id, and a notice when a similar open request lies near."""

    service_request_id: str
    service_notice: str | None = None
    account_id: str | None = None
