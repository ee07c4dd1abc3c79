"""Walking reach: which active resources serve each open need within a walk, and the needs no resource reaches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import ledgers as rules
from gis.errors import InvalidInput
from gis.services.ledgers.needs import NeedRecord, list_needs
from gis.services.ledgers.resources import RESOURCE_COLUMNS
from gis.services.ledgers.scope import OPEN_STATUSES
from gis.services.users import Principal, require_district

if TYPE_CHECKING:
    from sqlalchemy import RowMapping


class ReachedResource(TypedDict):
    """A resource serving a need's kind within the radius, and how far it is."""

    resource_id: int
    name: str
    provider_kind: str
    unit_name: str | None
    distance_m: float


class NeedReach(TypedDict):
    """One need, the resources that reach it (nearest first), and why the list is what it is."""

    need_id: int
    kind_code: str
    grid_code: str | None
    community_code: str | None
    status: str
    lon: float
    lat: float
    resources: list[ReachedResource]
    reason: str


class NeedsReach(TypedDict):
    """Needs and the resources within a walk of each, for one district (or one community of it)."""

    district_code: str
    community_code: str | None
    radius_m: float
    mode: str
    distance: str
    needs: int
    needs_without_resource: int
    unserved_need_ids: list[int]
    items: list[NeedReach]


_DISTANCE = {
    "network": "walking distance along the street and path network (the coverage engine's)",
    "straight_line": "straight line: the district has no walk network; it overstates reach across main roads and "
                     "rivers",
}


def _district(principal: Principal, district_code: str | None, community_code: str | None) -> str:
    district = district_code or principal.district_code
    if district is None and community_code:
        district = community_code[:6]
    if district is None:
        raise InvalidInput("district_code: needed (the user has no district)", details={"field": "district_code"})
    require_district(principal, district, "needs and resources")
    return district


def _pairs(session: Session, district: str, needs: Sequence[NeedRecord], resources: Sequence[RowMapping],
           radius_m: float) -> tuple[Any, str]:
    """The (need, resource, metres) pairs within ``radius_m``, and whether they were walked or measured straight."""
    import geopandas as gpd

    from gis.services import coverage as coverage_service

    if not needs or not resources:
        return None, "network"
    prepared = coverage_service.prepare_district(session, district)
    need_pts = gpd.GeoSeries(gpd.points_from_xy([n["lon"] for n in needs], [n["lat"] for n in needs]),
                             crs="EPSG:4490").to_crs(prepared.crs).values
    res_pts = gpd.GeoSeries(gpd.points_from_xy([float(r["lon"]) for r in resources],
                                               [float(r["lat"]) for r in resources]),
                            crs="EPSG:4490").to_crs(prepared.crs).values
    if prepared.graph is not None:
        return rules.walking_pairs(prepared.graph, need_pts, res_pts, limit_m=radius_m), "network"
    return rules.straight_line_pairs(need_pts, res_pts, limit_m=radius_m), "straight_line"


def needs_reach(session: Session, principal: Principal, *, community_code: str | None = None,
                district_code: str | None = None, radius_m: float = rules.DEFAULT_WALK_RADIUS_M,
                include_closed: bool = False) -> NeedsReach:
    """Per open need: the resources serving its kind within ``radius_m`` on foot, nearest first; the needs with none.

    Distances come from the coverage engine's network (``gis.services.coverage.prepare_district``,
    cached per network version); a district without a walk network is measured as the crow flies and
    labelled ``straight_line``.
    """
    if not (0 < radius_m <= 5000):
        raise InvalidInput(f"radius_m: more than 0 and at most 5000 m, got {radius_m:g}", details={"field": "radius_m"})
    district = _district(principal, district_code, community_code)
    needs = [n for n in list_needs(session, principal, community_code=community_code, limit=5000)
             if n["district_code"] == district and (include_closed or n["status"] in OPEN_STATUSES)]
    resources = session.execute(text(f"SELECT {RESOURCE_COLUMNS} FROM ledger_resource r LEFT JOIN org_unit o "
                                     "ON o.id = r.org_unit_id WHERE r.district_code = :d AND r.active ORDER BY r.id"),
                                {"d": district}).mappings().all()
    walk, mode = _pairs(session, district, needs, resources, radius_m)
    near: dict[int, list[tuple[int, float]]] = {}
    if walk is not None:
        for k, r, d in zip(walk.need.tolist(), walk.resource.tolist(), walk.distance.tolist(), strict=True):
            if rules.serves(resources[r]["kind_codes"], needs[k]["kind_code"]):
                near.setdefault(k, []).append((r, d))
    items: list[NeedReach] = []
    unserved = []
    for k, n in enumerate(needs):
        found = sorted(near.get(k, []), key=lambda rd: rd[1])
        items.append(NeedReach(
            need_id=n["id"], kind_code=n["kind_code"], grid_code=n["grid_code"], community_code=n["community_code"],
            status=n["status"], lon=n["lon"], lat=n["lat"],
            resources=[ReachedResource(resource_id=int(resources[r]["id"]), name=resources[r]["name"],
                                       provider_kind=resources[r]["provider_kind"],
                                       unit_name=resources[r]["unit_name"], distance_m=round(float(d), 1))
                       for r, d in found],
            reason="resources_within_radius" if found else "no_resource_within_radius"))
        if not found:
            unserved.append(n["id"])
    return {"district_code": district, "community_code": community_code, "radius_m": radius_m, "mode": mode,
            "distance": _DISTANCE[mode], "needs": len(items), "needs_without_resource": len(unserved),
            "unserved_need_ids": unserved, "items": items}
