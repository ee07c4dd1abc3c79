"""Synthetic households and residents for the buildings of a district (a 2020-census-like urban population).

``generate_residents`` numbers the flats of every building (unit, floor, room), draws a household
type per flat (alone, couple, nuclear, three generations...) and derives the members' ages, sexes,
names, ID numbers (GB 11643, with a real check character), phones and tags from it. Everything is
drawn in numpy, a column at a time, so a district of half a million people takes seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from gis.errors import InvalidInput
from gis.idnumbers import CHECK_CHARACTERS, CHECK_WEIGHTS, parse_id_number
from gis.idnumbers import check_digit as id_number_check_digit

__all__ = ["DEFAULT_AS_OF", "generate_residents", "id_number_check_digit", "is_valid_id_number"]

# Household sizes 1..6 (2020 census, urban: mean ~2.6, a quarter live alone).
_SIZE_P = np.array([0.254, 0.297, 0.210, 0.132, 0.062, 0.045])

# Roles: head, spouse, child, second child, parent (of the head), second parent, grandchild.
_HEAD, _SPOUSE, _CHILD, _CHILD2, _PARENT, _PARENT2, _GRANDCHILD = range(7)
_RELATIONS = np.array(["head", "spouse", "child", "child", "parent", "parent", "grandchild"], dtype=object)


@dataclass(frozen=True)
class _Template:
    """A household type: members, how the anchor age is drawn, who tends to be floating."""

    code: str
    weight: float  # within its size
    roles: tuple[int, ...]  # after the head
    anchor: str  # head | child | grandchild: whose age is drawn from ``ages``
    ages: tuple[int, int]
    skew: float = 1.0  # >1 puts more weight on the young end of ``ages``
    head_male: float = 0.6
    floating: float = 0.12


_TEMPLATES = (
    _Template("1_young", 0.46, (), "head", (20, 39), head_male=0.56, floating=0.60),
    _Template("1_middle", 0.22, (), "head", (40, 59), head_male=0.55, floating=0.30),
    _Template("1_elderly", 0.30, (), "head", (60, 95), skew=1.7, head_male=0.36, floating=0.02),
    _Template("2_young", 0.26, (_SPOUSE,), "head", (22, 39), floating=0.50),
    _Template("2_middle", 0.30, (_SPOUSE,), "head", (40, 59), floating=0.15),
    _Template("2_elderly", 0.22, (_SPOUSE,), "head", (60, 92), skew=1.5, floating=0.02),
    _Template("2_parent_child", 0.10, (_CHILD,), "child", (2, 24), head_male=0.3, floating=0.10),
    _Template("2_with_parent", 0.08, (_PARENT,), "head", (30, 55), floating=0.05),
    _Template("3_nuclear", 0.72, (_SPOUSE, _CHILD), "child", (1, 30), floating=0.35),
    _Template("3_with_parent", 0.10, (_SPOUSE, _PARENT), "head", (30, 56), floating=0.08),
    _Template("3_skip_generation", 0.04, (_SPOUSE, _GRANDCHILD), "grandchild", (3, 15), floating=0.02),
    _Template("3_elderly_adult_child", 0.14, (_SPOUSE, _CHILD), "child", (22, 40), floating=0.03),
    _Template("4_two_children", 0.45, (_SPOUSE, _CHILD, _CHILD2), "child", (4, 24), floating=0.25),
    _Template("4_three_generations", 0.42, (_SPOUSE, _CHILD, _PARENT), "child", (0, 18), floating=0.08),
    _Template("4_with_parents", 0.13, (_SPOUSE, _PARENT, _PARENT2), "head", (30, 55), floating=0.05),
    _Template("5_three_generations", 0.60, (_SPOUSE, _CHILD, _PARENT, _PARENT2), "child", (0, 20), floating=0.06),
    _Template("5_two_children", 0.40, (_SPOUSE, _CHILD, _CHILD2, _PARENT), "child", (2, 20), floating=0.08),
    _Template("6_full", 1.0, (_SPOUSE, _CHILD, _CHILD2, _PARENT, _PARENT2), "child", (2, 18), floating=0.05),
)

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
)
_SURNAME_W = np.array(
    [7.1, 7.0, 6.7, 5.1, 4.6, 3.2, 2.5, 2.2, 2.1, 1.9, 1.5, 1.5, 1.4, 1.3, 1.2, 1.2, 1.1, 1.0, 1.0, 0.9]
    + [0.8] * 3 + [0.7] * 2 + [0.6] * 5 + [0.5] * 7 + [0.4] * 9 + [0.3] * 22 + [0.2] * (len(_SURNAMES) - 68)
)
_MALE_CHARS = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林峰建国志海东晨博轩睿泽宏瑞成亮德永春松毅"
_FEMALE_CHARS = "芳娜敏静丽艳娟霞秀燕玲桂丹萍红玉兰婷雪琳欣怡梦佳璐倩颖洁慧琴云莉萱涵诗雨思嘉悦晶月"
_SHARED_CHARS = "文晓子一思雨小佳嘉天家海新金明春秋"
_PHONE_PREFIXES = np.array(
    [130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159,
     180, 181, 182, 183, 184, 185, 186, 187, 188, 189],
    dtype=np.int64,
)
_ID_WEIGHTS = np.array(CHECK_WEIGHTS, dtype=np.int64)
_ID_CHECK = CHECK_CHARACTERS

DEFAULT_AS_OF = date(2025, 1, 1)


def is_valid_id_number(id_number: str) -> bool:
    """Whether an 18-character resident ID has a real date and a correct GB 11643 check character."""
    if not isinstance(id_number, str) or len(id_number) != 18:
        return False
    try:
        parse_id_number(id_number)
    except InvalidInput:
        return False
    return True


def _building_ids(buildings: pd.DataFrame) -> np.ndarray:
    ids = buildings["building_id"] if "building_id" in buildings.columns else pd.Series(buildings.index)
    if ids.isna().any():
        raise InvalidInput("generate_residents: building ids must not be missing")
    try:
        return ids.to_numpy(dtype=np.int64)
    except (TypeError, ValueError):
        raise InvalidInput(
            "generate_residents: building ids (the building_id column, else the index) must be integers; "
            f"got {ids.dtype}"
        ) from None


def generate_residents(
    buildings: pd.DataFrame,
    *,
    seed: int = 0,
    district_code: str = "320102",
    as_of: date = DEFAULT_AS_OF,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fill buildings with synthetic households and residents (deterministic by ``seed``).

    Parameters
    ----------
    buildings
        A frame with ``households`` (missing counts as 0; fractions are rounded) and
        optionally ``levels``; the building id is the ``building_id`` column or, without
        one, the frame's index (integers either way).
    seed
        Seed of every random choice.
    district_code
        6-digit administrative code used as the region prefix of the ID numbers.
    as_of
        The date ages refer to (fixed by default so that output does not change with the clock).

    Returns
    -------
    (households, residents)
        ``households``: household_id (1..N), building_id, unit (单元), floor, room
        ('302'), address ('<building>-<unit>-<room>'), size, synthetic.
        ``residents``: resident_id, household_id, building_id, name, sex ('M'/'F'),
        birth_date (``datetime.date``), relation (head, spouse, child, parent, grandchild),
        residency (permanent/floating), party_member, then the sensitive part: id_number
        (18 characters, GB 11643 check), phone (None under 12), tags (list of
        elderly_alone, disabled, low_income, left_behind_child), and synthetic.
    """
    if "households" not in buildings.columns:
        raise InvalidInput("generate_residents: buildings need a 'households' column")
    if not (isinstance(district_code, str) and len(district_code) == 6 and district_code.isdigit()):
        raise InvalidInput(f"district_code must be 6 digits; got {district_code!r}", details={"field": "district_code"})
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInput(f"seed must be a non-negative integer; got {seed!r}", details={"field": "seed"})
    rng = np.random.default_rng([seed, 11643])
    b_ids = _building_ids(buildings)
    n_per_b = np.rint(pd.to_numeric(buildings["households"], errors="coerce").fillna(0).to_numpy(dtype=float))
    if (n_per_b < 0).any():
        raise InvalidInput("generate_residents: households must not be negative")
    n_per_b = n_per_b.astype(np.int64)
    if "levels" in buildings.columns:
        levels = pd.to_numeric(buildings["levels"], errors="coerce").to_numpy(dtype=float)
    else:
        levels = np.full(len(buildings), np.nan)
    guess = np.clip(np.ceil(n_per_b / 8.0), 1, 33)
    levels = np.where(np.isfinite(levels) & (levels >= 1), np.floor(levels), guess).astype(np.int64)

    households = _households_frame(b_ids, n_per_b, levels)
    residents = _residents_frame(rng, households, district_code, as_of)
    households["size"] = np.bincount(
        residents["household_id"].to_numpy() - 1, minlength=len(households)
    ).astype(np.int64)
    households["synthetic"] = True
    return households, residents


