"""Household estimates from building footprints (domain §3), each with its reason.

Households are rarely recorded in OSM-style data. For a building judged to be a home they are
estimated as ``floor(footprint m² × floors × usable_share ÷ mean_dwelling_m2)``, at least one
for a footprint above ``MIN_DWELLING_FOOTPRINT_M2``; every estimate is flagged as one and
carries a reason: a stable code (``REASONS``) and its parameters, which ``describe_reason``
turns into words.

Whether a building is a home
----------------------------
The first rule that applies decides (see ``estimate_households``):

1. a recorded count wins over everything;
2. a facility building (school, clinic: ``non_residential_ids``) is not a home;
3. an underground building (``layer`` or ``level`` below 0, ``location=underground``) is not;
4. a roof, canopy, station or other structure (``STRUCTURE_KINDS``) is not;
5. another non-housing kind (office, school, retail, university ...) is not;
6. a name that says home (宿舍, 公寓, 住宅, 家属院, 小区, 新村, 弄 ...) is; a number alone
   (3号楼, 5栋) says nothing: offices and teaching buildings are numbered the same way;
7. a name that says otherwise (教学楼, 实验, 食堂, 研究所, 大楼, 中心, …厅, …馆, …处 ...) is not;
8. a housing kind (residential, apartments, house, dormitory ...) is;
9. an unspecific building (``building=yes``) with a use tag of its own (amenity, shop, office,
   tourism ...) is not; with ``building:use=residential`` it is;
10. an unspecific building inside a university, college, school, hospital, commercial, retail,
    industrial ... area (``CONTEXT_KINDS``; the smallest area containing it counts, so a
    residential area inside a campus is housing) is not, unless weakly named as a home (…苑,
    …花园, …村);
11. otherwise an unspecific building is a home: in Chinese extracts ``building=yes`` is the
    usual tag of a housing block.

A home whose footprint says it is not flats is then set aside: a single storey over
``large_single_storey_m2`` (a hall, market or works), or an unspecific building of unknown
height over ``large_footprint_m2`` (a mall, a courtyard complex).

Floors: ``levels``, else ``height ÷ storey_height_m``, else (a plain building with a footprint
under ``house_footprint_m2``) the floors of a house, else the median of the buildings of the
same kind (homes among homes) within ``neighbour_radius_m`` whose floors are mapped, else a
default by kind.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.crs import metric_crs_for_frame
from gis.errors import CRSMismatch, InvalidInput

if TYPE_CHECKING:  # the OSM reader passes tags as pyosmium reads them; only .get is used here
    from osmium.osm import TagList

__all__ = [
    "CONTEXT_KINDS",
    "DEFAULT_FLOORS",
    "HOME_CONTEXT_KINDS",
    "MIN_DWELLING_FOOTPRINT_M2",
    "NON_RESIDENTIAL_NAMES",
    "REASONS",
    "RESIDENTIAL_KINDS",
    "STRUCTURE_KINDS",
    "building_use",
    "context_kind",
    "describe_reason",
    "estimate_households",
    "review_concerns",
]

# Building kinds (OSM ``building=*`` values) that are housing.
RESIDENTIAL_KINDS = frozenset(
    {
        "residential", "apartments", "house", "detached", "semidetached_house", "terrace",
        "bungalow", "dormitory", "farm", "cabin", "houseboat", "static_caravan", "stilt_house",
    }
)  # fmt: skip
# Kinds that say nothing about use: housing unless something says otherwise.
_UNSPECIFIC_KINDS = frozenset({"yes", "building", ""})
# Structures nobody lives in; named apart from other non-housing kinds in the reason.
STRUCTURE_KINDS = frozenset(
    {
        "roof", "canopy", "carport", "train_station", "transportation", "bridge", "ruins", "construction",
        "parking", "garage", "garages", "shed", "kiosk", "toilets", "service", "transformer_tower",
        "pavilion", "entrance", "underpass_entrance", "atrium", "ship", "tower", "tent", "grandstand",
        "storage_tank", "silo", "water_tower", "greenhouse", "glasshouse", "hut",
    }
)  # fmt: skip

# Kinds whose floors are alike, for the neighbours' median: blocks of flats (a plain building is
# usually one in Chinese data) and houses.
_KIND_FAMILY: Mapping[str, str] = {
    **dict.fromkeys(("yes", "building", "", "residential", "apartments", "dormitory"), "flats"),
    **dict.fromkeys(("house", "detached", "semidetached_house", "terrace", "bungalow", "farm", "cabin",
                     "static_caravan", "stilt_house"), "houses"),
}

# Floors by kind when neither levels, height nor neighbours tell. Kinds not listed (including
# ``yes``) get ``default_residential_floors``.
DEFAULT_FLOORS: Mapping[str, int] = {
    "house": 2, "detached": 2, "semidetached_house": 2, "farm": 2, "bungalow": 1, "cabin": 1,
    "houseboat": 1, "static_caravan": 1, "terrace": 3,
    "garage": 1, "garages": 1, "carport": 1, "shed": 1, "hut": 1, "kiosk": 1, "roof": 1,
    "toilets": 1, "greenhouse": 1, "service": 1, "transformer_tower": 1,
}  # fmt: skip

# Land use and amenity areas (``key=value``) in which a plain building is not a home.
CONTEXT_KINDS = frozenset(
    {
        "amenity=university", "amenity=college", "amenity=school", "amenity=kindergarten",
        "amenity=hospital", "amenity=clinic", "healthcare=hospital", "healthcare=clinic",
        "amenity=research_institute", "amenity=prison", "amenity=townhall", "amenity=courthouse",
        "amenity=police", "amenity=fire_station", "amenity=place_of_worship", "amenity=marketplace",
        "amenity=bus_station", "amenity=ferry_terminal",
        "landuse=commercial", "landuse=retail", "landuse=industrial", "landuse=railway",
        "landuse=military", "landuse=education", "landuse=religious", "landuse=institutional",
        "landuse=port", "landuse=garages", "landuse=depot", "landuse=cemetery",
        "leisure=stadium", "leisure=sports_centre", "tourism=zoo", "tourism=theme_park",
        "tourism=museum", "tourism=hotel", "aeroway=aerodrome", "power=plant", "power=substation",
        "military=barracks",
    }
)  # fmt: skip
# Areas that make a plain building a home again when they are the smallest area around it
# (staff housing inside a campus).
HOME_CONTEXT_KINDS = frozenset({"landuse=residential"})

_ALL_CONTEXT_KINDS = CONTEXT_KINDS | HOME_CONTEXT_KINDS

# Names that say home; they win over everything but structure, kind and facility rules.
# A number alone (3号楼, 5栋, 2单元) says nothing: offices and teaching buildings are numbered
# the same way (创智天地 1号楼 is offices), so a numbered building follows the other rules.
_HOME_NAME = re.compile(
    r"宿舍|公寓|住宅|家属|居民楼|民居|民宅|别墅|新村|小区|四合院|里弄|\d+弄|"
    r"(?i:apartments?\b|residence|dormitory|\bflats\b|asunto)"
)
# Weaker signs of a home: enough against a campus or commercial context, not against a name.
_WEAK_HOME_NAME = re.compile(r"苑|花园|庭|村|(?i:\bhouse\b)")
# Name fragments that say not a home: teaching, research, offices, shops, public buildings.
NON_RESIDENTIAL_NAMES: tuple[str, ...] = (
    "教学", "教室", "实验", "实训", "研究", "科研", "科技", "科学", "工程", "学院", "大学", "学校", "中学",
    "小学", "幼儿园", "附小", "附中", "图书", "档案", "食堂", "餐厅", "饭店", "酒店", "宾馆", "旅馆", "酒楼",
    "茶楼", "会所", "会堂", "礼堂", "体育", "游泳", "医院", "卫生", "诊所", "门诊", "急诊", "住院", "病房",
    "办公", "行政", "综合楼", "写字楼", "大厦", "大楼", "主楼", "中心", "广场", "商场", "商厦", "商城", "商业",
    "商务", "购物", "超市", "市场", "百货", "银行", "邮政", "邮局", "电信", "公司", "集团", "总部", "厂房",
    "工厂", "车间", "仓库", "仓储", "物流", "变电", "配电", "泵房", "锅炉", "车库", "停车", "加油", "车站",
    "地铁", "火车", "客运", "码头", "机场", "政府", "委员会", "人大", "政协", "法院", "检察", "公安",
    "派出所", "消防", "部队", "局", "教堂", "礼拜", "寺", "庙", "庵", "祠", "博物", "纪念", "展览", "美术",
    "剧院", "影院", "影城", "剧场", "书店", "旧址", "遗址", "厅", "馆", "会议", "培训", "营业", "服务",
    "电器", "家电", "数码", "门楼", "城楼",
)  # fmt: skip
# Endings that say not a home: …处 (an office), …所 (an institute), …系 (a department), …站, …院
# (医院, 学院, 法院, 研究院), …堂, …宫, …门 (a gate), …塔, …亭.
_NON_HOME_SUFFIXES = "处所系站院堂宫门塔亭"
_NON_HOME_LATIN = re.compile(
    r"(?i:hotel|hostel|\bmall\b|office|school|college|universit|institut|hospital|clinic|church|cathedral|"
    r"chapel|temple|mosque|museum|library|theat(?:re|er)|cinema|station|\bbank\b|cent(?:er|re)|market|store|"
    r"restaurant|parking|garage|factory|warehouse|plaza|headquarters|laborator|"
    r"archive|kirkko|hotelli|museo|kirjasto|arkisto|koulu|asema|sairaala|yliopisto|tavaratalo|teatteri|pankki|virasto|"
    r"kauppa|ostoskeskus)"
)
# Tags of a building's own use that make an unspecific building no home.
_USE_KEYS = ("amenity", "shop", "office", "tourism", "healthcare", "craft", "leisure", "man_made",
             "public_transport", "railway", "aeroway", "military", "power", "government")

# Reason codes (stable: stored per building) and their words; ``{…}`` are the stored parameters.
REASONS: Mapping[str, tuple[str, str]] = {
    "recorded": ("recorded count", "登记户数"),
    "home_kind": ("home: building={kind}", "住宅：建筑类型 {kind}"),
    "home_name": ("home: named {match}", "住宅：名称含“{match}”"),
    "home_tag": ("home: tagged {tag}", "住宅：标签 {tag}"),
    "home_default": ("home: building={kind} and nothing says otherwise", "住宅：建筑类型 {kind}，无其他用途迹象"),
    "facility": ("not a home: the building is a facility ({facility})", "非住宅：设施建筑（{facility}）"),
    "underground": ("not a home: underground ({tag})", "非住宅：地下建筑（{tag}）"),
    "structure": ("not a home: building={kind} is a structure", "非住宅：构筑物（{kind}）"),
    "not_home_kind": ("not a home: building={kind}", "非住宅：建筑类型 {kind}"),
    "not_home_name": ("not a home: named {match}", "非住宅：名称含“{match}”"),
    "not_home_tag": ("not a home: tagged {tag}", "非住宅：标签 {tag}"),
    "not_home_context": ("not a home: plain building inside {context} {context_name}",
                         "非住宅：位于{context}{context_name}内的一般建筑"),
    "outside_residential": ("not a home: plain building outside residential land", "非住宅：不在居住用地内的一般建筑"),
    "large_low_footprint": ("not a home: {area_m2:,.0f} m² on one storey is a hall, market or works, not flats",
                            "非住宅：单层 {area_m2:,.0f} 平方米，为厅堂、市场或厂房，不是住宅"),
    "large_footprint": ("not a home: a plain {area_m2:,.0f} m² footprint of unknown height is not one block of flats",
                        "非住宅：占地 {area_m2:,.0f} 平方米且层数不明的一般建筑，不是一栋住宅楼"),
}
_FLOORS_FROM = {
    "levels": ("building:levels", "标注层数"),
    "height": ("height {height_m:g} m", "高度 {height_m:g} 米"),
    "neighbours": ("median of {neighbours} neighbours", "周边 {neighbours} 栋同类建筑的中位数"),
    "house_footprint": ("a house-sized footprint", "占地与独栋住宅相当"),
    "default": ("default for the kind", "同类默认值"),
}

_EPSILON = 1e-6

# A residential footprint above this many m² holds at least one household.
MIN_DWELLING_FOOTPRINT_M2 = 20.0


def estimate_households(
    buildings: gpd.GeoDataFrame,
    *,
    mean_dwelling_m2: float = 90.0,
    usable_share: float = 0.75,
    default_residential_floors: int = 6,
    default_floors: Mapping[str, int] | None = None,
    residential_kinds: Iterable[str] = RESIDENTIAL_KINDS,
    residential_areas: gpd.GeoSeries | gpd.GeoDataFrame | None = None,
    context_areas: gpd.GeoDataFrame | None = None,
    non_residential_ids: Collection[Any] | Mapping[Any, str] | None = None,
    non_residential_names: Iterable[str] = NON_RESIDENTIAL_NAMES,
    storey_height_m: float = 3.0,
    neighbour_radius_m: float = 150.0,
    neighbour_min: int = 2,
    large_single_storey_m2: float = 1500.0,
    large_footprint_m2: float = 5000.0,
    house_footprint_m2: float = 200.0,
    metric_crs: str | None = None,
) -> gpd.GeoDataFrame:
    """Return a copy of ``buildings`` with households, floors and the reason for each estimate.

    Adds or replaces ``households`` (int), ``households_estimated`` (bool), ``floors`` (int,
    the floors used), ``floors_estimated`` (bool), ``floors_source`` (levels | height |
    neighbours | default), ``is_home`` (bool), ``households_reason`` (a code of ``REASONS``)
    and ``households_reason_detail`` (a JSON-able dict of its parameters). The rules are in
    the module docstring.

    Parameters
    ----------
    buildings
        Footprints with a CRS, and optionally ``osm_id``, ``name``, ``kind``, ``levels``,
        ``height``, ``households`` and ``households_estimated`` (``gis.layers.BUILDING_COLUMNS``),
        and the OSM extras ``layer``, ``location`` and ``use`` (the building's own use tag as
        ``key=value``, e.g. ``amenity=bank`` or ``building:use=residential``).
    mean_dwelling_m2, usable_share
        Mean dwelling size and the share of gross floor area that is dwellings.
    default_residential_floors
        Floors of a building of unknown height whose kind is not in ``default_floors``.
    default_floors
        Floors by kind; updates ``DEFAULT_FLOORS``.
    residential_kinds
        Kinds that are housing.
    residential_areas
        Residential land; when given, an unspecific building counts as housing only inside one.
    context_areas
        Land use and amenity areas with a ``kind`` column (``amenity=university``,
        ``landuse=residential`` ...) and optionally ``name``; see ``CONTEXT_KINDS``.
    non_residential_ids
        ``osm_id`` values of buildings known not to be housing (facilities); a mapping gives
        each one's facility type for the reason.
    non_residential_names
        Name fragments that make a building no home (besides the endings …处, …所, …馆 ...).
    storey_height_m
        Height of one storey, to turn a height into floors.
    neighbour_radius_m, neighbour_min
        Floors of a building without levels or height: the median over at least
        ``neighbour_min`` buildings of the same kind within this distance whose floors are mapped.
    large_single_storey_m2, large_footprint_m2
        A home on one mapped storey above the first, or an unspecific building of unknown
        height above the second, is set aside as not flats.
    house_footprint_m2
        An unspecific building of unknown height with a smaller footprint gets the floors of a
        house (``default_floors["house"]``), not those of a block of flats.
    metric_crs
        CRS to measure footprints in; by default the CGCS2000 Gauss-Krüger zone of the data.

    Raises
    ------
    InvalidInput
        A parameter is out of range, or a recorded household count is negative.
    CRSMismatch
        ``buildings`` has no CRS.
    """
    floors_by_kind = _checked_parameters(
        mean_dwelling_m2=mean_dwelling_m2, usable_share=usable_share,
        default_residential_floors=default_residential_floors, default_floors=default_floors,
        storey_height_m=storey_height_m, neighbour_radius_m=neighbour_radius_m, neighbour_min=neighbour_min,
        large_single_storey_m2=large_single_storey_m2, large_footprint_m2=large_footprint_m2,
        house_footprint_m2=house_footprint_m2)
    out = buildings.copy()
    n = len(out)
    if n and out.crs is None:
        raise CRSMismatch("estimate_households: buildings has no CRS; expected e.g. EPSG:4490")

    kind = _text_column(out, "kind")
    levels = _number_column(out, "levels")
    height = _number_column(out, "height")
    area = _footprint_m2(out, metric_crs)

    # Floors mapped on the building itself: levels, else height.
    has_levels = np.isfinite(levels) & (levels >= 1)
    has_height = ~has_levels & np.isfinite(height) & (height > 0)
    mapped = np.where(has_levels, np.floor(levels),
                      np.where(has_height, np.maximum(np.round(height / storey_height_m), 1), np.nan))
    recorded = _checked_records(out)
    has_record = ~np.isnan(recorded)

    home, codes, details = _decisions(
        out, kind, area, mapped, facility_of=_facility_lookup(out, non_residential_ids),
        context_areas=context_areas, residential_areas=residential_areas,
        rules=_NameRules(tuple(non_residential_names)), housing_kinds=frozenset(residential_kinds),
        large_single_storey_m2=large_single_storey_m2, large_footprint_m2=large_footprint_m2)

    # Floors of the rest: neighbours of the same kind (blocks of flats among blocks, houses among
    # houses; homes among homes), else a default.
    group = np.array([f"{h}:{_KIND_FAMILY.get(k, k)}" for h, k in zip(home, kind, strict=True)], dtype=object)
    neighbour_floors, neighbour_count = _neighbour_floors(out, mapped, group, metric_crs, neighbour_radius_m,
                                                          int(neighbour_min))
    default = np.array([int(floors_by_kind.get(k, default_residential_floors)) for k in kind], dtype=np.float64)
    # A plain building with a house-sized footprint is not a block of flats (a six-storey block
    # stands on 300 m² or more): it gets the floors of a house, before any neighbour's.
    unspecific = np.array([k in _UNSPECIFIC_KINDS for k in kind], dtype=bool)
    house_sized = np.isnan(mapped) & unspecific & (area > 0) & (area < house_footprint_m2)
    from_neighbours = np.isnan(mapped) & ~house_sized & np.isfinite(neighbour_floors)
    house_floors = float(floors_by_kind.get("house", 2))
    floors = np.where(np.isfinite(mapped), mapped, np.where(
        house_sized, house_floors, np.where(from_neighbours, neighbour_floors, default)))
    floors = floors.astype(np.int64)
    source = np.where(has_levels, "levels", np.where(has_height, "height", np.where(
        house_sized, "house_footprint", np.where(from_neighbours, "neighbours", "default"))))

    estimate = np.floor(area * floors * usable_share / mean_dwelling_m2 + _EPSILON)
    estimate = np.where(home & (area > MIN_DWELLING_FOOTPRINT_M2), np.maximum(estimate, 1), estimate)
    estimate = np.where(home, estimate, 0).astype(np.int64)

    for i, detail in enumerate(details):
        detail.update(area_m2=round(float(area[i]), 1), floors=int(floors[i]), floors_from=str(source[i]))
        if source[i] == "neighbours":
            detail["neighbours"] = int(neighbour_count[i])
        if source[i] == "height":
            detail["height_m"] = round(float(height[i]), 1)
        if home[i]:
            detail.update(usable_share=usable_share, mean_dwelling_m2=mean_dwelling_m2)
        if has_record[i]:
            detail["estimate"] = int(estimate[i])
            detail["estimate_reason"] = codes[i]
            codes[i] = "recorded"

    out["households"] = np.where(has_record, np.nan_to_num(recorded), estimate).astype(np.int64)
    out["households_estimated"] = ~has_record
    out["floors"] = floors
    out["floors_estimated"] = ~has_levels
    out["floors_source"] = source
    out["is_home"] = home
    out["households_reason"] = codes
    out["households_reason_detail"] = details
    return out


def _checked_parameters(*, mean_dwelling_m2: float, usable_share: float, default_residential_floors: int,
                        default_floors: Mapping[str, int] | None, storey_height_m: float, neighbour_radius_m: float,
                        neighbour_min: int, large_single_storey_m2: float, large_footprint_m2: float,
                        house_footprint_m2: float) -> dict[str, int]:
    """The floors by kind, once every parameter is in range (else an ``InvalidInput`` naming it)."""
    _check_positive(mean_dwelling_m2=mean_dwelling_m2, storey_height_m=storey_height_m,
                    neighbour_radius_m=neighbour_radius_m, large_single_storey_m2=large_single_storey_m2,
                    large_footprint_m2=large_footprint_m2, house_footprint_m2=house_footprint_m2)
    if not 0.0 < usable_share <= 1.0:
        raise InvalidInput(f"usable_share must be in (0, 1]; got {usable_share!r}", details={"field": "usable_share"})
    if int(default_residential_floors) < 1:
        raise InvalidInput(f"default_residential_floors must be at least 1; got {default_residential_floors!r}",
                           details={"field": "default_residential_floors"})
    if int(neighbour_min) < 1:
        raise InvalidInput(f"neighbour_min must be at least 1; got {neighbour_min!r}",
                           details={"field": "neighbour_min"})
    floors_by_kind = {**DEFAULT_FLOORS, **(default_floors or {})}
    bad = {k: v for k, v in floors_by_kind.items() if int(v) < 1}
    if bad:
        raise InvalidInput(f"default_floors must be at least 1 for every kind; got {bad}",
                           details={"field": "default_floors"})
    return floors_by_kind


def _checked_records(out: gpd.GeoDataFrame) -> np.ndarray:
    """Recorded household counts (NaN where none); a negative one is an ``InvalidInput`` naming the building."""
    recorded = _recorded_households(out)
    negative = ~np.isnan(recorded) & (recorded < 0)
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        ident = f"osm_id {out['osm_id'].iloc[row]}" if "osm_id" in out.columns else f"row {row + 1}"
        raise InvalidInput(
            f"estimate_households: building {ident} has households={recorded[row]:g}; expected 0 or more"
        )
    return recorded


def _decisions(out: gpd.GeoDataFrame, kind: list[str], area: np.ndarray, mapped: np.ndarray, *,
               facility_of: list[str | None], context_areas: gpd.GeoDataFrame | None,
               residential_areas: gpd.GeoSeries | gpd.GeoDataFrame | None, rules: _NameRules,
               housing_kinds: frozenset[str], large_single_storey_m2: float,
               large_footprint_m2: float) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    """Per building: whether it is a home, the reason code, and the reason's parameters (``_decide``)."""
    n = len(out)
    name = _text_column(out, "name")
    location = _text_column(out, "location")
    use = _text_column(out, "use")
    layer = _number_column(out, "layer")
    context, context_name = _context(out, context_areas)
    in_residential = _inside(out, residential_areas) if residential_areas is not None else None
    home = np.zeros(n, dtype=bool)
    codes: list[str] = []
    details: list[dict[str, Any]] = []
    for i in range(n):
        code, detail = _decide(
            kind=kind[i] or "yes", raw_kind=kind[i], name=name[i], location=location[i], use=use[i],
            layer=layer[i], facility=facility_of[i], context=context[i], context_name=context_name[i],
            in_residential=None if in_residential is None else bool(in_residential[i]),
            area=float(area[i]), mapped_floors=float(mapped[i]), rules=rules, housing_kinds=housing_kinds,
            large_single_storey_m2=large_single_storey_m2, large_footprint_m2=large_footprint_m2,
        )
        home[i] = code.startswith("home_")
        codes.append(code)
        details.append(detail)
    return home, codes, details


