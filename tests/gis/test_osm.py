"""gis.osm.read_osm on the two real extracts and on broken files (no database)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from gis.errors import InvalidInput
from gis.layers import (
    BARRIER_COLUMNS,
    BUILDING_COLUMNS,
    COMPOUND_COLUMNS,
    EDGE_COLUMNS,
    FACILITY_COLUMNS,
    MAIN_ROAD_CLASSES,
    NODE_COLUMNS,
    STORAGE_CRS,
    DistrictLayers,
)
from gis.osm import BUILDING_OSM_EXTRAS, is_walkable, parse_height, parse_levels, read_osm

DATA = Path(__file__).resolve().parents[2] / "data" / "osm"
NANJING = DATA / "cn_nanjing_xinjiekou_2021.osm"
HELSINKI = DATA / "fi_helsinki_centre_2019.osm.pbf"

# What the reader finds (see the module docstring of gis.osm for the rules).
NANJING_BUILDINGS = 1278  # 1,270 ways + 7 multipolygons libosmium assembles + 1 whose inner way is missing
HELSINKI_INVALID = 12  # rings that are no valid polygon once the nodes missing from the extract are left out
# (12 since parking became a catalogue type: car park way 24336531 self-intersects too)


@pytest.fixture(scope="module")
def nanjing() -> DistrictLayers:
    return read_osm(NANJING)


@pytest.fixture(scope="module")
def helsinki() -> DistrictLayers:
    return read_osm(HELSINKI)


def _check_contract(layers: DistrictLayers) -> None:
    for frame, columns in (
        (layers.buildings, BUILDING_COLUMNS + BUILDING_OSM_EXTRAS),
        (layers.nodes, NODE_COLUMNS),
        (layers.edges, EDGE_COLUMNS),
        (layers.barriers, BARRIER_COLUMNS),
        (layers.compounds, COMPOUND_COLUMNS),
        (layers.facilities, FACILITY_COLUMNS),
    ):
        assert tuple(c for c in frame.columns if c != "geometry") == columns
        assert frame.crs == STORAGE_CRS
        assert frame.geometry.notna().all() and not frame.geometry.is_empty.any()
    assert set(layers.buildings.geom_type) <= {"Polygon", "MultiPolygon"}
    assert layers.buildings.is_valid.all()
    assert layers.land_use is not None and tuple(c for c in layers.land_use.columns if c != "geometry") == (
        "kind", "name", "osm_id")
    assert set(layers.edges.geom_type) == {"LineString"}
    assert set(layers.facilities.geom_type) <= {"Point"}
    assert set(layers.barriers["kind"]) <= {"waterway", "water", "railway"}


def _check_network(layers: DistrictLayers) -> float:
    """Every edge joins two listed nodes at its ends; returns the share of nodes in the largest component."""
    nodes, edges = layers.nodes, layers.edges
    assert nodes["node_id"].is_unique
    ids = nodes["node_id"].to_numpy()
    assert edges["source"].isin(ids).all() and edges["target"].isin(ids).all()
    assert (edges["source"] != edges["target"]).all()
    assert (edges["length_m"] >= 0).all()
    used = np.union1d(edges["source"], edges["target"])
    assert len(used) == len(ids)  # no node without an edge

    where = dict(zip(ids, nodes.geometry.values, strict=True))
    first = shapely.get_point(edges.geometry.values, 0)
    last = shapely.get_point(edges.geometry.values, -1)
    assert all(p.equals(where[s]) for p, s in zip(first, edges["source"], strict=True))
    assert all(p.equals(where[t]) for p, t in zip(last, edges["target"], strict=True))

    # Lengths are metres: compare with a planar measure in the local UTM zone.
    metric = edges.to_crs(edges.estimate_utm_crs())
    np.testing.assert_allclose(edges["length_m"], metric.length, atol=0.5, rtol=2e-3)

    index = {v: i for i, v in enumerate(ids)}
    s = edges["source"].map(index).to_numpy()
    t = edges["target"].map(index).to_numpy()
    graph = sp.coo_matrix((np.ones(len(s)), (s, t)), shape=(len(ids), len(ids)))
    _, labels = connected_components(graph, directed=False)
    return np.bincount(labels).max() / len(ids)


# --------------------------------------------------------------------------- Nanjing


def test_nanjing_layers_follow_the_contract(nanjing: DistrictLayers) -> None:
    _check_contract(nanjing)


def test_nanjing_buildings(nanjing: DistrictLayers) -> None:
    b = nanjing.buildings
    assert len(b) == NANJING_BUILDINGS
    assert abs(len(b) - 1277) <= 0.01 * 1277
    assert b["osm_id"].is_unique
    assert (b["osm_id"] < 0).sum() == 8  # multipolygon relations carry minus their id
    assert (b["kind"] == "yes").sum() > 1000  # 'yes' stays 'yes'
    assert b["households"].isna().all() and b["households_estimated"].isna().all()
    # About 10% of the buildings carry levels (domain §8).
    assert 0.05 < b["levels"].notna().mean() < 0.15
    assert (b["levels"].dropna() >= 1).all()
    assert b["height"].notna().sum() > 0
    assert nanjing.report["incomplete_rings"] == 1  # relation 7098215: its inner way is not in the extract
    assert -7098215 in set(b["osm_id"])


def test_nanjing_kindergarten_tagged_as_school(nanjing: DistrictLayers) -> None:
    f = nanjing.facilities
    kg = f[f["type_code"] == "kindergarten"]
    assert len(kg) >= 1
    row = kg[kg["osm_id"] == 318197098].iloc[0]  # way: amenity=school, name=五老村幼儿园
    assert row["name"] == "五老村幼儿园"
    assert row["classified_by"] == "name"
    text = NANJING.read_text(encoding="utf-8")
    way = text[text.index('<way id="318197098">') :]
    way = way[: way.index("</way>")]
    assert '<tag k="amenity" v="school"/>' in way


def test_nanjing_facilities(nanjing: DistrictLayers) -> None:
    f = nanjing.facilities
    report = nanjing.report
    assert report["facilities"] == f["type_code"].value_counts().to_dict()
    assert {"primary_school", "middle_school", "food_market", "parking", "public_toilet"} <= set(f["type_code"])
    assert set(f["classified_by"]) == {"name", "tag"}
    # A named building is a facility too (石鼓路小学 is only building=yes + name), here the same
    # school as the grounds beside it: one facility, the larger polygon kept.
    assert 680512978 in set(nanjing.buildings["osm_id"]) and 680512978 not in set(f["osm_id"])
    assert (f["name"] == "石鼓路小学").sum() == 1 and 147399444 in set(f["osm_id"])
    # Hospitals (江苏省口腔医院, 眼科医院, 八一医院) are no community health centres unless a city says so.
    assert "health_centre" not in set(f["type_code"])
    assert not f["name"].fillna("").str.contains("医院").any()
    # One facility mapped twice is one: the 南京图书馆 node beside its polygon, the two 五台山体育馆 ways.
    assert report["facility_duplicates_dropped"] >= 2
    assert (f["name"] == "南京图书馆").sum() == 1 and (f["name"] == "五台山体育馆").sum() == 1


def test_nanjing_general_hospitals_counted_where_a_city_says_so() -> None:
    layers = read_osm(NANJING, counts_as={"general_hospital": "health_centre"})
    f = layers.facilities
    centres = set(f.loc[f["type_code"] == "health_centre", "name"].dropna())
    assert {"八一医院", "江苏省中医院"} <= centres
    assert not {"江苏省口腔医院", "南京医科大学眼科医院"} & centres  # specialised: never
    # The 八一医院 node inside the 八一医院 polygon is dropped as a duplicate.
    assert 318197090 in set(f["osm_id"]) and 2153973734 not in set(f["osm_id"])


def test_nanjing_network(nanjing: DistrictLayers) -> None:
    e = nanjing.edges
    assert nanjing.report["edges"] == len(e) > 500
    assert nanjing.report["nodes"] == len(nanjing.nodes)
    main = e[e["is_main_road"]]
    assert len(main) > 50
    assert set(main["highway"]) <= MAIN_ROAD_CLASSES
    assert not (e.loc[~e["is_main_road"], "highway"].isin(list(MAIN_ROAD_CLASSES))).any()
    assert {"footway", "residential", "primary"} <= set(e["highway"])
    assert "中山路" in set(e["name"].dropna())
    assert _check_network(nanjing) > 0.75


def test_nanjing_barriers_and_compounds(nanjing: DistrictLayers) -> None:
    kinds = nanjing.barriers["kind"].value_counts().to_dict()
    assert kinds == {"water": 5, "waterway": 4}  # the metro runs in tunnels: no railway barrier
    assert nanjing.report["barriers"] == kinds
    c = nanjing.compounds
    assert len(c) == 1 and c["name"].iloc[0] == "华侨路二十六号小区"


def test_nanjing_report_and_progress() -> None:
    calls: list[tuple[str, float]] = []
    layers = read_osm(NANJING, progress=lambda stage, fraction: calls.append((stage, fraction)))
    fractions = [f for _, f in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and len(calls) >= 4
    report = layers.report
    for key in ("buildings", "nodes", "edges", "barriers", "compounds", "facilities", "invalid_repaired",
                "invalid_skipped", "elapsed_s"):  # fmt: skip
        assert key in report
    assert report["buildings"] == NANJING_BUILDINGS
    assert report["invalid_repaired"] == report["invalid_skipped"] == 0


def test_reads_gzipped_xml_with_any_name(tmp_path: Path) -> None:
    target = tmp_path / "export.data"
    with NANJING.open("rb") as src, gzip.open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert len(read_osm(target).buildings) == NANJING_BUILDINGS


# --------------------------------------------------------------------------- Helsinki


def test_helsinki_layers_follow_the_contract(helsinki: DistrictLayers) -> None:
    _check_contract(helsinki)


def test_helsinki_invalid_rings_are_counted(helsinki: DistrictLayers) -> None:
    report = helsinki.report
    # The extract drops nodes outside its box; 12 rings are self-intersecting once they are
    # left out: 9 repaired with make_valid, 3 with nothing polygonal left.
    assert report["invalid_repaired"] + report["invalid_skipped"] == HELSINKI_INVALID
    assert report["invalid_repaired"] == 9
    assert report["incomplete_rings"] > 0 and report["incomplete_skipped"] > 0
    assert report["ways_clipped"] > 0
    assert any("Self-intersection" in p for p in report["problems"])
    assert helsinki.buildings.is_valid.all()
    assert len(helsinki.buildings) > 400


def test_helsinki_network(helsinki: DistrictLayers) -> None:
    e = helsinki.edges
    highways = e["highway"].value_counts()
    assert highways["footway"] > 1000
    assert {"steps", "pedestrian", "path", "cycleway"} <= set(highways.index)
    assert "motorway" not in highways.index
    assert _check_network(helsinki) > 0.9


def test_helsinki_facilities_and_barriers(helsinki: DistrictLayers) -> None:
    types = set(helsinki.facilities["type_code"])
    assert "community_service_station" in types
    # The doctors mapped here are private (Mehiläinen, Diacor, a lääkäriasema, a klinikka): none is a
    # community health station, which in Helsinki is the city's terveysasema.
    assert "health_station" not in types
    kinds = helsinki.barriers["kind"].value_counts()
    assert kinds["railway"] > 100  # the tracks into the central station; trams are not barriers
    assert kinds["water"] >= 7


# --------------------------------------------------------------------------- tag rules


def test_parse_levels_and_height() -> None:
    assert parse_levels("6") == 6
    assert parse_levels(" 6+ ") == 6
    assert parse_levels("4;5") == 4
    assert parse_levels("3.5") == 3
    assert parse_levels("B1") is None
    assert parse_levels("") is None and parse_levels(None) is None
    assert parse_levels("9999") is None
    assert parse_height("12") == 12.0
    assert parse_height("12 m") == 12.0
    assert parse_height("12,5m") == 12.5
    assert parse_height("30米") == 30.0
    assert parse_height("40 ft") == pytest.approx(12.192)
    assert parse_height("10'6\"") == pytest.approx(3.2004)
    assert parse_height("tall") is None and parse_height("0") is None


@pytest.mark.parametrize(
    ("tags", "walkable"),
    [
        ({"highway": "footway"}, True),
        ({"highway": "primary"}, True),
        ({"highway": "trunk", "foot": "no"}, False),
        ({"highway": "motorway"}, False),
        ({"highway": "motorway", "foot": "yes"}, True),
        ({"highway": "service", "access": "private"}, False),
        ({"highway": "service", "access": "private", "foot": "designated"}, True),
        ({"highway": "cycleway"}, True),
        ({"highway": "cycleway", "foot": "no"}, False),
        ({"highway": "construction"}, False),
        ({"highway": "pedestrian", "area": "yes"}, False),
        ({"building": "yes"}, False),
    ],
)
def test_is_walkable(tags: dict[str, str], walkable: bool) -> None:
    assert is_walkable(tags) is walkable


# --------------------------------------------------------------------------- bad files


def _raises_naming(path: Path, *words: str) -> str:
    with pytest.raises(InvalidInput) as info:
        read_osm(path)
    message = str(info.value)
    assert path.name in message
    assert "\n" not in message
    for word in words:
        assert word in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    _raises_naming(tmp_path / "nowhere.osm", "not found")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.osm"
    path.write_bytes(b"")
    _raises_naming(path, "empty")


def test_truncated_xml(tmp_path: Path) -> None:
    path = tmp_path / "half.osm"
    data = NANJING.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _raises_naming(path, "truncated")


def test_truncated_pbf(tmp_path: Path) -> None:
    path = tmp_path / "half.osm.pbf"
    data = HELSINKI.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _raises_naming(path, "truncated")


def test_not_an_osm_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.osm"
    path.write_text("name,lon,lat\nschool,118.78,32.04\n", encoding="utf-8")
    _raises_naming(path, "not an OSM file")
    html = tmp_path / "page.osm"
    html.write_text("<html><body>404</body></html>", encoding="utf-8")
    _raises_naming(html, "not a readable OSM file")


def test_directory(tmp_path: Path) -> None:
    _raises_naming(tmp_path, "not a file")


def test_osm_without_buildings_or_ways(tmp_path: Path) -> None:
    path = tmp_path / "trees.osm"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n'
        '  <node id="1" lat="32.04" lon="118.78"><tag k="natural" v="tree"/></node>\n'
        "</osm>\n",
        encoding="utf-8",
    )
    _raises_naming(path, "contains no buildings or walkable ways")


def test_small_file_with_a_bow_tie(tmp_path: Path) -> None:
    """A self-intersecting building ring is repaired and counted; an open one is skipped."""
    nodes = {
        1: (32.0400, 118.7800), 2: (32.0400, 118.7810), 3: (32.0410, 118.7800), 4: (32.0410, 118.7810),
        5: (32.0420, 118.7800), 6: (32.0420, 118.7810), 7: (32.0430, 118.7810),
    }  # fmt: skip
    xml = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    xml += [f'  <node id="{i}" lat="{lat}" lon="{lon}"/>' for i, (lat, lon) in nodes.items()]
    xml += [
        '  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>'
        '<tag k="building" v="yes"/><tag k="name" v="阳光幼儿园"/></way>',
        '  <way id="11"><nd ref="5"/><nd ref="6"/><nd ref="7"/><tag k="building" v="yes"/></way>',
        '  <way id="12"><nd ref="1"/><nd ref="3"/><nd ref="5"/><tag k="highway" v="footway"/></way>',
        '  <way id="13"><nd ref="2"/><nd ref="4"/><nd ref="6"/><nd ref="7"/><tag k="highway" v="residential"/></way>',
        '  <way id="14"><nd ref="3"/><nd ref="4"/><tag k="highway" v="service"/></way>',
        "</osm>",
    ]
    path = tmp_path / "bowtie.osm"
    path.write_text("\n".join(xml), encoding="utf-8")
    layers = read_osm(path)
    report = layers.report
    assert report["invalid_repaired"] == 1 and report["unclosed_skipped"] == 1
    assert len(layers.buildings) == 1
    building = layers.buildings.geometry.iloc[0]
    assert building.is_valid and building.geom_type == "MultiPolygon"  # the two triangles
    assert layers.facilities["type_code"].tolist() == ["kindergarten"]
    # Ways split where they meet way 14: 12 at node 3, 13 at node 4 -> 2 + 2 + 1 edges.
    assert len(layers.edges) == 5
    assert set(layers.nodes["node_id"]) == {1, 2, 3, 4, 5, 7}
