"""Register files made in the tests (no fixtures on disk): a small district, standard addresses, registers.

A standard address is ``南京市玄武区{road}{n}号{k}栋`` at a building's point on surface; a register row
lives at ``…{k}栋{unit}单元{room}室`` of one of them, with a valid GB 11643 ID number.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.idnumbers import check_digit

TABLES = ("standard_address", "dwelling", "household", "resident", "resident_private", "resident_away",
          "resident_move", "building", "facility", "org_unit")
DISTRICT = "320188"
PREFIX = "南京市玄武区"
RESIDENT_HEADERS = ["姓名", "身份证号", "性别", "出生日期", "户编号", "与户主关系", "现居住地址", "户籍地址",
                    "联系电话", "人员类型", "标签"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"


def id_number(birth: dt.date, seq: int, *, male: bool, region: str = "320102") -> str:
    """A valid ID number: region, birth date, a 3-digit sequence whose last digit is odd for men, check."""
    order = (seq * 2 + (1 if male else 0)) % 1000
    first17 = f"{region}{birth:%Y%m%d}{order:03d}"
    return first17 + check_digit(first17)


def with_bad_checksum(value: str) -> str:
    """The same number with a wrong check character."""
    wrong = "0" if value[17] != "0" else "1"
    return value[:17] + wrong


def small_district(session: Session, *, buildings: int = 6) -> list[int]:
    """District 320188 with a row of square buildings (60 m apart) and one grid over them; their ids."""
    session.execute(text("INSERT INTO district (code, name) VALUES (:c, '登记测试区')"), {"c": DISTRICT})
    ids = []
    for i in range(buildings):
        x0, y0 = 118.780 + i * 0.0006, 32.041
        wkt = (f"MULTIPOLYGON((({x0} {y0}, {x0 + 0.0003} {y0}, {x0 + 0.0003} {y0 + 0.0002}, {x0} {y0 + 0.0002}, "
               f"{x0} {y0})))")
        ids.append(session.execute(text(
            "INSERT INTO building (district_code, name, floors, households, households_source, geom) "
            "VALUES (:d, :n, 6, 40, 'estimated', ST_GeomFromText(:g, 4490)) RETURNING id"),
            {"d": DISTRICT, "n": f"{i + 1}栋", "g": wkt}).scalar_one())
    return ids


def address_rows(session: Session, building_ids: list[int], *, road: str = "某路", number: int = 12
                 ) -> list[dict[str, Any]]:
    """One standard address per building at its point on surface (WGS-84 lon/lat)."""
    rows = []
    for k, bid in enumerate(building_ids, start=1):
        lon, lat = session.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                                        "FROM building WHERE id = :b) s"), {"b": bid}).one()
        rows.append({"地址": f"{PREFIX}{road}{number}号{k}栋", "经度": round(lon, 7), "纬度": round(lat, 7)})
    return rows


def register_rows(n_people: int, addresses: list[str], *, seed: int = 1, people_per_household: int = 3
                  ) -> list[dict[str, Any]]:
    """``n_people`` people in households of about ``people_per_household`` across ``addresses`` (building level)."""
    rng = random.Random(seed)
    rows = []
    household = 0
    i = 0
    while i < n_people:
        household += 1
        building = addresses[household % len(addresses)]
        unit, room = 1 + household % 3, 100 * (1 + household % 6) + 1 + household % 4
        size = min(people_per_household, n_people - i)
        for member in range(size):
            male = rng.random() < 0.5
            birth = dt.date(1940 + rng.randrange(75), 1 + rng.randrange(12), 1 + rng.randrange(28))
            idn = id_number(birth, i, male=male)
            separated = member == 1 and household % 5 == 0
            rows.append({
                "姓名": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                "身份证号": idn, "性别": "男" if male else "女", "出生日期": f"{birth:%Y-%m-%d}",
                "户编号": f"H{household:05d}", "与户主关系": "户主" if member == 0 else "子女",
                "现居住地址": f"{building}{unit}单元{room}室",
                "户籍地址": "上海市黄浦区某街1号" if separated else f"{building}{unit}单元{room}室",
                "联系电话": f"138{rng.randrange(10**8):08d}",
                "人员类型": "流动" if separated else "户籍", "标签": "独居老人" if birth.year < 1950 else "",
            })
            i += 1
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]], *, encoding: str = "utf-8",
              headers: list[str] | None = None) -> Path:
    """Rows as a CSV in ``encoding`` (headers from the first row unless given)."""
    headers = headers or list(rows[0])
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=headers, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Rows as the first sheet of an .xlsx workbook (every cell text)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    headers = list(rows[0])
    sheet.append(headers)
    for row in rows:
        sheet.append([None if row.get(h) in (None, "") else str(row[h]) for h in headers])
    book.save(path)
    return path


def snapshot(session: Session, tables: tuple[str, ...] = TABLES) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every register table's rows (ordered), to prove what an import changed."""
    out = {}
    for table in tables:
        count, digest = session.execute(text(
            f"SELECT count(*), md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t")).one()
        out[table] = (count, digest)
    return out