def _households_frame(b_ids: np.ndarray, n_per_b: np.ndarray, levels: np.ndarray) -> pd.DataFrame:
    n = int(n_per_b.sum())
    b_idx = np.repeat(np.arange(len(b_ids)), n_per_b)
    starts = np.cumsum(n_per_b) - n_per_b
    k = np.arange(n) - np.repeat(starts, n_per_b)
    lv = np.maximum(levels[b_idx], 1)
    per_floor = np.ceil(n_per_b[b_idx] / lv).astype(np.int64)
    # Flats per unit and floor: a point tower has one unit of up to 4, a slab units of 2.
    per_unit = np.where(per_floor <= 4, per_floor, 2)
    floor = k // per_floor + 1
    pos = k % per_floor
    unit = pos // per_unit + 1
    door = pos % per_unit + 1
    room = pd.Series(floor * 100 + door).astype(str)
    bid = b_ids[b_idx]
    address = pd.Series(bid).astype(str) + "-" + pd.Series(unit).astype(str) + "-" + room
    return pd.DataFrame(
        {
            "household_id": np.arange(1, n + 1, dtype=np.int64),
            "building_id": bid,
            "unit": unit.astype(np.int64),
            "floor": floor.astype(np.int64),
            "room": room.to_numpy(dtype=object),
            "address": address.to_numpy(dtype=object),
        }
    )


