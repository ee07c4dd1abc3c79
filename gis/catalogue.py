"""The facility catalogue of the life circles (GB 50180-2018), as editable data.

The defaults ship as ``gis/data/facility_catalogue.csv``; a deployment can point
``load_catalogue`` at its own copy. Classification looks at the Chinese name first,
because OSM often tags a 幼儿园 as ``amenity=school``; tags decide only when the name
says nothing.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import shapely

from gis.errors import InvalidInput

DEFAULT_CATALOGUE = Path(__file__).parent / "data" / "facility_catalogue.csv"

LEVELS = ("5min", "10min", "15min", "block")
TARGET_GROUPS = ("all", "age_0_3", "age_3_6", "school_age", "age_12_15", "age_60_plus")

# Target groups as half-open bands [low, high) on completed years of age, each defined once
# here (domain.md §4, after GB 50180-2018 and the school system: 托育 0-2, 学前三年 3-5,
# 小学六年 6-11, 初中三年 12-14, 老年人 60+). The codes keep their historical names, which read
# as half-open ranges: ``age_3_6`` is 3, 4 and 5. High None: no upper bound. The bands of the
# children's groups never overlap, so a 6-year-old is counted once, as of primary-school age.
TARGET_BANDS: dict[str, tuple[int, int | None]] = {
    "all": (0, None),
    "age_0_3": (0, 3),  # nursery (托儿所): 0-2
    "age_3_6": (3, 6),  # kindergarten (幼儿园): 3-5
    "school_age": (6, 12),  # primary school (小学): 6-11
    "age_12_15": (12, 15),  # middle school (初中): 12-14
    "age_60_plus": (60, None),  # elderly day-care and homes: 60+
}


def is_in_band(age: int, group: str) -> bool:
    """Whether someone of ``age`` completed years belongs to target ``group``."""
    low, high = TARGET_BANDS[group]
    return age >= low and (high is None or age < high)


@dataclass(frozen=True)
class FacilityType:
    """One catalogue row: what a facility is and how far people should walk to it."""

    code: str
    name_zh: str
    name_en: str
    level: str
    radius_m: float
    target_group: str
    capacity_per_1000: float | None = None
    default_capacity: int | None = None  # places assumed where a facility's capacity is unknown
    name_patterns: tuple[str, ...] = field(default=())
    osm_tags: tuple[tuple[str, str], ...] = field(default=())


def load_catalogue(path: Path | str | None = None) -> dict[str, FacilityType]:
    """Read a catalogue CSV (the shipped defaults when ``path`` is None), keyed by type code."""
    return dict(_load(Path(path) if path else DEFAULT_CATALOGUE))


@lru_cache(maxsize=8)
def _load(path: Path) -> tuple[tuple[str, FacilityType], ...]:
    rows = []
    with path.open(encoding="utf-8", newline="") as fh:
        for lineno, row in enumerate(csv.DictReader(fh), start=2):
            if row["level"] not in LEVELS:
                raise ValueError(f"{path}:{lineno}: level {row['level']!r} is not one of {LEVELS}")
            if row["target_group"] not in TARGET_GROUPS:
                raise ValueError(
                    f"{path}:{lineno}: target_group {row['target_group']!r} is not one of {TARGET_GROUPS}"
                )
            tags = tuple(
                tuple(t.split("=", 1)) for t in row["osm_tags"].split("|") if t
            )
            rows.append(
                (
                    row["code"],
                    FacilityType(
                        code=row["code"],
                        name_zh=row["name_zh"],
                        name_en=row["name_en"],
                        level=row["level"],
                        radius_m=float(row["radius_m"]),
                        target_group=row["target_group"],
                        capacity_per_1000=float(row["capacity_per_1000"]) if row["capacity_per_1000"] else None,
                        default_capacity=int(row["default_capacity"]) if row.get("default_capacity") else None,
                        name_patterns=tuple(p for p in row["name_patterns"].split("|") if p),
                        osm_tags=tags,
                    ),
                )
            )
    return tuple(rows)


# --- classification rules ------------------------------------------------------------------
#
# What a facility is *not* (domain.md §4, issue 19). Each rule is (reason, pattern, requires,
# unless): a name matching ``pattern`` (and ``requires`` when given) but not ``unless`` is no
# catalogue facility, for that reason. The rules run before the catalogue's own name patterns,
# so that 金陵高级中学 is never caught by 中学, 江苏省口腔医院 never by 医院, 秦淮区妇幼保健所
# never by a clinic tag. Decisions worth knowing:
# - A 完全中学 (junior and senior years) teaches the 初中 years: it is a middle school. A name
#   saying 高中/高级中学 only, or 附中/附属中学 (most are senior high schools), is neither a
#   middle nor a primary school unless it also says 初中/初级中学/初一–初三/小学.
# - 中医院/中医医院 and 中西医结合医院 are general hospitals in the Chinese classification
#   (综合医院, 中医医院, 专科医院 are separate kinds): with specialised hospitals they are not
#   community health centres; a general one counts as one only where a city says so (counts_as).
# - A tag never makes a street office (office=government is every ministry and bureau); a name does.
GENERAL_HOSPITAL = "general_hospital"
COUNTS_AS_KEYS = (GENERAL_HOSPITAL,)

_HEALTH_SERVICE = "卫生服务站|卫生服务中心|社区医院|卫生院|卫生站|卫生室"
_MEDICAL = "医院|病院|医疗|医学|专科|诊|保健|卫生|防治|中心|医"
_SCHOOL_STAGE = "初中|初级中学|初[一二三]|中学部|小学|附小|幼儿园|托儿所|附属学校|实验学校|九年|一贯制"
# Communities are often named after a university (…大学社区居委会): that is no college.
_COMMUNITY = "社区|居委会|居民委员会"

_RULES: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("part of a school or hospital (a canteen, office, gate or building of it)",
     r"(小学|中学|初中|高中|幼儿园|学校|大学|学院|医院).*(食堂|餐厅|招生办|办公室|教学楼|办公楼|宿舍|书院|[东南西北大校侧后正]门|楼)$",
     None, None),
    ("specialised hospital, not a community health centre",
     r"口腔|牙科|齿科|眼科|眼视光|耳鼻|肿瘤|癌|妇幼|妇产|产科|妇女|儿童医院|精神|心理|脑科|传染|感染|结核|肺科|胸科|"
     r"骨科|骨伤|皮肤|性病|整形|美容|康复医院|男科|不孕|肛肠|血液|心血管|心脏|肾病|糖尿病|职业病|疗养|疾病预防|疾控|血站|急救",
     _MEDICAL, _HEALTH_SERVICE),
    (GENERAL_HOSPITAL, r"医院|病院|医疗中心|总院", None, _HEALTH_SERVICE),
    ("private clinic or unit clinic, not a community health station",
     r"诊所|门诊|医务室|卫生所|保健部|保健所|保健站|中医馆|国医馆|体检|药店|药房|大药", None, _HEALTH_SERVICE),
    ("police post or bureau, not a police station (派出所)",
     r"警务|警亭|岗亭|公安局|公安分局|交警|交通警察|巡警|特警|消防|看守所|监狱", None, "派出所"),
    ("welfare home, not an elderly home", r"福利院|儿童福利|救助站|救助管理|孤儿", None, "养老院|敬老院"),
    ("senior high school, college or other school outside the compulsory years",
     r"高中|高级中学|附中|附属中学|中等专业|中专|职业|职校|技校|技工|技术学校|大学|学院|党校|进修|培训|"
     r"音乐学校|艺术学校|体育运动学校|体校|少年宫|青少年宫|师范|驾校",
     None, f"{_SCHOOL_STAGE}|{_COMMUNITY}|{_HEALTH_SERVICE}"),
    ("sports venue outside the life circles (shooting, bowling, billiards)",
     r"射击|射箭|保龄|台球|桌球|棋牌|卡丁|高尔夫|电竞|马术", None, None),
    ("a hotel's or club's sports venue, not open to residents", r"宾馆|酒店|饭店|会所",
     r"体育|运动|健身|游泳|泳池|球|场|馆", None),
    ("private or depot parking", r"教职工|员工|内部|职工|公交|公共交通|专用", "停车", None),
    # Finnish, Swedish and English names (the Helsinki extract). A university's library, gym or
    # building serves its students, and the national library is a research library: none is a
    # residents' culture station or sports ground. Private practices (lääkäriasema, klinikka,
    # dentists, therapists, imaging) are no community health station; a public one is a terveysasema.
    ("a university's or national library or sports service, not a residents' facility",
     r"(?i:yliopisto|korkeakoulu|universit|högskola|unisport|kansalliskirjasto|nationalbibliotek|national library)",
     None, None),
    ("a private practice, dentist or imaging unit, not a community health station",
     r"(?i:lääkäriasema|läkarstation|lääkärikeskus|klinikka|klinik|clinic|röntgen|hammas|tandläkar|dental|dentist|"
     r"terapeut|terapia|hypno|osteopa|fysioterap)",
     None, r"(?i:terveysasema|hälsostation)"),
    ("a commercial gym or studio, not a mid-size sports ground",
     r"(?i:fitness|studio|kuntosali|crossfit|jooga|yoga|pilates)", None, None),
    ("a shop of another kind (bicycles, a brand's store)",
     r"自行车|单车|专卖|(?i:bicycle|bike|speciality store|specialty store)", None, None),
)
_COMPILED = tuple((reason, re.compile(p), re.compile(r) if r else None, re.compile(u) if u else None)
                  for reason, p, r, u in _RULES)

# Tag evidence that overrides the catalogue's tag rules.
_NOT_FACILITY_KEYS = ("highway", "railway", "waterway", "place", "boundary", "public_transport", "route")
_EXCLUDED_SPORTS = {"shooting", "archery", "bowling", "10pin", "9pin", "billiards", "snooker", "darts",
                    "paintball", "karting", "motor", "golf", "equestrian", "horse_racing"}
_FOOD_AMENITIES = {"restaurant", "fast_food", "cafe", "bar", "pub", "food_court", "ice_cream"}
_HOSPITAL_TAGS = (("amenity", "hospital"), ("healthcare", "hospital"), ("building", "hospital"))
_SCHOOL_BUILDINGS = {"school", "university", "college"}
_SCHOOL_TYPES = {"kindergarten", "nursery", "primary_school", "middle_school"}
_FOOD_WORDS = re.compile("菜|肉|农贸|集贸|生鲜|水产|果蔬|副食|食品|粮|鲜|market|Market|(?i:kauppahall|saluhall)")
# School stages in Finnish, Swedish and English names. A peruskoulu/grundskola teaches years 1-9
# in one school, like a 九年一贯制学校, and counts as a primary school as those do; a name saying
# both stages (ala- ja yläkoulu) is primary too, for the same reason.
_LATIN_BEYOND_COMPULSORY = re.compile(
    r"(?i:lukio|gymnasi|yliopisto|korkeakoulu|ammattiopisto|ammattikoulu|högskola|universit|college|yrkes|"
    r"senior high|high school|upper secondary)")
_LATIN_PRIMARY = re.compile(r"(?i:ala-aste|alakoulu|lågstadi|peruskoulu|grundskola|primary|elementary|comprehensive)")
_LATIN_MIDDLE = re.compile(r"(?i:yläaste|yläkoulu|högstadi|middle school|junior high|lower secondary)")
# In Finland public primary care is the municipality's terveysasema; every other doctor or clinic
# tag on a Finnish, Swedish or English name is a private practice.
_PUBLIC_HEALTH = re.compile(r"(?i:terveysasema|hälsostation|health station|health centre|health center)")
_MUNICIPAL = re.compile(r"(?i:kaupunki|kunta|stad\b|kommun|city of)")
_CJK = re.compile(r"[\u3400-\u9fff]")
_CHILD_FOR = {"child", "children", "juvenile", "youth"}
# A school named like 南京五中 or 三中金銮校区 (第五中学 for short), or a campus of 初一–初三.
_SHORT_MIDDLE = re.compile(r"[一二三四五六七八九十]+中(?![心山华国央路街])|初[一二三]")
_NOT_PUBLIC = {"private", "no", "customers", "permit", "employees", "delivery"}
# A shop's toilet or a mall's car park serves its customers; a paid court still serves residents.
_CUSTOMERS_ONLY = {"parking", "toilets", "charging_station"}


@dataclass(frozen=True)
class Classification:
    """What an OSM object is: a catalogue type (or None), how that was decided and why."""

    type_code: str | None
    by: str  # "name" | "tag" | "" (no facility)
    reason: str


def explain_facility(
    tags: Mapping[str, str],
    catalogue: Mapping[str, FacilityType] | None = None,
    *,
    counts_as: Mapping[str, str] | None = None,
) -> Classification:
    """Classify an OSM object and say why: the rule that excluded it, or the pattern or tag that matched."""
    cat = catalogue if catalogue is not None else load_catalogue()
    counts = _check_counts_as(counts_as or {}, cat)
    name = tags.get("name:zh") or tags.get("name") or ""
    none = Classification(None, "", "")
    if any(k in tags for k in _NOT_FACILITY_KEYS) or tags.get("landuse") == "residential":
        # A road named 小学路, a bus stop named 肺科医院, a 小区 named after a school.
        return Classification(None, "", "a road, stop, place or residential area, not a facility")
    if tags.get("sport") in _EXCLUDED_SPORTS:
        return Classification(None, "", f"sport={tags['sport']} is no life-circle sports ground")
    access = tags.get("access")
    if access in _NOT_PUBLIC and (access != "customers" or tags.get("amenity") in _CUSTOMERS_ONLY):
        return Classification(None, "", f"access={access}: not open to residents")
    if name:
        for reason, pattern, requires, unless in _COMPILED:
            hit = pattern.search(name)
            if hit and (requires is None or requires.search(name)) and not (
                    unless is not None and unless.search(name)):
                if reason == GENERAL_HOSPITAL:
                    return _general_hospital(counts, "name")
                return Classification(None, "", f"{reason}: {hit.group(0)!r} in {name!r}")
    best: tuple[int, str, str] | None = None
    for ft in cat.values():
        for word in ft.name_patterns:
            if word in name and (best is None or len(word) > best[0]):
                best = (len(word), ft.code, word)
    if best is not None:
        return _guard(tags, Classification(best[1], "name", f"name contains {best[2]!r}"))
    if name == "" or not any(w in name for w in ("医院", "病院")):
        if any(tags.get(k) == v for k, v in _HOSPITAL_TAGS):
            return _general_hospital(counts, "tag")
    if tags.get("amenity") == "marketplace" and name and not _FOOD_WORDS.search(name):
        return Classification(None, "", f"a market named {name!r} sells no food by its name")
    for ft in cat.values():
        for key, value in ft.osm_tags:
            if tags.get(key) == value:
                return _guard(tags, Classification(ft.code, "tag", f"{key}={value}"))
    if tags.get("amenity") == "school" and name and not _CJK.search(name):
        if beyond := _LATIN_BEYOND_COMPULSORY.search(name):
            return Classification(None, "", f"upper secondary or higher school: {beyond.group(0)!r} in {name!r}")
        if (primary := _LATIN_PRIMARY.search(name)) and "primary_school" in cat:
            return _guard(tags, Classification("primary_school", "name", f"name contains {primary.group(0)!r}"))
        if (middle := _LATIN_MIDDLE.search(name)) and "middle_school" in cat:
            return _guard(tags, Classification("middle_school", "name", f"name contains {middle.group(0)!r}"))
        levels = {v.strip()[:1] for v in tags.get("isced:level", "").replace(",", ";").split(";") if v.strip()}
        if levels and levels <= set("345678"):
            return Classification(None, "", f"isced:level={tags['isced:level']}: beyond the compulsory years")
        if "1" in levels and "primary_school" in cat:
            return _guard(tags, Classification("primary_school", "tag", "isced:level 1"))
    if tags.get("amenity") == "school":
        # A school whose name tells no stage: 南京五中 is a middle school, isced level 2 too, else primary.
        if _SHORT_MIDDLE.search(name) or tags.get("isced:level", "").startswith("2"):
            if "middle_school" in cat:
                return _guard(tags, Classification("middle_school", "tag" if not name else "name",
                                                   "a middle school by its short name or isced:level"))
        if "primary_school" in cat:
            return _guard(tags, Classification("primary_school", "tag", "amenity=school telling no stage"))
    return none


def _guard(tags: Mapping[str, str], found: Classification) -> Classification:
    """Tag evidence against a match: a restaurant or a school's building is not another facility."""
    name = tags.get("name:zh") or tags.get("name") or ""
    if found.type_code == "health_station" and found.by == "tag" and name and not _CJK.search(name) and not (
            _PUBLIC_HEALTH.search(name) or _MUNICIPAL.search(tags.get("operator", ""))):
        return Classification(None, "", f"{name!r} says no terveysasema and no municipality runs it: "
                                        "a private practice")
    if found.type_code == "elderly_daycare" and tags.get("social_facility:for") in _CHILD_FOR:
        return Classification(None, "", f"social_facility:for={tags['social_facility:for']}: day care for children")
    if tags.get("amenity") in _FOOD_AMENITIES and found.type_code != "community_canteen":
        return Classification(None, "", f"amenity={tags['amenity']}: a restaurant, not a {found.type_code}")
    if tags.get("building") in _SCHOOL_BUILDINGS and "amenity" not in tags and found.type_code not in _SCHOOL_TYPES:
        return Classification(None, "", f"building={tags['building']}: part of a school, not a {found.type_code}")
    return found


