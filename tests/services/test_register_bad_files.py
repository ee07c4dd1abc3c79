"""Bad register files: each is refused whole, naming the file, the row, the column and what was expected,
and the database is left exactly as it was (every register table compared before and after)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
import register_files as rf
from helpers import ID_KEY
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from gis.services import privacy
from gis.services import registers as register_service
from gis.settings import Settings

KEYS = privacy.id_keys(Settings(id_key=ID_KEY))
snapshot = rf.snapshot


@pytest.fixture
def loaded(db: Session, tmp_path: Path) -> dict:
    """A district with its addresses and a first register already in, so refusals must leave real rows alone."""
    ids = rf.small_district(db)
    rows = rf.address_rows(db, ids)
    register_service.import_addresses(db, rf.write_csv(tmp_path / "addresses.csv", rows), district_code=rf.DISTRICT)
    addresses = [r["地址"] for r in rows]
    register_service.import_residents(db, rf.write_csv(tmp_path / "first.csv", rf.register_rows(9, addresses)),
                                      district_code=rf.DISTRICT, keys=KEYS)
    return {"buildings": ids, "addresses": addresses, "address_rows": rows}


@dataclasses.dataclass
class Bad:
    name: str
    kind: str  # residents | addresses | facilities | units
    make: Callable[[Path, dict], Path]
    expect: tuple[str, ...]  # fragments of the message: row, column, what was expected
    options: dict = dataclasses.field(default_factory=dict)


def people(loaded: dict, n: int = 6) -> list[dict]:
    return rf.register_rows(n, loaded["addresses"], seed=7)


def _edit(row: int, column: str, value: object, *, encoding: str = "gbk", n: int = 6):
    def make(tmp: Path, loaded: dict) -> Path:
        rows = people(loaded, n)
        rows[row - 2][column] = value(rows[row - 2]) if callable(value) else value
        return rf.write_csv(tmp / "bad.csv", rows, encoding=encoding)
    return make


def _gbk_as_mojibake(tmp: Path, loaded: dict) -> Path:
    # A GBK file once opened as Latin-1 and saved as UTF-8: every Chinese character is now 2 Latin letters.
    good = rf.write_csv(tmp / "good.csv", people(loaded), encoding="gbk").read_bytes()
    path = tmp / "bad.csv"
    path.write_text(good.decode("latin-1"), encoding="utf-8")
    return path


def _cells_mojibake(tmp: Path, loaded: dict) -> Path:
    rows = people(loaded)
    rows[2]["姓名"] = rows[2]["姓名"].encode("utf-8").decode("cp1252", errors="replace")
    return rf.write_csv(tmp / "bad.csv", rows)


def _missing_column(tmp: Path, loaded: dict) -> Path:
    return rf.write_csv(tmp / "bad.csv", people(loaded), headers=[h for h in rf.RESIDENT_HEADERS if h != "身份证号"])


def _utf16(tmp: Path, loaded: dict) -> Path:
    return rf.write_csv(tmp / "bad.csv", people(loaded), encoding="utf-16")


def _header_only(tmp: Path, loaded: dict) -> Path:
    path = tmp / "bad.csv"
    path.write_text(",".join(rf.RESIDENT_HEADERS) + "\n", encoding="utf-8")
    return path


def _xlsx_number_id(tmp: Path, loaded: dict) -> Path:
    from openpyxl import Workbook

    rows = people(loaded)
    book = Workbook()
    sheet = book.active
    sheet.append(rf.RESIDENT_HEADERS)
    for i, row in enumerate(rows):
        cells = [row[h] for h in rf.RESIDENT_HEADERS]
        if i == 3:
            cells[1] = int(row["身份证号"][:17])  # typed into Excel as a number: digits and the X are lost
        sheet.append(cells)
    book.save(tmp / "bad.xlsx")
    return tmp / "bad.xlsx"


def _duplicate_id(tmp: Path, loaded: dict) -> Path:
    rows = people(loaded)
    rows[4] = {**rows[4], "身份证号": rows[1]["身份证号"], "性别": rows[1]["性别"], "出生日期": rows[1]["出生日期"]}
    return rf.write_csv(tmp / "bad.csv", rows)


def _extra_cells(tmp: Path, loaded: dict) -> Path:
    path = rf.write_csv(tmp / "bad.csv", people(loaded))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] += ",多余,内容"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _wrong_kind(tmp: Path, loaded: dict) -> Path:
    path = tmp / "bad.json"
    path.write_text("{}", encoding="utf-8")
    return path


def _addresses(edit: Callable[[list[dict]], None], *, headers: list[str] | None = None):
    def make(tmp: Path, loaded: dict) -> Path:
        rows = [dict(r, 地址=r["地址"].replace("某路", "新路")) for r in loaded["address_rows"]]
        edit(rows)
        return rf.write_csv(tmp / "bad.csv", rows, headers=headers)
    return make


def _facilities(rows: list[dict]):
    def make(tmp: Path, loaded: dict) -> Path:
        return rf.write_csv(tmp / "bad.csv", rows, headers=["名称", "类型", "地址", "经度", "纬度", "容量", "建筑面积"])
    return make


CASES = [
    Bad("wrong ID checksum", "residents", _edit(5, "身份证号", lambda r: rf.with_bad_checksum(r["身份证号"])),
        ("bad.csv", "row 5", "column 身份证号", "check character")),
    Bad("ID number too short", "residents", _edit(3, "身份证号", lambda r: r["身份证号"][:17]),
        ("row 3", "column 身份证号", "18 characters")),
    Bad("birth date that does not parse", "residents", _edit(4, "出生日期", "1980-13-45"),
        ("row 4", "column 出生日期", "a date such as")),
    Bad("birth date contradicts the ID number", "residents", _edit(2, "出生日期", "1901-01-01"),
        ("row 2", "column 出生日期", "the birth date in the ID number")),
    Bad("sex contradicts the ID number", "residents",
        _edit(6, "性别", lambda r: "女" if r["性别"] == "男" else "男"), ("row 6", "column 性别", "17th digit")),
    Bad("unknown residency type", "residents", _edit(3, "人员类型", "外星"),
        ("row 3", "column 人员类型", "户籍, 流动 or 境外")),
    Bad("unknown tag", "residents", _edit(2, "标签", "神秘人"), ("row 2", "column 标签", "独居老人")),
    Bad("bad phone number", "residents", _edit(7, "联系电话", "call me"), ("row 7", "column 联系电话", "phone number")),
    Bad("GBK file read as UTF-8", "residents", _edit(2, "姓名", "王伟"),
        ("row 1", "column 姓名", "text in utf-8", "read as GBK"), {"encoding": "utf-8"}),
    Bad("GBK once decoded as Latin-1 (mojibake headers)", "residents", _gbk_as_mojibake,
        ("row 1", "wrong encoding")),
    Bad("mojibake in one cell", "residents", _cells_mojibake, ("row 4", "column 姓名", "wrong encoding")),
    Bad("neither UTF-8 nor GBK", "residents", _utf16, ("UTF-8 or GBK",)),
    Bad("missing required column", "residents", _missing_column, ("row 1", "身份证号", "the file has")),
    Bad("header only", "residents", _header_only, ("at least one row",)),
    Bad("ID typed as a number in Excel", "residents", _xlsx_number_id,
        ("bad.xlsx", "row 5", "column 身份证号", "as text")),
    Bad("the same person twice", "residents", _duplicate_id, ("row 6", "column 身份证号", "same ID number as row 3")),
    Bad("more cells than headers", "residents", _extra_cells, ("row 4", "one per header")),
    Bad("not a CSV or XLSX", "residents", _wrong_kind, ("a .csv or .xlsx file",)),
    Bad("unknown address under --strict", "residents", _edit(3, "现居住地址", "某路404号1栋1单元101室"),
        ("row 3", "column 现居住地址", "(strict", "unmatched"), {"strict": True}),
    Bad("address: latitude and longitude swapped", "addresses",
        _addresses(lambda rows: rows[2].update(经度=rows[2]["纬度"], 纬度=rows[2]["经度"])),
        ("row 4", "column 经度", "swapped")),
    Bad("address: a building id of no building here", "addresses",
        _addresses(lambda rows: rows[1].update(楼栋编号="999999999"), headers=["地址", "经度", "纬度", "楼栋编号"]),
        ("row 3", "column 楼栋编号", "a building of district")),
    Bad("address: the same address twice", "addresses",
        _addresses(lambda rows: rows[4].update(地址=rows[1]["地址"].replace("12号", "１２號"))),
        ("row 6", "column 地址", "the same as row 3")),
    Bad("address: not placed under --strict", "addresses",
        _addresses(lambda rows: rows[0].update(经度=118.70, 纬度=32.00)), ("row 2", "(strict)"), {"strict": True}),
    Bad("facility: unknown type", "facilities",
        _facilities([{"名称": "某站", "类型": "太空站", "经度": "118.7812", "纬度": "32.0411"}]),
        ("row 2", "column 类型", "a type of the catalogue")),
    Bad("facility: negative capacity", "facilities",
        _facilities([{"名称": "幼儿园", "类型": "kindergarten", "经度": "118.7812", "纬度": "32.0411", "容量": "-5"}]),
        ("row 2", "column 容量", "0 or more")),
    Bad("unit: bad credit code", "units", lambda tmp, loaded: rf.write_csv(tmp / "bad.csv", [
        {"单位名称": "便利店", "统一社会信用代码": "91320102MA1XXXXX0Y", "地址": loaded["addresses"][0]}]),
        ("row 2", "column 统一社会信用代码", "GB 32100")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_file_is_refused_whole_and_changes_nothing(db: Session, loaded: dict, tmp_path: Path, case: Bad) -> None:
    path = case.make(tmp_path, loaded)
    before = snapshot(db)
    run = {
        "residents": lambda: register_service.import_residents(db, path, district_code=rf.DISTRICT, keys=KEYS,
                                                               **case.options),
        "addresses": lambda: register_service.import_addresses(db, path, district_code=rf.DISTRICT, **case.options),
        "facilities": lambda: register_service.import_facilities(db, path, district_code=rf.DISTRICT),
        "units": lambda: register_service.import_units(db, path, district_code=rf.DISTRICT),
    }[case.kind]
    with pytest.raises(InvalidInput) as refused:
        run()
    message = str(refused.value)
    assert message.startswith(path.name), message
    for fragment in case.expect:
        assert fragment in message, (fragment, message)
    assert snapshot(db) == before
    assert db.execute(text("SELECT count(*) FROM resident")).scalar_one() == 9


def test_at_least_fifteen_bad_files_are_covered() -> None:
    assert len(CASES) >= 15