def describe_reason(code: str, detail: Mapping[str, Any] | None = None, *, lang: str = "en") -> str:
    """The reason ``code`` with its stored parameters in words (``lang``: en or zh)."""
    if code not in REASONS:
        return code
    detail = dict(detail or {})
    k = 1 if lang == "zh" else 0
    params = {"kind": "yes", "match": "", "tag": "", "facility": "", "context": "", "context_name": "",
              "area_m2": 0.0, **detail}
    if params["context_name"] and k == 0:
        params["context_name"] = f"({params['context_name']})"
    elif params["context_name"]:
        params["context_name"] = f"（{params['context_name']}）"
    text = REASONS[code][k].format(**params)
    if code == "recorded":
        who = detail.get("by")
        why = detail.get("why")
        if who or why:
            text += (f" (由 {who}：{why})" if k else f" (by {who}: {why})") if who else f" ({why})"
        if "estimate" in detail:
            text += (f"；估算为 {detail['estimate']} 户" if k else f"; the estimate was {detail['estimate']}")
        return text
    if code.startswith("home_") and "floors" in detail:
        how = _FLOORS_FROM.get(str(detail.get("floors_from")), ("", ""))[k].format(
            height_m=detail.get("height_m", 0.0), neighbours=detail.get("neighbours", 0))
        area, floors = detail.get("area_m2", 0.0), detail["floors"]
        share, mean = detail.get("usable_share", 0.75), detail.get("mean_dwelling_m2", 90.0)
        if k:
            text += f"；{area:,.0f} 平方米 × {floors} 层（{how}）× {share:g} ÷ {mean:g} 平方米"
        else:
            text += f"; {area:,.0f} m² × {floors} floors ({how}) × {share:g} ÷ {mean:g} m²"
    return text