def _general_hospital(counts: Mapping[str, str], by: str) -> Classification:
    code = counts.get(GENERAL_HOSPITAL)
    if code:
        return Classification(code, by, f"a general hospital, counted as {code} by this city's setting")
    return Classification(None, "", "a general hospital, not a community health centre (counts_as is off)")


def _check_counts_as(counts_as: Mapping[str, str], catalogue: Mapping[str, FacilityType]) -> Mapping[str, str]:
    for key, code in counts_as.items():
        if key not in COUNTS_AS_KEYS:
            raise InvalidInput(f"counts_as: {key!r} is not one of {', '.join(COUNTS_AS_KEYS)}")
        if code and code not in catalogue:
            raise InvalidInput(f"counts_as[{key!r}]: {code!r} is not a catalogue type; known: {', '.join(catalogue)}")
    return counts_as


def classify_facility(
    tags: Mapping[str, str],
    catalogue: Mapping[str, FacilityType] | None = None,
    *,
    counts_as: Mapping[str, str] | None = None,
) -> tuple[str, str] | None:
    """Return ``(type_code, "name" | "tag")`` for an OSM object, or None when it is no catalogue facility.

    The exclusion rules come first, then the name (the longest matching pattern wins, so that
    社区卫生服务中心 is a health centre and not a health station), then the tags.
    ``counts_as`` maps ``"general_hospital"`` to the type a city counts general hospitals as.
    """
    found = explain_facility(tags, catalogue, counts_as=counts_as)
    return (found.type_code, found.by) if found.type_code is not None else None