def _uniform_int(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray,
                 skew: np.ndarray | float = 1.0) -> np.ndarray:
    """Integers in [lo, hi], uniform, or skewed towards ``lo`` when ``skew`` > 1."""
    u = rng.random(np.shape(lo)) ** skew
    return (lo + np.floor(u * (hi - lo + 1))).astype(np.int64)


def _residents_frame(rng: np.random.Generator, hh: pd.DataFrame, district_code: str, as_of: date) -> pd.DataFrame:
    """The members of every household, drawn step by step on ``rng`` (the order of the draws is the seed's)."""
    tpl, size, hh_idx, role = _members(rng, len(hh))
    age = _ages(rng, tpl, hh_idx, role)
    male_head, male = _sexes(rng, tpl, hh_idx, role)
    birth, age_cal = _birth_and_age(rng, age, as_of)
    name = _names(rng, hh_idx, role, male, male_head)

    # Residency by household; party membership, disability and low income by age.
    floating_p = np.array([t.floating for t in _TEMPLATES])[tpl]
    floating = (rng.random(len(hh)) < floating_p)[hh_idx]
    u = rng.random(len(role))
    party = (age_cal >= 18) & (u < np.where(age_cal < 35, 0.045, np.where(age_cal < 60, 0.07, 0.10)))
    disabled = rng.random(len(role)) < np.where(age_cal < 18, 0.008, np.where(age_cal < 60, 0.022, 0.075))
    low_income = (rng.random(len(hh)) < np.where(size == 1, 0.035, 0.015))[hh_idx]
    elderly_alone = (size[hh_idx] == 1) & (age_cal >= 60)
    left_behind = (role == _GRANDCHILD) & (age_cal < 16)
    tags = _tag_lists(elderly_alone, disabled, low_income, left_behind)

    id_numbers = _id_numbers(rng, district_code, birth, male)
    phones = _phones(rng, age_cal >= 12)

    return pd.DataFrame(
        {
            "resident_id": np.arange(1, len(role) + 1, dtype=np.int64),
            "household_id": hh["household_id"].to_numpy()[hh_idx],
            "building_id": hh["building_id"].to_numpy()[hh_idx],
            "name": name,
            "sex": np.where(male, "M", "F").astype(object),
            "birth_date": pd.Series(birth.astype("datetime64[s]")).dt.date.to_numpy(),
            "relation": _RELATIONS[role],
            "residency": np.where(floating, "floating", "permanent").astype(object),
            "party_member": party,
            "id_number": id_numbers,
            "phone": pd.Series(phones, dtype=object),  # None, not NaN, for those without
            "tags": tags,
            "synthetic": np.ones(len(role), dtype=bool),
        }
    )


