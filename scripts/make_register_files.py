"""Write a synthetic standard-address list and population register over a district's buildings.

    .venv/bin/python scripts/make_register_files.py --district-code 320102 --people 240 --out /tmp/registers

Reads the district's residential buildings from the configured database (WANGGE_DATABASE_URL or the
embedded cluster) and writes, in ``--out``:

- ``addresses.csv`` (UTF-8): one standard address per building, ``南京市玄武区{road}{n}号{k}栋``, the road
  being the nearest named street, at the footprint's point on surface in WGS-84 lon/lat;
- ``register.csv`` (GBK, Chinese headers): ``--people`` people in households of 1–5 living at
  ``…{k}栋{unit}单元{room}室`` of the first buildings, with valid GB 11643 ID numbers (region 320102),
  some 人户分离 (registered in Shanghai), some floating;
- ``register_bad_checksum.csv``: the same register with one mistyped ID check character (row 101).

The people are made up (seeded, reproducible); the file says so in no column, like a real register.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from pathlib import Path

from sqlalchemy import text

from gis.db.engine import database_url, make_engine
from gis.idnumbers import check_digit
from gis.settings import Settings

HEADERS = ["姓名", "身份证号", "性别", "出生日期", "户编号", "与户主关系", "现居住地址", "户籍地址",
           "联系电话", "人员类型", "标签"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红玉兰文斌辉鹏宇浩然欣怡子涵"
RELATIONS = ["户主", "配偶", "子女", "子女", "父母"]


def buildings(district_code: str) -> list[tuple[int, float, float, str]]:
    """Residential buildings (id, lon, lat, nearest street name) in id order."""
    engine = make_engine(database_url(Settings()))
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT b.id, ST_X(p.pt), ST_Y(p.pt),
                   COALESCE((SELECT e.name FROM walk_edge e WHERE e.district_code = b.district_code
                             AND e.name IS NOT NULL AND e.name <> '' ORDER BY e.geom <-> p.pt LIMIT 1), '某路')
            FROM building b CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.geom) AS pt) p
            WHERE b.district_code = :d AND b.households > 0 ORDER BY b.id"""), {"d": district_code}).all()
    engine.dispose()
    return [(int(i), float(x), float(y), str(road)) for i, x, y, road in rows]


def id_number(birth: dt.date, seq: int, male: bool) -> str:
    first17 = f"320102{birth:%Y%m%d}{(seq * 2 + male) % 1000:03d}"
    return first17 + check_digit(first17)


def unique_id(birth: dt.date, male: bool, used: set[str]) -> str:
    """An ID number not given yet: the sequence digits count up past the ones taken on that birth date."""
    seq = 0
    while (value := id_number(birth, seq, male)) in used:
        seq += 1
    used.add(value)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--district-code", default="320102")
    parser.add_argument("--people", type=int, default=240)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("registers"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    per_road: dict[str, int] = {}
    addresses = []
    for _bid, lon, lat, road in buildings(args.district_code):
        n = per_road.get(road, 0)
        per_road[road] = n + 1
        addresses.append({"地址": f"南京市玄武区{road}{n // 5 + 1}号{n % 5 + 1}栋", "经度": f"{lon:.7f}",
                          "纬度": f"{lat:.7f}"})
    with (args.out / "addresses.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["地址", "经度", "纬度"])
        writer.writeheader()
        writer.writerows(addresses)

    people, household, used = [], 0, set()
    while len(people) < args.people:
        household += 1
        home = addresses[(household * 7) % min(len(addresses), 60)]["地址"]
        unit, room = 1 + rng.randrange(4), 100 * (1 + rng.randrange(7)) + 1 + rng.randrange(4)
        dwelling = f"{home}{unit}单元{room}室"
        for member in range(min(1 + rng.randrange(5), args.people - len(people))):
            male = rng.random() < 0.5
            birth = dt.date(1935 + rng.randrange(85), 1 + rng.randrange(12), 1 + rng.randrange(28))
            elsewhere = rng.random() < 0.1
            people.append({
                "姓名": rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else ""),
                "身份证号": unique_id(birth, male, used), "性别": "男" if male else "女",
                "出生日期": f"{birth:%Y-%m-%d}", "户编号": f"3201020{household:05d}",
                "与户主关系": RELATIONS[min(member, 4)], "现居住地址": dwelling,
                "户籍地址": "上海市黄浦区南京东路1号" if elsewhere else dwelling,
                "联系电话": f"1{rng.choice('3578')}{rng.randrange(10**9):09d}",
                "人员类型": "流动" if elsewhere else "户籍",
                "标签": "独居老人" if birth.year < 1950 and member == 0 and rng.random() < 0.3 else "",
            })
    for name, rows in (("register.csv", people),
                       ("register_bad_checksum.csv", [dict(p) for p in people])):
        if name.startswith("register_bad"):
            bad = rows[99]["身份证号"]  # row 101 counting the header as row 1
            rows[99]["身份证号"] = bad[:17] + ("0" if bad[17] != "0" else "1")
        with (args.out / name).open("w", encoding="gbk", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=HEADERS)
            writer.writeheader()
            writer.writerows(rows)
    print(f"wrote {len(addresses)} addresses and {len(people)} people in {household} households to {args.out}")


if __name__ == "__main__":
    main()