def review_concerns(
    *, households: int, code: str, detail: Mapping[str, Any] | None, name: str | None,
    large_households: int = 300, large_footprint_m2: float = 5000.0,
) -> list[str]:
    """Why a person should look at an estimated home: name, context, size or footprint against it.

    Codes: ``name_says_not_home`` (the name matches a non-home fragment although another rule
    made it a home), ``context_says_not_home`` (it lies in a campus, hospital, commercial ...
    area), ``large_estimate`` (``large_households`` or more), ``large_footprint``, and
    ``floors_guessed`` (no levels or height on a building of 100 households or more).
    """
    detail = detail or {}
    if households <= 0 or not code.startswith("home_"):
        return []
    concerns = []
    if name and _DEFAULT_NAMES.non_home(name):
        concerns.append("name_says_not_home")
    if detail.get("context") in CONTEXT_KINDS:
        concerns.append("context_says_not_home")
    if households >= large_households:
        concerns.append("large_estimate")
    if float(detail.get("area_m2", 0.0)) >= large_footprint_m2:
        concerns.append("large_footprint")
    if detail.get("floors_from") in ("neighbours", "default") and households >= 100:
        concerns.append("floors_guessed")
    return concerns


# --------------------------------------------------------------------------- the decision


class _NameRules:
    """Name tests: strong and weak home names, and non-home fragments, endings and Latin words."""

    def __init__(self, fragments: tuple[str, ...]) -> None:
        self.fragments = re.compile("|".join(map(re.escape, fragments))) if fragments else None

    @staticmethod
    def home(name: str) -> str | None:
        m = _HOME_NAME.search(name)
        return m.group(0) if m else None

    @staticmethod
    def weak_home(name: str) -> str | None:
        m = _WEAK_HOME_NAME.search(name)
        return m.group(0) if m else None

    def non_home(self, name: str) -> str | None:
        if not name:
            return None
        if self.fragments is not None:
            m = self.fragments.search(name)
            if m:
                return m.group(0)
        # An ending names the building's use: 财务处, 研究所, 化学系, 教堂, 南门 (not 住宅楼).
        stripped = re.sub(r"[\s\d()（）A-Za-z#\-]+$", "", name)
        if stripped and stripped[-1] in _NON_HOME_SUFFIXES:
            return "…" + stripped[-1]
        m = _NON_HOME_LATIN.search(name)
        return m.group(0) if m else None


