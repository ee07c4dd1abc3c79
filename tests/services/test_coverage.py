"""Coverage use cases against the real database: runs stored per building, roll-ups per community,
gaps, siting, what-if, the network cache, straight-line mode and the editable catalogue."""

from __future__ import annotations

from pathlib import Path

import coverage_town as town
import pytest
import shapely
from helpers import count_rows
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.services import boundaries as boundary_service
from gis.services import coverage as coverage_service
from gis.services import districts as district_service
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ids(db: Session) -> dict:
    return town.store_town(db)


def lonlat(x: float, y: float) -> tuple[float, float]:
    import geopandas as gpd

    pt = gpd.GeoSeries([town.p(x, y)], crs=town.CRS).to_crs("EPSG:4490").iloc[0]
    return pt.x, pt.y


def test_compute_stores_a_run_with_walking_distances_per_building(db: Session, ids: dict) -> None:
    # The search reaches three radii (900 m) so that R's 843 m is measured; by default it stops at 600 m.
    report = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"],
                                               limit_factor=3.0)
    assert report["mode"] == "network" and report["network_version"] == 1
    assert report["population_source"] == "residents"
    rows = {r.building_id: r for r in db.execute(text(
        "SELECT building_id, facility_id, distance_m, within_standard, households, target_population "
        "FROM building_coverage WHERE run_id = :r"), {"r": report["run_id"]})}
    assert rows[ids["N"]].distance_m == pytest.approx(152.0, abs=0.1)
    assert rows[ids["N"]].facility_id == ids["F2"] and rows[ids["N"]].within_standard
    assert rows[ids["R"]].distance_m == pytest.approx(843.0, abs=0.1) and rows[ids["R"]].facility_id == ids["F1"]
    assert rows[ids["Q"]].distance_m == pytest.approx(437.0, abs=0.1) and not rows[ids["Q"]].within_standard
    assert [rows[ids[b]].target_population for b in "NRQ"] == [2, 1, 0]
    run = db.execute(text("SELECT district_code, mode, network_version, type_codes, status FROM coverage_run "
                          "WHERE id = :r"), {"r": report["run_id"]}).one()
    assert tuple(run) == (town.DISTRICT, "network", 1, ["kindergarten"], "done")
    default = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"])
    beyond = db.execute(text("SELECT facility_id, distance_m, within_standard FROM building_coverage "
                             "WHERE run_id = :r AND building_id = :b"), {"r": default["run_id"], "b": ids["R"]}).one()
    assert tuple(beyond) == (None, None, False)


def test_rollups_per_community_and_district(db: Session, ids: dict) -> None:
    report = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"])
    kg = report["types"]["kindergarten"]
    assert kg["district"]["households"] == 220 and kg["district"]["households_covered"] == 120
    assert kg["district"]["target_population_covered"] == 2 and kg["district"]["target_population_not_covered"] == 1
    by = {r["community_code"]: r for r in kg["communities"]}
    assert by[town.NORTH]["name"] == "北社区"
    assert (by[town.NORTH]["households_covered"], by[town.NORTH]["households_not_covered"]) == (120, 60)
    assert (by[town.SOUTH]["target_population_covered"], by[town.SOUTH]["target_population_not_covered"]) == (0, 1)
    assert [r["street_code"] for r in kg["streets"]] == [town.STREET]
    assert kg["grids"] == []
    stored = coverage_service.coverage_summary(db, district_code=town.DISTRICT, level="community")
    assert stored["run_id"] == report["run_id"] and not stored["stale"]
    assert stored["types"]["kindergarten"]["rows"] == kg["communities"]


