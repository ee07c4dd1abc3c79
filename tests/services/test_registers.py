"""Registers in (一标三实) against the real database: addresses attached, a GBK register loaded and
encrypted, recorded counts, 人户分离, moves, idempotent re-imports, facilities, units and data quality."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import register_files as rf
from helpers import ID_KEY
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, InvalidInput
from gis.services import privacy
from gis.services import registers as register_service
from gis.settings import Settings

KEYS = privacy.id_keys(Settings(id_key=ID_KEY))
snapshot = rf.snapshot


@pytest.fixture
def district(db: Session, tmp_path: Path) -> dict:
    ids = rf.small_district(db)
    rows = rf.address_rows(db, ids)
    path = rf.write_csv(tmp_path / "addresses.csv", rows)
    report = register_service.import_addresses(db, path, district_code=rf.DISTRICT)
    return {"buildings": ids, "addresses": [r["地址"] for r in rows], "address_report": report}


def test_addresses_attach_to_the_footprint_they_fall_in(db: Session, district: dict) -> None:
    report = district["address_report"]
    assert report["matched"] == 6 and report["matched_by"]["inside"] == 6
    assert report["unmatched"] == report["ambiguous"] == 0
    attached = dict(db.execute(text("SELECT address, building_id FROM standard_address WHERE district_code = :d"),
                               {"d": rf.DISTRICT}).all())
    assert [attached[a] for a in district["addresses"]] == district["buildings"]


def test_addresses_nearest_within_the_distance_ambiguous_and_unmatched(db: Session, district: dict,
                                                                        tmp_path: Path) -> None:
    b0 = district["buildings"][0]
    lon, lat = db.execute(text("SELECT ST_XMax(geom), ST_Y(ST_PointOnSurface(geom)) FROM building WHERE id = :b"),
                          {"b": b0}).one()
    rows = [
        {"地址": "某路12号1栋门卫室", "经度": lon + 0.0001, "纬度": lat},            # ~9 m east of building 1
        {"地址": "某路12号夹道", "经度": lon + 0.00015, "纬度": lat},               # halfway between 1 and 2
        {"地址": "某路99号", "经度": 118.70, "纬度": 32.00},                        # kilometres away
    ]
    report = register_service.import_addresses(db, rf.write_csv(tmp_path / "more.csv", rows),
                                               district_code=rf.DISTRICT)
    assert report["matched_by"]["nearest"] == 1 and report["ambiguous"] == 1 and report["unmatched"] == 1
    assert [r["row"] for r in report["unmatched_rows"]] == [4]
    assert report["ambiguous_rows"][0]["candidates"] == district["buildings"][:2]


def test_gcj02_points_are_converted_before_matching(db: Session, district: dict, tmp_path: Path) -> None:
    from gis.crs import wgs84_to_gcj02

    rows = rf.address_rows(db, district["buildings"], road="另一路")
    for row in rows:
        row["经度"], row["纬度"] = (float(v) for v in wgs84_to_gcj02(row["经度"], row["纬度"]))
    as_gcj = register_service.import_addresses(db, rf.write_csv(tmp_path / "gcj.csv", rows),
                                               district_code=rf.DISTRICT, source_crs="gcj02")
    assert as_gcj["matched_by"]["inside"] == 6


def load_register(db: Session, tmp_path: Path, district: dict, *, n: int = 240, encoding: str = "gbk",
                  name: str = "register.csv") -> tuple[dict, list[dict]]:
    rows = rf.register_rows(n, district["addresses"])
    path = rf.write_csv(tmp_path / name, rows, encoding=encoding)
    return register_service.import_residents(db, path, district_code=rf.DISTRICT, keys=KEYS), rows


def test_a_gbk_register_loads_every_registered_building_becomes_recorded(db: Session, district: dict,
                                                                          tmp_path: Path) -> None:
    report, rows = load_register(db, tmp_path, district)
    assert report["encoding"] == "gb18030" and report["rows"] == 240 and report["unmatched"] == 0
    assert report["living_here"] == 240 and report["inserted"] == 240
    assert report["address_match"]["building"] == 240
    expected: dict[str, set[str]] = {}
    for row in rows:
        building = row["现居住地址"].split("栋")[0] + "栋"
        expected.setdefault(building, set()).add(row["户编号"])
    recorded = dict(db.execute(text("SELECT s.address, b.households FROM building b JOIN standard_address s "
                                    "ON s.building_id = b.id WHERE b.households_source = 'recorded'")).all())
    assert recorded == {a: len(h) for a, h in expected.items()}
    reason = db.execute(text("SELECT households_reason, households_recorded_by, households_recorded_reason "
                             "FROM building WHERE households_source = 'recorded' LIMIT 1")).one()
    assert tuple(reason) == ("recorded", "register import", "population register register.csv")
    separated = sum(1 for r in rows if r["户籍地址"] != r["现居住地址"])
    assert report["living_here_registered_elsewhere"] == separated > 0
    assert db.execute(text("SELECT count(*) FROM resident WHERE separated")).scalar_one() == separated


def test_id_numbers_are_ciphertext_hash_and_mask_in_the_database(db: Session, district: dict,
                                                                 tmp_path: Path) -> None:
    _report, rows = load_register(db, tmp_path, district, n=12)
    stored = db.execute(text("SELECT r.name, p.id_number, p.id_number_hash, p.id_number_masked FROM resident r "
                             "JOIN resident_private p ON p.resident_id = r.id ORDER BY r.id")).all()
    plain = {r["身份证号"] for r in rows}
    dump = " ".join(str(v) for row in stored for v in row)
    assert not any(p in dump for p in plain)
    assert all(s.id_number.startswith("wg1.") for s in stored)
    first = rows[0]["身份证号"]
    assert stored[0].id_number_masked == first[:6] + "********" + first[-4:]
    assert KEYS.decrypt(stored[0].id_number) == first
    assert stored[0].id_number_hash == KEYS.lookup_hash(first)


def test_a_second_identical_import_changes_nothing(db: Session, district: dict, tmp_path: Path) -> None:
    load_register(db, tmp_path, district)
    before = snapshot(db)
    again, _rows = load_register(db, tmp_path, district)
    assert again["inserted"] == again["updated"] == again["moved"] == 0 and again["unchanged"] == 240
    assert again["buildings_changed"] == 0
    assert snapshot(db) == before
    readdress = register_service.import_addresses(db, Path(tmp_path / "addresses.csv"), district_code=rf.DISTRICT)
    assert readdress["unchanged"] == 6 and snapshot(db) == before


def test_reimport_updates_people_in_place_and_keeps_moves(db: Session, district: dict, tmp_path: Path) -> None:
    _report, rows = load_register(db, tmp_path, district, n=30)
    ids_before = db.execute(text("SELECT count(*), max(id) FROM resident")).one()
    mover = rows[0]
    new_home = district["addresses"][5] + "3单元602室"
    assert not mover["现居住地址"].startswith(district["addresses"][5])
    mover["现居住地址"] = new_home
    mover["联系电话"] = "13900000000"
    path = rf.write_csv(tmp_path / "register2.csv", rows, encoding="gbk")
    report = register_service.import_residents(db, path, district_code=rf.DISTRICT, keys=KEYS)
    assert report["moved"] == 1 and report["inserted"] == 0 and report["updated"] == 1
    assert db.execute(text("SELECT count(*), max(id) FROM resident")).one() == ids_before
    move = db.execute(text("SELECT m.to_building_id, m.id_number_hash, m.source_file FROM resident_move m")).one()
    assert move.to_building_id == district["buildings"][5] and move.source_file == "register2.csv"
    assert move.id_number_hash == KEYS.lookup_hash(mover["身份证号"])


def test_registered_here_living_elsewhere_is_kept_and_counted(db: Session, district: dict, tmp_path: Path) -> None:
    rows = rf.register_rows(6, district["addresses"])
    rows[2]["现居住地址"] = "北京市朝阳区某街5号"
    report = register_service.import_residents(db, rf.write_csv(tmp_path / "r.csv", rows), district_code=rf.DISTRICT,
                                               keys=KEYS)
    assert report["registered_here_living_elsewhere"] == 1 and report["living_here"] == 5
    away = db.execute(text("SELECT id_number, id_number_masked, address FROM resident_away")).one()
    assert away.address == "北京市朝阳区某街5号" and away.id_number.startswith("wg1.")
    assert KEYS.decrypt(away.id_number) == rows[2]["身份证号"]


def test_synthetic_residents_are_replaced_only_when_asked(db: Session, district: dict, tmp_path: Path) -> None:
    from gis.services import districts as district_service

    district_service.generate_residents_for_district(db, district_code=rf.DISTRICT, seed=1, keys=KEYS)
    synthetic = db.execute(text("SELECT p.id_number FROM resident_private p JOIN resident r ON r.id = p.resident_id "
                                "WHERE r.synthetic LIMIT 5")).scalars().all()
    assert synthetic and all(s.startswith("wg1.") for s in synthetic)  # generated people are encrypted too
    path = rf.write_csv(tmp_path / "r.csv", rf.register_rows(9, district["addresses"]))
    with pytest.raises(Conflict, match="drop_synthetic"):
        register_service.import_residents(db, path, district_code=rf.DISTRICT, keys=KEYS)
    report = register_service.import_residents(db, path, district_code=rf.DISTRICT, keys=KEYS, drop_synthetic=True)
    assert report["synthetic_dropped"] > 0
    assert db.execute(text("SELECT count(*) FROM resident")).scalar_one() == 9


def test_sex_and_birth_date_are_derived_from_the_id_number(db: Session, district: dict, tmp_path: Path) -> None:
    rows = rf.register_rows(4, district["addresses"])
    for row in rows:
        row["性别"] = row["出生日期"] = ""
    report = register_service.import_residents(db, rf.write_csv(tmp_path / "r.csv", rows, encoding="utf-8-sig"),
                                               district_code=rf.DISTRICT, keys=KEYS)
    assert report["derived_from_id"] == {"sex": 4, "birth_date": 4}
    got = db.execute(text("SELECT sex, birth_date FROM resident ORDER BY id")).all()
    for row, (sex, birth) in zip(rows, got, strict=True):
        idn = row["身份证号"]
        assert birth == dt.date(int(idn[6:10]), int(idn[10:12]), int(idn[12:14]))
        assert sex == ("M" if int(idn[16]) % 2 else "F")


def test_xlsx_register_with_english_headers(db: Session, district: dict, tmp_path: Path) -> None:
    english = dict(zip(rf.RESIDENT_HEADERS, ("name", "id_number", "sex", "birth_date", "household_no", "relation",
                                             "address", "registered_address", "phone", "residency", "tags"),
                       strict=True))
    rows = [{english[k]: v for k, v in r.items()} for r in rf.register_rows(5, district["addresses"])]
    report = register_service.import_residents(db, rf.write_xlsx(tmp_path / "r.xlsx", rows),
                                               district_code=rf.DISTRICT, keys=KEYS)
    assert report["encoding"] is None and report["inserted"] == 5


def test_normalised_addresses_match_full_width_and_variant_words(db: Session, district: dict,
                                                                 tmp_path: Path) -> None:
    rows = rf.register_rows(3, district["addresses"])
    rows[0]["现居住地址"] = "某路１２號１幢 ２单元 ３０２"
    rows[1]["现居住地址"] = "江苏省南京市玄武区某路12号2号楼1单元101室"
    rows[2]["现居住地址"] = "某路12号3座"
    report = register_service.import_residents(db, rf.write_csv(tmp_path / "r.csv", rows), district_code=rf.DISTRICT,
                                               keys=KEYS)
    assert report["unmatched"] == 0
    got = db.execute(text("SELECT building_id FROM resident ORDER BY id")).scalars().all()
    assert got == district["buildings"][:3]
    assert db.execute(text("SELECT unit, floor, room FROM dwelling d JOIN household h ON h.dwelling_id = d.id "
                           "JOIN resident r ON r.household_id = h.id ORDER BY r.id LIMIT 1")).one() == ("2", 3, "302")


def test_facilities_and_units_import_atomically_and_idempotently(db: Session, district: dict, tmp_path: Path) -> None:
    facilities = [
        {"名称": "某路幼儿园", "类型": "幼儿园", "地址": district["addresses"][0], "容量": "180", "建筑面积": "2400"},
        {"名称": "社区卫生服务站", "类型": "health_station", "经度": "118.7812", "纬度": "32.0411", "容量": ""},
    ]
    types = dict(db.execute(text("SELECT name_zh, code FROM facility_type")).all())
    assert "幼儿园" in types
    path = rf.write_csv(tmp_path / "facilities.csv", facilities,
                        headers=["名称", "类型", "地址", "经度", "纬度", "容量", "建筑面积"])
    report = register_service.import_facilities(db, path, district_code=rf.DISTRICT)
    assert report["inserted"] == 2
    before = snapshot(db)
    assert register_service.import_facilities(db, path, district_code=rf.DISTRICT)["unchanged"] == 2
    assert snapshot(db) == before
    units = [{"单位名称": "某路便利店", "单位类型": "商铺", "统一社会信用代码": "91320102MA1XXXXX0X",
              "地址": district["addresses"][1], "联系人": "王伟", "联系电话": "13800001111"}]
    with pytest.raises(InvalidInput, match="row 2, column 统一社会信用代码"):
        register_service.import_units(db, rf.write_csv(tmp_path / "units.csv", units), district_code=rf.DISTRICT)
    units[0]["统一社会信用代码"] = ""
    report = register_service.import_units(db, rf.write_csv(tmp_path / "units.csv", units), district_code=rf.DISTRICT)
    assert report["inserted"] == 1 and report["in_buildings"] == 1
    assert register_service.import_units(db, tmp_path / "units.csv", district_code=rf.DISTRICT)["unchanged"] == 1


def test_data_quality_per_grid_and_community(db: Session, district: dict, tmp_path: Path) -> None:
    db.execute(text("""INSERT INTO grid (code, community_code, district_code, name, geom)
                       SELECT '320188001001001', '320188001001', CAST(:d AS varchar), '测试网格',
                              ST_Multi(ST_Buffer(ST_Collect(geom), 0.0005))
                       FROM building WHERE district_code = :d"""), {"d": rf.DISTRICT})
    load_register(db, tmp_path, district, n=30)
    quality = register_service.data_quality(db, district_code=rf.DISTRICT)
    grid = quality["grids"]["320188001001001"]
    assert grid["households_recorded"] == 10 and grid["residents_per_household"] == 3.0
    assert grid["households_estimated"] == 0 and grid["recorded_share"] == 1.0  # all six buildings registered
    assert quality["communities"]["320188001001"]["households_recorded"] == 10


def test_grid_statistics_carry_data_quality_per_grid_and_community(db: Session, district: dict,
                                                                   tmp_path: Path) -> None:
    from gis.services import residents as resident_service
    from gis.services.users import Principal

    db.execute(text("""INSERT INTO grid (code, community_code, district_code, name, geom)
                       SELECT '320188001001001', '320188001001', CAST(:d AS varchar), '测试网格',
                              ST_Multi(ST_Buffer(ST_Collect(geom), 0.0005))
                       FROM building WHERE district_code = :d"""), {"d": rf.DISTRICT})
    db.execute(text("UPDATE building SET households = 40, households_source = 'estimated' WHERE id = :b"),
               {"b": district["buildings"][0]})
    rows = rf.register_rows(12, district["addresses"][1:3])  # four households in buildings 2 and 3
    register_service.import_residents(db, rf.write_csv(tmp_path / "r.csv", rows), district_code=rf.DISTRICT,
                                      keys=KEYS)
    viewer = Principal(user_id=0, username="planner", role="viewer", district_code=rf.DISTRICT)
    items = resident_service.grid_stats(db, viewer, district_code=rf.DISTRICT)
    quality = items[0]["data_quality"]
    assert quality["households_recorded"] == 4 and quality["households_estimated"] == 4 * 40
    assert quality["recorded_share"] == round(4 / 164, 3) and quality["residents_per_household"] == 3.0
    assert resident_service.community_quality(items)["320188001001"]["households_recorded"] == 4


def test_plain_numbers_from_before_0007_are_masked_for_reads_and_encrypted_by_rotation(
        db: Session, district: dict, tmp_path: Path) -> None:
    _report, rows = load_register(db, tmp_path, district, n=3)
    rid = db.execute(text("SELECT min(resident_id) FROM resident_private")).scalar_one()
    plain = rows[0]["身份证号"]
    db.execute(text("UPDATE resident_private SET id_number = :p, id_number_hash = NULL WHERE resident_id = :r"),
               {"p": plain, "r": rid})
    assert privacy.check_id_numbers(db, KEYS)["plain"] == 1
    assert privacy.reveal_id_numbers(db, KEYS, [rid]) == {rid: plain}
    report = privacy.rotate_id_keys(db, KEYS)
    assert report == {"checked": 3, "reencrypted": 1, "rehashed": 1}
    stored = db.execute(text("SELECT id_number, id_number_hash FROM resident_private WHERE resident_id = :r"),
                        {"r": rid}).one()
    assert stored.id_number.startswith("wg1.") and stored.id_number_hash == KEYS.lookup_hash(plain)
    assert privacy.check_id_numbers(db, KEYS) | {"keys": None} == {
        "checked": 3, "plain": 0, "bad": 0, "keys": None, "current_key": KEYS.current_id}