def find_duplicates(
    names: Sequence[str | None],
    codes: Sequence[str],
    geoms: Sequence[Any],
    *,
    is_polygon: Sequence[bool],
    distance_m: float = 50.0,
) -> dict[int, int]:
    """One facility mapped twice: ``{dropped row: kept row}`` among facilities in a metric CRS.

    Two rows are one facility when they have the same type and either a node lies inside a
    polygon with the same or no name, or they are within ``distance_m`` with similar names
    (``is_similar_name``). A polygon is kept over a node, the larger polygon over the smaller.
    """
    n = len(codes)
    if not (len(names) == len(geoms) == len(is_polygon) == n):
        raise InvalidInput(f"find_duplicates: names, codes, geoms and is_polygon must have one entry per row ({n})")
    if n < 2:
        return {}
    tree = shapely.STRtree(list(geoms))
    left, right = tree.query(list(geoms), predicate="dwithin", distance=distance_m)
    area = [shapely.area(g) if p else 0.0 for g, p in zip(geoms, is_polygon, strict=True)]
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # A node without a name (or inside an unnamed polygon) belongs to one polygon only: linking it
    # to every polygon it touches would chain two neighbouring buildings into one facility.
    host: dict[int, int] = {}
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        if a >= b or codes[a] != codes[b]:
            continue
        if bool(names[a]) and bool(names[b]) and is_similar_name(names[a], names[b]):
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[rb] = ra
        elif is_polygon[a] != is_polygon[b] and shapely.intersects(geoms[a], geoms[b]) and _same_or_no_name(
                names[a], names[b]):
            node, polygon = (b, a) if is_polygon[a] else (a, b)
            host.setdefault(node, polygon)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    drop: dict[int, int] = {}
    for members in groups.values():
        if len(members) > 1:
            keep = max(members, key=lambda i: (is_polygon[i], area[i], bool(names[i]), -i))
            drop.update({i: keep for i in members if i != keep})
    for node, polygon in host.items():
        if node not in drop and root(node) == node and len(groups[node]) == 1:
            drop[node] = drop.get(polygon, polygon)
    return drop


_BRACKETS = re.compile(r"[(（【\[].*?[)）】\]]")
_QUALIFIER = re.compile(r"校区|分校|分部|部$|院区|分院|分园|园区|[东南西北]区")


def is_similar_name(a: str, b: str) -> bool:
    """Whether two names name one facility: equal, or one inside the other with no campus qualifier.

    五角场幼儿园 and 上海市五角场幼儿园 are one; 五角场幼儿园 and 五角场幼儿园（四平部）, or two
    campuses (南校区, 北校区), are not.
    """
    x, y = _normalise(a), _normalise(b)
    if x == y:
        return True
    short, long_ = sorted((x, y), key=len)
    if not short or short not in long_:
        return False
    rest = long_.replace(short, "", 1)
    return not _QUALIFIER.search(rest) and not _BRACKETS.search(a + b)


def _same_or_no_name(a: str | None, b: str | None) -> bool:
    return not a or not b or is_similar_name(a, b)


def _normalise(name: str) -> str:
    return re.sub(r"\s+", "", name).replace("（", "(").replace("）", ")").lower()
