"""Target groups, supply against demand and full-coverage siting, on the hand-built town and the demo extract."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import coverage_town as town
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from gis.services import boundaries as boundary_service
from gis.services import coverage as coverage_service
from gis.services import districts as district_service
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ids(db: Session) -> dict:
    coverage_service.clear_cache()
    return town.store_town(db)


def add_people(db: Session, building_id: int, ages: list[int]) -> None:
    household = db.execute(text("INSERT INTO household (district_code, building_id, size, synthetic) VALUES "
                                "(:d, :b, :n, true) RETURNING id"),
                           {"d": town.DISTRICT, "b": building_id, "n": len(ages)}).scalar_one()
    today = date.today()
    for i, age in enumerate(ages):
        db.execute(text("INSERT INTO resident (district_code, household_id, building_id, name, sex, birth_date, "
                        "synthetic) VALUES (:d, :h, :b, :n, 'M', :bd, true)"),
                   {"d": town.DISTRICT, "h": household, "b": building_id, "n": f"加{i}",
                    "bd": date(today.year - age, 1, 1)})


def test_target_groups_are_half_open_bands_a_six_year_old_counts_once(db: Session, ids: dict) -> None:
    # The town holds 4, 5, 35 (N), 4, 33 (R), 70, 68 (Q); add every band edge.
    add_people(db, ids["N"], [2, 3, 6, 11, 12, 14, 15, 59, 60])
    report = coverage_service.compute_coverage(
        db, district_code=town.DISTRICT, types=["nursery", "kindergarten", "primary_school", "middle_school",
                                                "elderly_daycare"], store=False)
    target = {code: entry["district"]["target_population"] for code, entry in report["types"].items()}
    # BETWEEN 3 AND 6 / 6 AND 12 / 12 AND 15 counted 5, 3 and 3 here, the 6- and 12-year-olds twice.
    assert target == {"nursery": 1, "kindergarten": 4, "primary_school": 2, "middle_school": 2,
                      "elderly_daycare": 3}
    assert report["population"] == 16


def test_supply_against_demand_ranks_the_shortfall(db: Session, ids: dict) -> None:
    add_people(db, ids["R"], [30] * 38)  # 40 people in the south: 2 kindergarten places needed (30 per 1,000)
    report = coverage_service.supply_demand(db, type_code="kindergarten", district_code=town.DISTRICT)
    kg = report["types"]["kindergarten"]
    rows = kg["communities"]
    assert [r["community_code"] for r in rows] == [town.SOUTH, town.NORTH]
    south, north = rows
    assert (south["residents"], south["places_needed"], south["places_provided"], south["shortfall"]) == (40, 2, 0, 2)
    # F1 and F2 have no recorded capacity: the type default (180 places each), flagged.
    assert north["places_provided"] == 360 and north["facilities_capacity_assumed"] == 2 and north["shortfall"] == 0
    assert "180 places" in kg["capacity_note"]
    assert kg["district"]["shortfall"] == 2 and kg["district"]["places_needed"] == 3
    db.execute(text("UPDATE facility SET capacity = 90 WHERE id = :f"), {"f": ids["F1"]})
    again = coverage_service.supply_demand(db, type_code="kindergarten", district_code=town.DISTRICT, level="street")
    street = again["types"]["kindergarten"]["streets"][0]
    assert street["places_provided"] == 270 and street["facilities_capacity_assumed"] == 1
    whole = coverage_service.supply_demand(db, district_code=town.DISTRICT)
    assert {"kindergarten", "nursery"} <= set(whole["types"]) and "health_station" in whole["no_standard"]
    with pytest.raises(InvalidInput, match="level"):
        coverage_service.supply_demand(db, level="grid", district_code=town.DISTRICT)
    # Per target group: a place for every child of kindergarten age (4 and 5 in N, 4 in R).
    per_child = coverage_service.supply_demand(db, type_code="kindergarten", district_code=town.DISTRICT,
                                               per="target_group")
    needed = {r["community_code"]: r["places_needed"] for r in per_child["types"]["kindergarten"]["communities"]}
    assert needed == {town.NORTH: 2, town.SOUTH: 1}
    everybody = coverage_service.supply_demand(db, district_code=town.DISTRICT, per="target_group")
    assert "health_station" in everybody["no_standard"] and "elderly_daycare" in everybody["types"]
    with pytest.raises(InvalidInput, match="per"):
        coverage_service.supply_demand(db, per="households", district_code=town.DISTRICT)


def lonlat(x: float, y: float) -> tuple[float, float]:
    import geopandas as gpd

    pt = gpd.GeoSeries([town.p(x, y)], crs=town.CRS).to_crs("EPSG:4490").iloc[0]
    return pt.x, pt.y


def test_cover_all_on_the_town_names_sites_and_what_stays_unreachable(db: Session, ids: dict) -> None:
    # Children in N (covered by F2) and R (south of the river, 843 m from F1): one site at R covers it.
    report = coverage_service.cover_all_sites(db, type_code="kindergarten", district_code=town.DISTRICT)
    assert (report["target_buildings"], report["target_buildings_covered_before"]) == (2, 1)
    assert report["sites_needed"] == report["greedy"]["sites_needed"] == 1 and report["unreachable"] == []
    site = report["sites"][0]
    assert (site["building_id"], site["building_name"], site["community_code"], site["community_name"]) == (
        ids["R"], "R", town.SOUTH, "南社区")
    assert report["target_population_covered_after"] == report["target_population"] == 3
    # With one candidate north of the main road, R (190 m away as the crow flies) stays out, and says why.
    north = coverage_service.cover_all_sites(db, type_code="kindergarten", district_code=town.DISTRICT,
                                             candidates=[lonlat(300, 40)])
    assert north["sites_needed"] == 0 and north["unreachable_buildings"] == 1
    row = north["unreachable"][0]
    assert row["building_id"] == ids["R"] and row["community_code"] == town.SOUTH and row["target_population"] == 1
    assert "as the crow flies but none within 300 m on foot" in row["reason"]


def test_cover_all_on_the_demo_is_never_worse_than_greedy_and_covers_everyone_reachable(db: Session) -> None:
    coverage_service.clear_cache()
    district_service.import_osm(db, REPO / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm", district_code="320102",
                                name="玄武区", settings=Settings())
    for level, name in (("street", "xinjiekou_streets"), ("community", "xinjiekou_communities")):
        boundary_service.import_boundaries(db, REPO / "data" / "boundaries" / f"{name}.geojson", level=level)
    for type_code in ("kindergarten", "elderly_daycare"):
        report = coverage_service.cover_all_sites(db, type_code=type_code, district_code="320102")
        assert report["status"] == "optimal"
        assert 0 < report["sites_needed"] <= report["greedy"]["sites_needed"], type_code
        # Everything reachable is covered: what is left out is exactly what no candidate reaches.
        left = report["target_population"] - report["target_population_covered_after"]
        assert left == report["unreachable_target_population"], type_code
        assert all(s["community_code"] for s in report["sites"])
        # An independent check through the MCLP: the chosen sites, given as candidates, cover as much.
        points = [(s["lon"], s["lat"]) for s in report["sites"]]
        check = coverage_service.suggest_sites(db, type_code=type_code, district_code="320102",
                                               k=len(points), candidates=points)
        assert check["greedy"]["target_population_after"] == report["target_population_covered_after"], type_code