def test_gaps_rank_uncovered_buildings_and_name_their_community(db: Session, ids: dict) -> None:
    report = coverage_service.coverage_gaps(db, district_code=town.DISTRICT, type_code="kindergarten")
    assert report["computed_now"]  # no run yet: one is computed and stored
    assert [(g["target_population"], g["households"], g["building_ids"]) for g in report["gaps"]] == [
        (1, 40, [ids["R"]]), (0, 60, [ids["Q"]])]
    assert report["gaps"][0]["community_code"] == town.SOUTH
    assert report["gaps"][0]["nearest_m"] is None and report["gaps"][1]["nearest_m"] == 437  # None: beyond 600 m
    assert report["uncovered_households"] == 100 and report["uncovered_target_population"] == 1
    outline = shape(report["geojson"]["features"][0]["geometry"])
    assert outline.contains(shapely.Point(report["gaps"][0]["lon"], report["gaps"][0]["lat"]))
    again = coverage_service.coverage_gaps(db, district_code=town.DISTRICT, type_code="kindergarten")
    assert not again["computed_now"] and again["run_id"] == report["run_id"]


def test_the_network_is_cached_until_its_version_changes(db: Session, ids: dict) -> None:
    first = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"], store=False)
    second = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"], store=False)
    assert (first["network_cached"], second["network_cached"]) == (False, True)
    # A changed network (here one edge's cost, edited in place) bumps its layer version; the cached
    # graph must not be used for it.
    db.execute(text("UPDATE walk_edge SET cost = cost WHERE id = (SELECT min(id) FROM walk_edge "
                    "WHERE district_code = :d)"), {"d": town.DISTRICT})
    third = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"])
    assert third["network_cached"] is False and third["network_source"] == "prepared"
    # A facility edit bumps the district's network_version (runs go stale) but not the walk network.
    db.execute(text("UPDATE district SET network_version = network_version + 1 WHERE code = :d"),
               {"d": town.DISTRICT})
    fourth = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"])
    assert fourth["network_cached"] is True and fourth["network_version"] == 2
    assert coverage_service.latest_run(db, town.DISTRICT)["stale"] is False


def test_a_changed_network_is_reloaded_and_walked(db: Session, ids: dict) -> None:
    def q_distance() -> float:
        report = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"],
                                                   limit_factor=5.0)
        return db.execute(text("SELECT distance_m FROM building_coverage WHERE run_id = :r AND building_id = :b"),
                          {"r": report["run_id"], "b": ids["Q"]}).scalar_one()

    assert q_distance() == pytest.approx(437.0, abs=0.1)
    # The street D-B outside Q's gate is closed: the gate now joins C-D, and the walk goes round by C and A,
    # where F1 (south side of the main road, 300 m from A) is now the nearer kindergarten.
    db.execute(text("DELETE FROM walk_edge WHERE source = :d AND target = :b"),
               {"d": ids["nodes"][town.D], "b": ids["nodes"][town.B]})
    db.execute(text("UPDATE district SET network_version = network_version + 1 WHERE code = :d"),
               {"d": town.DISTRICT})
    assert q_distance() == pytest.approx(55 + 50 + 560 + 200 + 300 + 25, abs=0.1)


def test_siting_increases_covered_population_and_exact_is_never_worse(db: Session, ids: dict) -> None:
    report = coverage_service.suggest_sites(db, district_code=town.DISTRICT, type_code="kindergarten", k=1,
                                            exact=True)
    greedy, exact = report["greedy"], report["exact"]
    assert greedy["target_population_before"] == 2
    assert greedy["target_population_after"] == 3  # the one uncovered child, in R
    assert exact["target_population_after"] >= greedy["target_population_after"]
    assert greedy["sites"][0]["newly_covered_target_population"] == 1
    assert greedy["households_covered_after"] > greedy["households_covered_before"] == 120
    assert greedy["sites"][0]["community_code"] == town.SOUTH


def test_capacity_aware_siting_counts_places(db: Session, ids: dict) -> None:
    report = coverage_service.suggest_sites(db, district_code=town.DISTRICT, type_code="kindergarten", k=1,
                                            capacity=1, exact=True)
    # The two existing kindergartens have no recorded capacity: each is assumed to have 1 place.
    assert report["existing_capacity_assumed"] == 2
    assert report["greedy"]["target_population_before"] == 1  # only F2 reaches N's two children
    assert report["exact"]["target_population_after"] == 2