_DEFAULT_NAMES = _NameRules(NON_RESIDENTIAL_NAMES)


def building_use(tags: Mapping[str, str]) -> str:
    """The building's own use tag as ``key=value`` (``building:use`` first), or ''."""
    for key in ("building:use", "residential", *_USE_KEYS):
        value = tags.get(key)
        if value and value != "no":
            return f"{key}={value}"
    return ""


def context_kind(tags: Mapping[str, str] | TagList) -> str:
    """The ``key=value`` that makes an area a context for the buildings in it, or ''."""
    for key in ("amenity", "healthcare", "landuse", "leisure", "tourism", "aeroway", "power", "military"):
        value = tags.get(key)
        if value and f"{key}={value}" in _ALL_CONTEXT_KINDS:
            return f"{key}={value}"
    return ""


def _decide(
    *, kind: str, raw_kind: str, name: str, location: str, use: str, layer: float, facility: str | None,
    context: str, context_name: str, in_residential: bool | None, area: float, mapped_floors: float,
    rules: _NameRules, housing_kinds: frozenset[str], large_single_storey_m2: float, large_footprint_m2: float,
) -> tuple[str, dict[str, Any]]:
    """The reason code for one building and its parameters (floors are added later)."""
    base: dict[str, Any] = {"kind": kind}
    if context:
        base.update(context=context, context_name=context_name)
    if facility is not None:
        return "facility", {**base, "facility": facility}
    if np.isfinite(layer) and layer < 0:
        return "underground", {**base, "tag": f"layer={layer:g}"}
    if location in ("underground", "subway"):
        return "underground", {**base, "tag": f"location={location}"}
    if kind in STRUCTURE_KINDS:
        return "structure", base
    unspecific = raw_kind in _UNSPECIFIC_KINDS
    if not unspecific and kind not in housing_kinds:
        return "not_home_kind", base

    home_match = rules.home(name) if name else None
    non_home = rules.non_home(name) if name else None
    if home_match:
        code, detail = "home_name", {**base, "match": home_match}
        if non_home:
            detail["non_home_match"] = non_home
    elif non_home:
        return "not_home_name", {**base, "match": non_home}
    elif kind in housing_kinds:
        code, detail = "home_kind", base
    elif use.startswith(("building:use=residential", "building:use=apartments", "residential=")):
        code, detail = "home_tag", {**base, "tag": use}
    elif use:
        return "not_home_tag", {**base, "tag": use}
    else:
        weak = rules.weak_home(name) if name else None
        if context in CONTEXT_KINDS and not weak:
            return "not_home_context", base
        if in_residential is False and not weak:
            return "outside_residential", base
        code, detail = ("home_name", {**base, "match": weak}) if weak else ("home_default", base)

    # The footprint may still say these are not flats.
    if np.isfinite(mapped_floors) and mapped_floors <= 1 and area > large_single_storey_m2:
        return "large_low_footprint", {**detail, "area_m2": area}
    if unspecific and code == "home_default" and not np.isfinite(mapped_floors) and area > large_footprint_m2:
        return "large_footprint", {**detail, "area_m2": area}
    return code, detail