def _members(rng: np.random.Generator, n_h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A template per household, then per resident: the household's template, size, index, and the role."""
    sizes = np.array([1 + len(t.roles) for t in _TEMPLATES])
    p = np.array([_SIZE_P[s - 1] * t.weight for s, t in zip(sizes, _TEMPLATES, strict=True)])
    tpl = rng.choice(len(_TEMPLATES), size=n_h, p=p / p.sum())
    size = sizes[tpl]
    n_r = int(size.sum())
    hh_idx = np.repeat(np.arange(n_h), size)
    member = np.arange(n_r) - np.repeat(np.cumsum(size) - size, size)
    role_table = np.full((len(_TEMPLATES), sizes.max()), -1, dtype=np.int64)
    for i, t in enumerate(_TEMPLATES):
        role_table[i, : 1 + len(t.roles)] = (_HEAD, *t.roles)
    return tpl, size, hh_idx, role_table[tpl[hh_idx], member]


def _ages(rng: np.random.Generator, tpl: np.ndarray, hh_idx: np.ndarray, role: np.ndarray) -> np.ndarray:
    """Ages: draw the anchor, derive the head, then everyone from the head."""
    n_h, n_r = len(tpl), len(role)
    lo = np.array([t.ages[0] for t in _TEMPLATES])[tpl]
    hi = np.array([t.ages[1] for t in _TEMPLATES])[tpl]
    skew = np.array([t.skew for t in _TEMPLATES])[tpl]
    anchor = np.array([t.anchor for t in _TEMPLATES])[tpl]
    a = _uniform_int(rng, lo, hi, skew)
    head_age = np.where(
        anchor == "child",
        a + rng.integers(23, 36, size=n_h),
        np.where(anchor == "grandchild", a + rng.integers(48, 61, size=n_h), a),
    )
    head_age = np.minimum(head_age, 98)
    child_age = np.where(anchor == "child", a, np.maximum(head_age - rng.integers(24, 37, size=n_h), 0))
    grandchild_age = np.where(anchor == "grandchild", a, 0)
    ha = head_age[hh_idx]
    ca = child_age[hh_idx]
    age = np.zeros(n_r, dtype=np.int64)
    age[role == _HEAD] = ha[role == _HEAD]
    m = role == _SPOUSE
    age[m] = np.clip(ha[m] + np.rint(rng.normal(-2, 3, size=m.sum())).astype(np.int64), 18, 100)
    m = role == _CHILD
    age[m] = ca[m]
    m = role == _CHILD2
    younger = ca[m] - rng.integers(2, 9, size=m.sum())
    older = np.minimum(ca[m] + rng.integers(2, 7, size=m.sum()), ha[m] - 20)
    age[m] = np.maximum(np.where(younger >= 0, younger, older), 0)
    m = (role == _PARENT) | (role == _PARENT2)
    age[m] = np.minimum(ha[m] + rng.integers(22, 33, size=m.sum()), 100)
    m = role == _GRANDCHILD
    age[m] = grandchild_age[hh_idx][m]
    return age


def _sexes(rng: np.random.Generator, tpl: np.ndarray, hh_idx: np.ndarray,
           role: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each household's head is a man, and each resident: heads by template, spouses opposite."""
    n_r = len(role)
    head_male = np.array([t.head_male for t in _TEMPLATES])[tpl]
    male_head = rng.random(len(tpl)) < head_male
    male = rng.random(n_r) < 0.515
    male = np.where(role == _HEAD, male_head[hh_idx], male)
    male = np.where(role == _SPOUSE, ~male_head[hh_idx], male)
    male = np.where(role == _PARENT, rng.random(n_r) < 0.45, male)
    # A second parent is of the other sex than the first.
    prev_male = np.concatenate([[False], male[:-1]])
    return male_head, np.where(role == _PARENT2, ~prev_male, male)


def _birth_and_age(rng: np.random.Generator, age: np.ndarray, as_of: date) -> tuple[np.ndarray, np.ndarray]:
    """Birth dates at which everyone is exactly ``age`` full years old on ``as_of``, and that age recomputed."""
    as_of64 = np.datetime64(as_of, "D")
    birth = _birth_dates(rng, age, as_of)
    years_since = (as_of64.astype("datetime64[Y]") - birth.astype("datetime64[Y]")).astype(np.int64)
    had_birthday = (as_of64 - as_of64.astype("datetime64[Y]")).astype(np.int64) >= (
        birth - birth.astype("datetime64[Y]")
    ).astype(np.int64)
    return birth, years_since - (~had_birthday).astype(np.int64)


def _names(rng: np.random.Generator, hh_idx: np.ndarray, role: np.ndarray, male: np.ndarray,
           male_head: np.ndarray) -> np.ndarray:
    """Full names: the family surname is the husband's; spouses and mothers bring their own."""
    n_h = len(male_head)
    sn_p = _SURNAME_W / _SURNAME_W.sum()
    surnames = np.array(list(_SURNAMES), dtype=object)
    own = rng.choice(len(surnames), size=len(role), p=sn_p)
    head_sn = own[np.flatnonzero(role == _HEAD)]  # one per household, in order
    spouse_sn = np.full(n_h, -1)
    spouse_rows = np.flatnonzero(role == _SPOUSE)
    spouse_sn[hh_idx[spouse_rows]] = own[spouse_rows]
    family = np.where(~male_head & (spouse_sn >= 0), spouse_sn, head_sn)
    sn = own.copy()
    blood = (role == _CHILD) | (role == _CHILD2) | (role == _GRANDCHILD) | ((role == _HEAD) & male)
    sn[blood] = family[hh_idx][blood]
    father = ((role == _PARENT) | (role == _PARENT2)) & male
    sn[father] = head_sn[hh_idx][father]
    return surnames[sn] + _given_names(rng, male)


def _birth_dates(rng: np.random.Generator, age: np.ndarray, as_of: date) -> np.ndarray:
    """Birth dates (datetime64[D]) at which a person is exactly ``age`` full years old on ``as_of``."""
    # The last birthday is in the year as_of.year - age or the one before; pick a day in the
    # year before as_of's (this year's) birthday window: between (as_of - age - 1 years, as_of - age years].
    latest = np.array([_shift_years(as_of, -int(a)) for a in range(0, 101)], dtype="datetime64[D]")
    earliest = np.array([_shift_years(as_of, -int(a) - 1) for a in range(0, 101)], dtype="datetime64[D]")
    a = np.clip(age, 0, 100)
    span = (latest[a] - earliest[a]).astype(np.int64)  # 365 or 366 days
    offset = np.floor(rng.random(len(a)) * span).astype(np.int64)  # 0..span-1
    return latest[a] - offset


def _shift_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _given_names(rng: np.random.Generator, male: np.ndarray) -> np.ndarray:
    n = len(male)
    m_chars = np.array(list(_MALE_CHARS + _SHARED_CHARS), dtype=object)
    f_chars = np.array(list(_FEMALE_CHARS + _SHARED_CHARS), dtype=object)
    first = np.where(male, m_chars[rng.integers(len(m_chars), size=n)], f_chars[rng.integers(len(f_chars), size=n)])
    second = np.where(male, m_chars[rng.integers(len(m_chars), size=n)], f_chars[rng.integers(len(f_chars), size=n)])
    one_char = rng.random(n) < 0.22
    return np.where(one_char, second, first + second)


def _tag_lists(*flags: np.ndarray) -> np.ndarray:
    """Per resident, the list of tags whose flag is set (an empty list for most)."""
    labels = ("elderly_alone", "disabled", "low_income", "left_behind_child")
    out = np.empty(len(flags[0]), dtype=object)
    for i in range(len(out)):
        out[i] = []
    for k in np.flatnonzero(np.logical_or.reduce(flags)).tolist():
        out[k] = [lab for lab, f in zip(labels, flags, strict=True) if f[k]]
    return out


def _id_numbers(rng: np.random.Generator, district_code: str, birth: np.ndarray, male: np.ndarray) -> np.ndarray:
    """18-character resident IDs: region, birth date, a sequence unique per date and sex, GB 11643 check.

    The 3-digit sequence is odd for men and even for women, so 500 people of one sex born
    on one day fit; more (not met below tens of millions of residents) would repeat numbers.
    """
    n = len(birth)
    if n == 0:
        return np.zeros(0, dtype=object)
    group = birth.astype(np.int64) * 2 + male.astype(np.int64)
    order = np.lexsort((rng.random(n), group))
    g_sorted = group[order]
    starts = np.r_[0, np.flatnonzero(g_sorted[1:] != g_sorted[:-1]) + 1]
    g_size = np.diff(np.r_[starts, n])
    rank_sorted = np.arange(n) - np.repeat(starts, g_size)
    offset = np.floor(rng.random(len(starts)) * np.maximum(500 - g_size, 1)).astype(np.int64)
    value = (np.repeat(offset, g_size) + rank_sorted) % 500
    seq = np.empty(n, dtype=np.int64)
    seq[order] = value * 2 + male[order].astype(np.int64)
    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (birth.astype("datetime64[M]") - birth.astype("datetime64[Y]")).astype(np.int64) + 1
    day = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    first17 = int(district_code) * 10**11 + (year * 10_000 + month * 100 + day) * 1_000 + seq
    digits = (first17[:, None] // (10 ** np.arange(16, -1, -1, dtype=np.int64))[None, :]) % 10
    check = np.array(list(_ID_CHECK))[(digits @ _ID_WEIGHTS) % 11]
    return np.char.add(np.char.zfill(first17.astype(str), 17), check).astype(object)


def _phones(rng: np.random.Generator, has_phone: np.ndarray) -> np.ndarray:
    """Unique 11-digit mobile numbers (13x/15x/18x) for those with a phone, None for the rest."""
    idx = np.flatnonzero(has_phone)

    def draw(k: int) -> np.ndarray:
        return _PHONE_PREFIXES[rng.integers(len(_PHONE_PREFIXES), size=k)] * 10**8 + rng.integers(0, 10**8, size=k)

    numbers = draw(len(idx))
    while len(numbers):
        order = np.argsort(numbers, kind="stable")
        dup = order[1:][numbers[order][1:] == numbers[order][:-1]]
        if len(dup) == 0:
            break
        numbers[dup] = draw(len(dup))
    out = np.full(len(has_phone), None, dtype=object)
    out[idx] = numbers.astype(str).astype(object)
    return out