def test_what_if_remove_and_add_without_storing(db: Session, ids: dict) -> None:
    runs = count_rows(db, "coverage_run")
    removed = coverage_service.what_if(db, district_code=town.DISTRICT, type_code="kindergarten", remove=ids["F2"])
    assert (removed["households_covered_before"], removed["households_covered_after"]) == (120, 0)
    assert removed["buildings_losing"] == 1
    added = coverage_service.what_if(db, district_code=town.DISTRICT, type_code="kindergarten",
                                     add=lonlat(600, 150))  # on D-B, right outside Q's gate
    assert added["households_covered_after"] == 180 and added["buildings_gaining"] == 1
    moved = coverage_service.what_if(db, district_code=town.DISTRICT, type_code="kindergarten",
                                     move=(ids["F1"], *lonlat(300, -185)))  # F1 to the south bank, beside R
    assert moved["target_population_covered_after"] == 3
    assert count_rows(db, "coverage_run") == runs
    with pytest.raises(NotFound):
        coverage_service.what_if(db, district_code=town.DISTRICT, type_code="kindergarten", remove=-1)


def test_straight_line_mode_is_labelled_and_overstates(db: Session, ids: dict) -> None:
    report = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"],
                                               mode="straight_line")
    assert report["mode"] == "straight_line" and "straight-line" in report["distance"]
    assert report["types"]["kindergarten"]["district"]["households_covered"] == 220  # on foot: 120
    assert db.execute(text("SELECT mode FROM coverage_run WHERE id = :r"), {"r": report["run_id"]}).scalar() \
        == "straight_line"


def test_a_wider_radius_in_the_catalogue_is_used(db: Session, ids: dict) -> None:
    row = coverage_service.update_facility_type(db, "kindergarten", radius_m=450)
    assert row["radius_m"] == 450
    report = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"])
    assert report["types"]["kindergarten"]["district"]["households_covered"] == 180  # Q at 437 m now counts
    with pytest.raises(InvalidInput, match="level"):
        coverage_service.update_facility_type(db, "kindergarten", level="20min")


def test_isochrones_are_geojson_around_each_facility(db: Session, ids: dict) -> None:
    collection = coverage_service.facility_isochrones(db, district_code=town.DISTRICT, type_code="kindergarten")
    assert [f["properties"]["facility_id"] for f in collection["features"]] == [ids["F1"], ids["F2"]]
    f2 = shape(collection["features"][1]["geometry"])
    assert f2.contains(shapely.Point(*lonlat(420, 12))) and not f2.contains(shapely.Point(*lonlat(300, -25)))


def test_unknown_types_and_districts_are_refused(db: Session, ids: dict) -> None:
    with pytest.raises(InvalidInput, match="unknown facility type kindergartens"):
        coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergartens"])
    with pytest.raises(NotFound, match="999999"):
        coverage_service.compute_coverage(db, district_code="999999")


def test_demo_district_rolls_up_per_community(db: Session) -> None:
    district_service.import_osm(db, REPO / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm", district_code="320102",
                                name="玄武区", settings=Settings())
    for level, name in (("street", "xinjiekou_streets"), ("community", "xinjiekou_communities")):
        boundary_service.import_boundaries(db, REPO / "data" / "boundaries" / f"{name}.geojson", level=level)
    report = coverage_service.compute_coverage(db, district_code="320102",
                                               types=["kindergarten", "health_centre", "food_market"])
    assert report["buildings"] > 900 and report["links_across_barriers"] is not None
    # The demo's hospitals (口腔, 眼科, 八一, 中医院) are no community health centres: nobody is covered.
    health = report["types"].pop("health_centre")
    assert health["facilities"] == 0 and health["district"]["households_covered"] == 0
    for code, entry in report["types"].items():
        communities = entry["communities"]
        # Every community holding a home: 320102003002 (the 新街口 core) holds none under the estimate rules.
        assert len([c for c in communities if c["community_code"]]) == 23, code
        for figure in ("households", "households_covered", "target_population_not_covered"):
            assert sum(c[figure] for c in communities) == entry["district"][figure], (code, figure)
        assert 0 < entry["district"]["households_covered"] < entry["district"]["households"], code
    assert count_rows(db, "building_coverage") == 3 * report["buildings"]