# --------------------------------------------------------------------------- helpers


def _check_positive(**values: float) -> None:
    for key, value in values.items():
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
            raise InvalidInput(f"{key} must be a positive number; got {value!r}")


def _text_column(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame.columns:
        return [""] * len(frame)
    return ["" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v) for v in frame[column]]


def _number_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def _recorded_households(frame: pd.DataFrame) -> np.ndarray:
    """Recorded counts as floats, NaN where there is none (or only an earlier estimate)."""
    recorded = _number_column(frame, "households")
    if "households_estimated" in frame.columns:
        flagged = frame["households_estimated"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        recorded = np.where(flagged, np.nan, recorded)
    return recorded


def _facility_lookup(frame: pd.DataFrame, ids: Collection[Any] | Mapping[Any, str] | None) -> list[str | None]:
    if not ids or "osm_id" not in frame.columns:
        return [None] * len(frame)
    types = ids if isinstance(ids, Mapping) else dict.fromkeys(ids, "facility")
    return [types.get(v) if v is not None and v is not pd.NA else None for v in frame["osm_id"].tolist()]


def _context(frame: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None) -> tuple[list[str], list[str]]:
    """The kind and name of the smallest context area each building's representative point lies in."""
    n = len(frame)
    kinds, names = [""] * n, [""] * n
    if areas is None or len(areas) == 0 or n == 0:
        return kinds, names
    if areas.crs is not None and frame.crs is not None and areas.crs != frame.crs:
        areas = areas.to_crs(frame.crs)
    ok = ~(areas.geometry.isna().to_numpy() | areas.geometry.is_empty.to_numpy())
    areas = areas[ok]
    if len(areas) == 0:
        return kinds, names
    polys = areas.geometry.values
    size = shapely.area(polys)
    area_kind = _text_column(areas, "kind")
    area_name = _text_column(areas, "name")
    points = shapely.point_on_surface(frame.geometry.values)
    hit_b, hit_a = shapely.STRtree(np.asarray(polys)).query(points, predicate="within")
    best: dict[int, int] = {}
    for b, a in zip(hit_b.tolist(), hit_a.tolist(), strict=True):
        if b not in best or size[a] < size[best[b]]:
            best[b] = a
    for b, a in best.items():
        kinds[b], names[b] = area_kind[a], area_name[a]
    return kinds, names


def _neighbour_floors(frame: gpd.GeoDataFrame, mapped: np.ndarray, group: np.ndarray, metric_crs: str | None,
                      radius_m: float, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    """Median mapped floors of the same group within ``radius_m`` (NaN when fewer than ``minimum``)."""
    n = len(frame)
    result, count = np.full(n, np.nan), np.zeros(n, dtype=np.int64)
    known = np.flatnonzero(np.isfinite(mapped))
    wanted = np.flatnonzero(~np.isfinite(mapped))
    if len(known) == 0 or len(wanted) == 0:
        return result, count
    geoms = frame.geometry.to_crs(metric_crs or metric_crs_for_frame(frame)).values
    valid = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    centres = shapely.centroid(geoms)
    known = known[valid[known]]
    wanted = wanted[valid[wanted]]
    if len(known) == 0 or len(wanted) == 0:
        return result, count
    tree = shapely.STRtree(centres[known])
    qi, ki = tree.query(centres[wanted], predicate="dwithin", distance=radius_m)
    found: dict[int, list[float]] = {}
    for q, k in zip(qi.tolist(), ki.tolist(), strict=True):
        w, other = wanted[q], known[k]
        if group[w] == group[other]:
            found.setdefault(w, []).append(mapped[other])
    for w, values in found.items():
        if len(values) >= minimum:
            result[w] = max(1.0, float(np.round(np.median(values))))
            count[w] = len(values)
    return result, count


def _inside(frame: gpd.GeoDataFrame, areas: gpd.GeoSeries | gpd.GeoDataFrame) -> np.ndarray:
    """Whether each building's representative point lies in one of ``areas``."""
    series = areas.geometry if isinstance(areas, gpd.GeoDataFrame) else areas
    if not isinstance(series, gpd.GeoSeries):
        series = gpd.GeoSeries(series)
    if series.crs is not None and frame.crs is not None and series.crs != frame.crs:
        series = series.to_crs(frame.crs)
    polygons = series.values[~(series.isna().to_numpy() | series.is_empty.to_numpy())]
    if len(polygons) == 0:
        return np.zeros(len(frame), dtype=bool)
    points = shapely.point_on_surface(frame.geometry.values)
    tree = shapely.STRtree(np.asarray(polygons))
    hit, _ = tree.query(points, predicate="within")
    inside = np.zeros(len(frame), dtype=bool)
    inside[hit] = True
    return inside


def _footprint_m2(frame: gpd.GeoDataFrame, metric_crs: str | None) -> np.ndarray:
    """Footprint areas in m² (0 for missing or empty geometries), measured in a metric CRS."""
    if len(frame) == 0:
        return np.zeros(0)
    # The shared helper picks the CGCS2000 Gauss-Krüger zone in China.
    crs = metric_crs or metric_crs_for_frame(frame)
    area = frame.geometry.to_crs(crs).area.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.nan_to_num(area, nan=0.0)
