"""Map search and unit cards: find a grid, community, building or standard address; one unit's card.

Neither returns personal data (residents are searched through ``GET /residents``, scoped and audited).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import PrincipalDep, SessionDep
from api.errors import ERROR_RESPONSES
from api.schemas.maps import SearchResultsPublic, UnitCardPublic
from gis.services import search as search_service

router = APIRouter(tags=["maps"], responses=ERROR_RESPONSES)


@router.get("/search", summary="Grids and communities by code or name, buildings and standard addresses by address",
            response_model=SearchResultsPublic)
def search(session: SessionDep, principal: PrincipalDep,
           q: Annotated[str, Query(description="a code (prefix), a name or part of an address")],
           district_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
           limit: Annotated[int, Query(description="1 to 100")] = search_service.DEFAULT_LIMIT
           ) -> search_service.SearchResults:
    return search_service.search_results(session, principal, q, district_code=district_code, limit=limit)


@router.get("/units/{code}", summary="A community's or grid's card: 四至, households, staff (public phones), history",
            response_model=UnitCardPublic)
def unit_card(code: str, session: SessionDep) -> search_service.UnitCard:
    return search_service.unit_card(session, code)
