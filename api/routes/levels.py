"""Level-2 grids (微网格): a suggestion inside one level-1 grid, stored as a draft plan.

The work is done by ``gis.services.levels``; the plan is then shown and adopted through the
plan routes like any grid plan (``GET /plans/{id}``, ``POST /plans/{id}/adopt``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES
from api.schemas.plans import MicroSuggestionPublic
from gis.services import levels as level_service
from gis.services.users import require_district

router = APIRouter(tags=["plans"], responses=ERROR_RESPONSES)


class MicroSuggestionRequest(BaseModel):
    grid_code: str = Field(pattern=r"^[0-9]{15}$", description="the level-1 grid to split")
    max: int | None = Field(default=None, ge=1, le=10_000,
                            description="most households per level-2 grid (default WANGGE_MICRO_GRID_MAX_HOUSEHOLDS)")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


@router.post("/plans/micro-suggestions", status_code=201, summary="Suggest level-2 grids (微网格) inside one grid "
                                                                   "from whole buildings, as a draft plan",
             response_model=MicroSuggestionPublic)
def suggest_micro(body: MicroSuggestionRequest, session: SessionDep, settings: SettingsDep,
                  principal: PrincipalDep) -> dict[str, Any]:
    require_district(principal, body.grid_code[:6], "level-2 grid suggestions")
    return level_service.suggest_micro_grids(session, settings, grid_code=body.grid_code, hi=body.max,
                                             seed=body.seed, created_by=principal.user_id or None)
