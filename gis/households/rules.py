"""Whether a building is a home: the kinds, names, tags and areas that decide, and the reason codes.

``decide`` applies the rules of the package docstring, in order, to one building; ``REASONS``
holds each outcome's words in English and Chinese.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the OSM reader passes tags as pyosmium reads them; only .get is used here
    from osmium.osm import TagList


# Building kinds (OSM ``building=*`` values) that are housing.
RESIDENTIAL_KINDS = frozenset(
    {
        "residential", "apartments", "house", "detached", "semidetached_house", "terrace",
        "bungalow", "dormitory", "farm", "cabin", "houseboat", "static_caravan", "stilt_house",
    }
)  # fmt: skip
# Kinds that say nothing about use: housing unless something says otherwise.
UNSPECIFIC_KINDS = frozenset({"yes", "building", ""})
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
KIND_FAMILY: Mapping[str, str] = {
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
FLOORS_FROM = {
    "levels": ("building:levels", "标注层数"),
    "height": ("height {height_m:g} m", "高度 {height_m:g} 米"),
    "neighbours": ("median of {neighbours} neighbours", "周边 {neighbours} 栋同类建筑的中位数"),
    "house_footprint": ("a house-sized footprint", "占地与独栋住宅相当"),
    "default": ("default for the kind", "同类默认值"),
}

EPSILON = 1e-6

# A residential footprint above this many m² holds at least one household.
MIN_DWELLING_FOOTPRINT_M2 = 20.0


class NameRules:
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


DEFAULT_NAMES = NameRules(NON_RESIDENTIAL_NAMES)


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


def decide(
    *, kind: str, raw_kind: str, name: str, location: str, use: str, layer: float, facility: str | None,
    context: str, context_name: str, in_residential: bool | None, area: float, mapped_floors: float,
    rules: NameRules, housing_kinds: frozenset[str], large_single_storey_m2: float, large_footprint_m2: float,
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
    unspecific = raw_kind in UNSPECIFIC_KINDS
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
