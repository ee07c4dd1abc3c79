"""Reading registers (一标三实): standard addresses, population registers, facilities and units.

Pure code: files in, checked records out; no database. CSV (UTF-8, UTF-8 with BOM, GBK/GB18030,
detected) or XLSX (first sheet), Chinese or English headers. Every problem names the file, the row
(as a spreadsheet shows it: the header is row 1), the column and what was expected; a file with any
problem is refused whole, and the first problems are listed in the error's details.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gis.errors import InvalidInput
from gis.idnumbers import IdNumber, parse_id_number

MAX_PROBLEMS = 20
_CJK = re.compile(r"[\u4e00-\u9fff]")
# Characters that GBK or UTF-8 bytes turn into when decoded as Latin-1/CP1252 (e.g. 'å§“å' for 姓名).
_LATIN_MOJIBAKE = re.compile(r"[\u00c0-\u00ff]")


# --- reading a table --------------------------------------------------------------------------


@dataclass
class Table:
    """The cells of a register file as text, each row with its row number in the file."""

    file: str
    headers: list[str]
    rows: list[tuple[int, dict[str, Any]]]
    encoding: str | None  # None for XLSX


class Problems:
    """Problems found in a file; raised together as one InvalidInput."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[dict[str, Any]] = []

    def add(self, row: int | None, column: str | None, expected: str, got: Any = None) -> None:
        self.items.append({"row": row, "column": column, "expected": expected,
                           "got": None if got is None else str(got)[:60]})

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first = self.items[0]
        more = f" (and {len(self.items) - 1} more problems)" if len(self.items) > 1 else ""
        raise InvalidInput(f"{self.file}: {_describe(first)}; nothing was imported{more}",
                           details={"file": self.file, "problems": self.items[:MAX_PROBLEMS],
                                    "problem_count": len(self.items)})

    def __len__(self) -> int:
        return len(self.items)


def _describe(problem: dict[str, Any]) -> str:
    where = []
    if problem["row"] is not None:
        where.append(f"row {problem['row']}")
    if problem["column"] is not None:
        where.append(f"column {problem['column']}")
    got = "" if problem["got"] is None else f", got {problem['got']!r}"
    return f"{', '.join(where)}: expected {problem['expected']}{got}" if where else \
        f"expected {problem['expected']}{got}"


def _fail(file: str, row: int | None, column: str | None, expected: str, got: Any = None) -> InvalidInput:
    problems = Problems(file)
    problems.add(row, column, expected, got)
    try:
        problems.raise_if_any()
    except InvalidInput as exc:
        return exc
    raise AssertionError("unreachable")


def _decode_csv(raw: bytes, file: str, encoding: str | None) -> tuple[str, str]:
    """The file's text and its encoding: the one given, else UTF-8 (with or without BOM), else GB18030."""
    if encoding is not None:
        try:
            codec = "utf-8-sig" if encoding.lower().replace("_", "-") in {"utf-8", "utf8"} else encoding
            return raw.decode(codec), encoding
        except LookupError:
            raise _fail(file, None, None, "an encoding Python knows (utf-8, gbk, gb18030)", encoding) from None
        except UnicodeDecodeError as exc:
            raise _undecodable(raw, exc, file, f"text in {encoding}") from None
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            from charset_normalizer import from_bytes

            guess = from_bytes(raw).best()
            named = f" (it looks like {guess.encoding})" if guess is not None else ""
            raise _undecodable(raw, utf8_error, file, f"UTF-8 or GBK/GB18030 text{named}; save it as UTF-8 "
                               "or name its encoding") from None
        return text, "gb18030"


def _undecodable(raw: bytes, exc: UnicodeDecodeError, file: str, expected: str) -> InvalidInput:
    """Name the row and column of the first byte that does not decode."""
    head = raw[: exc.start]
    row = head.count(b"\n") + 1
    line_start = head.rfind(b"\n") + 1
    column_index = raw[line_start: exc.start].count(b",") + 1
    first = raw.split(b"\n", 1)[0]
    try:
        header = first.decode("utf-8").lstrip("\ufeff").split(",")
    except UnicodeDecodeError:  # name the column as a person would read it
        header = first.decode("gb18030", "replace").split(",")
    column = header[column_index - 1].strip() if column_index <= len(header) else f"#{column_index}"
    hint = ""
    line = raw[line_start: raw.find(b"\n", exc.start) if raw.find(b"\n", exc.start) >= 0 else len(raw)]
    try:
        hint = f" (the bytes read as GBK: {line.decode('gb18030')[:30]!r})"
    except UnicodeDecodeError:
        pass
    return _fail(file, row, column, expected + hint, raw[exc.start: exc.start + 4].hex(" "))


def is_mojibake(value: str) -> bool:
    """True for text that is Chinese decoded with the wrong code page (e.g. 'å§“å' or 'ÐÕÃû', or U+FFFD)."""
    if "\ufffd" in value:
        return True
    if not _LATIN_MOJIBAKE.search(value):
        return False
    for wrong in ("cp1252", "latin-1"):
        try:
            back = value.encode(wrong)
        except UnicodeEncodeError:
            continue
        for right in ("utf-8", "gb18030"):
            try:
                if _CJK.search(back.decode(right)):
                    return True
            except UnicodeDecodeError:
                continue
    return False


def _cell_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value  # kept: a date cell is a date, whatever its display format
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def read_table(path: Path, *, encoding: str | None = None) -> Table:
    """The header and rows of a CSV or XLSX register, as text; refuses undecodable or garbled text."""
    file = path.name
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm"}:
        headers, rows = _read_xlsx(path, file)
        used = None
    elif suffix in {".csv", ".txt"}:
        text, used = _decode_csv(path.read_bytes(), file, encoding)
        reader = csv.reader(io.StringIO(text, newline=""))
        lines = list(reader)
        if not lines:
            raise _fail(file, None, None, "a header row and at least one row", "an empty file")
        headers = [h.strip() for h in lines[0]]
        rows = [(i, list(line)) for i, line in enumerate(lines[1:], start=2) if any(c.strip() for c in line)]
    else:
        raise _fail(file, None, None, "a .csv or .xlsx file", path.suffix or "no extension")
    problems = Problems(file)
    for header in headers:
        if header and is_mojibake(header):
            problems.add(1, header, "readable header text: the file looks decoded with the wrong encoding "
                         "(GBK read as UTF-8 or Latin-1); name the encoding gbk or save it as UTF-8", header)
    seen: set[str] = set()
    for header in headers:
        if header and header in seen:
            problems.add(1, header, "each column once", f"{header} twice")
        seen.add(header)
    table_rows: list[tuple[int, dict[str, Any]]] = []
    for number, cells in rows:
        if len(cells) > len(headers) and any(_cell_text(c) is not None for c in cells[len(headers):]):
            problems.add(number, None, f"at most {len(headers)} cells (one per header)", f"{len(cells)} cells")
        record = {}
        for header, value in zip(headers, cells, strict=False):
            value = _cell_text(value)
            if isinstance(value, str) and is_mojibake(value):
                problems.add(number, header, "readable text: this cell looks decoded with the wrong encoding "
                             "(GBK read as UTF-8 or Latin-1)", value)
            if header:
                record[header] = value
        table_rows.append((number, record))
    problems.raise_if_any()
    if not table_rows:
        raise _fail(file, None, None, "at least one row under the header", "none")
    return Table(file=file, headers=[h for h in headers if h], rows=table_rows, encoding=used)


def _read_xlsx(path: Path, file: str) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for a damaged file
        raise _fail(file, None, None, "an Excel .xlsx workbook", f"{type(exc).__name__}: {exc}") from None
    try:
        sheet = book.worksheets[0]
        lines = [(i, list(r)) for i, r in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        book.close()
    if not lines:
        raise _fail(file, None, None, "a header row and at least one row", "an empty sheet")
    headers = ["" if h is None else str(h).strip() for h in lines[0][1]]
    rows = [(i, cells) for i, cells in lines[1:] if any(_cell_text(c) is not None for c in cells)]
    return headers, rows


# --- columns ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A field of a register and the headers it may carry."""

    name: str
    headers: tuple[str, ...]
    required: bool = False


def _fold(header: str) -> str:
    return re.sub(r"[\s_\-()（）]", "", unicodedata.normalize("NFKC", header)).lower()


def map_columns(table: Table, columns: Iterable[Column], *, required_one_of: tuple[tuple[str, ...], ...] = ()
                ) -> tuple[dict[str, str], list[str]]:
    """Field name → header in the file, and the headers not used; a missing required column is refused."""
    folded = {_fold(h): h for h in table.headers}
    found: dict[str, str] = {}
    columns = list(columns)
    for column in columns:
        for alias in (column.name, *column.headers):
            if _fold(alias) in folded:
                found[column.name] = folded[_fold(alias)]
                break
    problems = Problems(table.file)
    for column in columns:
        if column.required and column.name not in found:
            problems.add(1, column.headers[0], f"a column {' or '.join((*column.headers[:1], column.name))}; "
                         f"the file has {', '.join(table.headers)}")
    for group in required_one_of:
        if not any(name in found for name in group):
            problems.add(1, None, f"one of the columns {', '.join(group)}", ", ".join(table.headers))
    problems.raise_if_any()
    unused = [h for h in table.headers if h not in set(found.values())]
    return found, unused


# --- values -----------------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")


def parse_date(value: Any) -> dt.date:
    """A date from a cell: an Excel date, or text as 2001-02-03, 2001/2/3, 20010203, 2001.2.3 or 2001年2月3日."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


_SEX = {"男": "M", "m": "M", "male": "M", "女": "F", "f": "F", "female": "F"}
_RESIDENCY = {"户籍": "permanent", "常住": "permanent", "户籍人口": "permanent", "permanent": "permanent",
              "流动": "floating", "流动人口": "floating", "暂住": "floating", "floating": "floating",
              "境外": "overseas", "境外人员": "overseas", "overseas": "overseas"}
# Register tags in Chinese → the tag codes the app counts (gis.services.residents.WELFARE_TAGS and others).
TAGS = {"独居老人": "elderly_alone", "空巢老人": "elderly_alone", "残疾人": "disabled", "残疾": "disabled",
        "低保": "low_income", "低保户": "low_income", "留守儿童": "left_behind_child", "退役军人": "veteran",
        "特扶家庭": "special_support", "重点人员": "key_person", "社区矫正": "community_correction",
        "精神障碍": "mental_disorder", "吸毒人员": "drug_user"}
PARTY_TAGS = frozenset({"党员", "中共党员", "party_member"})
_TAG_CODE = re.compile(r"^[a-z][a-z0-9_:.-]{0,39}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")


def _text(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value).strip()


# --- addresses ---------------------------------------------------------------------------------

_ADMIN_PREFIX = re.compile(r"^(?:[^省市区县路街]{2,7}省)?(?:[^省市区县路街]{1,7}市)?(?:[^省市区县路街]{1,7}[区县])?")
_PARTS = re.compile(r"^(?P<building>.*?(?:号\d+栋|\d+栋|号))(?:(?P<unit>\d+)单元)?(?:(?P<room>\d+)(?:室|号)?)?$")


def normalise_address(address: str) -> str:
    """The key an address is matched on, the same however a register writes it.

    Full-width → half-width, no spaces, 號→号, 幢/座/号楼/楼→栋, no 室, and no leading province, city
    or district name (a register may write them or not).
    """
    text = unicodedata.normalize("NFKC", address)
    text = re.sub(r"\s+", "", text).replace("號", "号").replace("－", "-")
    text = re.sub(r"(\d+)(?:号楼|栋楼|幢|座|楼|栋)", r"\1栋", text)
    text = re.sub(r"(\d+)室$", r"\1", text)
    text = re.sub(r"(\d+)号$", r"\1", text) if re.search(r"单元\d+号$", text) else text
    stripped = _ADMIN_PREFIX.sub("", text, count=1)
    return stripped or text


@dataclass(frozen=True)
class AddressParts:
    """A normalised address split into its building key and the dwelling inside it."""

    key: str
    building_key: str
    unit: str | None
    floor: int | None
    room: str | None


def split_address(address: str) -> AddressParts:
    """Building key (…号 or …号N栋), unit and room of an address; floor from the room number (502 → 5)."""
    key = normalise_address(address)
    match = _PARTS.match(key)
    if not match:
        return AddressParts(key=key, building_key=key, unit=None, floor=None, room=None)
    room = match.group("room")
    floor = int(room[:-2]) if room and len(room) >= 3 and int(room[:-2]) > 0 else None
    return AddressParts(key=key, building_key=match.group("building"), unit=match.group("unit"), floor=floor,
                        room=room)


# --- kinds of register ---------------------------------------------------------------------

LON = Column("lon", ("经度", "longitude", "lng", "x"))
LAT = Column("lat", ("纬度", "latitude", "y"))
ADDRESS_COLUMNS = (
    Column("address", ("地址", "标准地址", "address"), required=True),
    LON, LAT,
    Column("building_id", ("楼栋编号", "建筑编号", "building_id", "building")),
)
RESIDENT_COLUMNS = (
    Column("name", ("姓名", "name"), required=True),
    Column("id_number", ("身份证号", "公民身份号码", "身份证号码", "id_number"), required=True),
    Column("sex", ("性别", "sex")),
    Column("birth_date", ("出生日期", "birth_date")),
    Column("household_no", ("户编号", "户号", "household_no"), required=True),
    Column("relation", ("与户主关系", "relation")),
    Column("address", ("现居住地址", "居住地址", "现住址", "address"), required=True),
    Column("registered_address", ("户籍地址", "户籍地", "registered_address")),
    Column("phone", ("联系电话", "手机号", "phone")),
    Column("residency", ("人员类型", "residency")),
    Column("tags", ("标签", "tags")),
)
FACILITY_COLUMNS = (
    Column("name", ("名称", "设施名称", "name"), required=True),
    Column("type", ("类型", "设施类型", "type", "type_code"), required=True),
    Column("address", ("地址", "address")),
    LON, LAT,
    Column("capacity", ("容量", "规模", "capacity")),
    Column("floor_area", ("建筑面积", "面积", "floor_area", "floor_area_m2")),
)
UNIT_COLUMNS = (
    Column("name", ("单位名称", "名称", "name"), required=True),
    Column("kind", ("单位类型", "类型", "kind")),
    Column("credit_code", ("统一社会信用代码", "信用代码", "credit_code")),
    Column("address", ("地址", "经营地址", "address")),
    LON, LAT,
    Column("contact_name", ("联系人", "负责人", "contact", "contact_name")),
    Column("contact_phone", ("联系电话", "电话", "phone", "contact_phone")),
    Column("employees", ("从业人数", "员工人数", "employees")),
)


@dataclass
class Parsed:
    """Checked records of one file, with what the report says about it."""

    file: str
    encoding: str | None
    records: list[dict[str, Any]]
    columns: dict[str, str]
    ignored_columns: list[str]
    derived: dict[str, int] = field(default_factory=dict)


def _rows(table: Table, columns: dict[str, str]) -> Iterable[tuple[int, Callable[[str], Any]]]:
    """Each row's number and a reader of its cells by field name (None for a field the file lacks)."""
    for number, cells in table.rows:
        yield number, _cell_reader(cells, columns)


def _cell_reader(cells: dict[str, Any], columns: dict[str, str]) -> Callable[[str], Any]:
    def get(name: str) -> Any:
        return cells.get(columns[name]) if name in columns else None
    return get


def _lonlat(get: Callable[[str], Any], number: int, columns: dict[str, str], problems: Problems
            ) -> tuple[float | None, float | None]:
    lon_raw, lat_raw = get("lon"), get("lat")
    if lon_raw is None and lat_raw is None:
        return None, None
    out = []
    for name, raw, low, high in (("lon", lon_raw, 73.0, 136.0), ("lat", lat_raw, 3.0, 54.0)):
        try:
            value = float(raw)
        except (TypeError, ValueError):
            problems.add(number, columns.get(name, name), f"a number in degrees ({low:g} to {high:g} in China)", raw)
            return None, None
        if not low <= value <= high:
            swapped = " (longitude and latitude swapped?)" if name == "lon" and 3 <= value <= 54 else ""
            problems.add(number, columns[name], f"{low:g} to {high:g} degrees, China's range{swapped}", raw)
            return None, None
        out.append(value)
    return out[0], out[1]


def _number(get: Callable[[str], Any], name: str, number: int, columns: dict[str, str], problems: Problems, *,
            integer: bool) -> Any:
    raw = get(name)
    if raw is None:
        return None
    try:
        value = float(str(raw).replace(",", ""))
        if integer and not value.is_integer():
            raise ValueError
    except ValueError:
        problems.add(number, columns[name], "a whole number, 0 or more" if integer else "a number, 0 or more", raw)
        return None
    if value < 0:
        problems.add(number, columns[name], "0 or more", raw)
        return None
    return int(value) if integer else value


def parse_addresses(table: Table) -> Parsed:
    """Standard addresses: text, optional lon/lat and building id; an address appears once."""
    columns, unused = map_columns(table, ADDRESS_COLUMNS)
    problems, records = Problems(table.file), []
    seen: dict[str, int] = {}
    for number, get in _rows(table, columns):
        address = get("address")
        if address is None:
            problems.add(number, columns["address"], "an address")
            continue
        address = _text(address)
        key = normalise_address(address)
        if key in seen:
            problems.add(number, columns["address"], f"each address once (the same as row {seen[key]} "
                         "once spaces, full-width digits and 幢/座/号楼 are normalised)", address)
            continue
        seen[key] = number
        lon, lat = _lonlat(get, number, columns, problems)
        building = get("building_id")
        if building is not None:
            try:
                building = int(str(building))
            except ValueError:
                problems.add(number, columns["building_id"], "a building id (a whole number)", building)
                continue
        if lon is None and building is None and get("lon") is None:
            problems.add(number, columns.get("lon", "经度"), "lon/lat or a building id to place the address")
            continue
        records.append({"row": number, "address": address, "address_key": key, "lon": lon, "lat": lat,
                        "building_id": building})
    problems.raise_if_any()
    return Parsed(table.file, table.encoding, records, columns, unused)


def _tags(raw: Any, number: int, column: str, problems: Problems) -> tuple[list[str], bool]:
    if raw is None:
        return [], False
    tags, party = set(), False
    for part in re.split(r"[;,，；、\s/|]+", _text(raw)):
        if not part:
            continue
        if part in PARTY_TAGS:
            party = True
        elif part in TAGS:
            tags.add(TAGS[part])
        elif _TAG_CODE.match(part):
            tags.add(part)
        else:
            problems.add(number, column, f"tags separated by ';' or '、': one of {'、'.join(TAGS)}、党员, "
                         "or a code such as elderly_alone", part)
    return sorted(tags), party


def parse_residents(table: Table) -> Parsed:
    """A population register: ID numbers checked (GB 11643), sex and birth date derived or checked against them."""
    columns, unused = map_columns(table, RESIDENT_COLUMNS)
    problems, records = Problems(table.file), []
    seen: dict[str, int] = {}
    derived = {"sex": 0, "birth_date": 0}
    for number, get in _rows(table, columns):
        before = len(problems)
        record: dict[str, Any] = {"row": number}
        for name in ("name", "household_no", "address"):
            value = get(name)
            if value is None:
                problems.add(number, columns[name], {"name": "a name", "household_no": "a household number (户编号)",
                                                     "address": "the address where the person lives"}[name])
            else:
                record[name] = _text(value)
        if len(record.get("name", "")) > 100:
            problems.add(number, columns["name"], "at most 100 characters", record["name"])
        if len(record.get("household_no", "")) > 40:
            problems.add(number, columns["household_no"], "at most 40 characters", record["household_no"])
        parsed = _id_number(get, number, columns, problems, seen)
        if parsed is not None:
            record["id_number"] = parsed.value
        _sex_and_birth(get, record, parsed, columns, problems, derived)
        for name in ("relation", "registered_address"):
            value = get(name)
            record[name] = None if value is None else _text(value)
        if record["relation"] is not None and len(record["relation"]) > 20:
            problems.add(number, columns["relation"], "at most 20 characters", record["relation"])
        phone = get("phone")
        if phone is not None:
            phone = _text(phone)
            if not _PHONE.match(phone):
                problems.add(number, columns["phone"], "a phone number: digits, spaces, '-' and a leading '+', "
                             "6 to 20 characters", phone)
        record["phone"] = phone
        residency = get("residency")
        if residency is None:
            record["residency"] = "permanent"
        elif _text(residency).lower() in _RESIDENCY:
            record["residency"] = _RESIDENCY[_text(residency).lower()]
        else:
            problems.add(number, columns["residency"], "户籍, 流动 or 境外", residency)
        tag_column = columns.get("tags", "标签")
        record["tags"], record["party_member"] = _tags(get("tags"), number, tag_column, problems)
        if len(problems) == before:
            records.append(record)
    problems.raise_if_any()
    return Parsed(table.file, table.encoding, records, columns, unused, derived)


def _id_number(get: Callable[[str], Any], number: int, columns: dict[str, str], problems: Problems,
               seen: dict[str, int]) -> IdNumber | None:
    """The row's ID number, checked (GB 11643) and seen once in the file; None (and a problem) when it is not."""
    raw_id = get("id_number")
    parsed = None
    if raw_id is None:
        problems.add(number, columns["id_number"], "an 18-character ID number")
    elif isinstance(raw_id, (int, float)):
        problems.add(number, columns["id_number"], "the ID number as text (a number cell loses digits and the "
                     "X; format the column as text)", raw_id)
    else:
        try:
            parsed = parse_id_number(_text(raw_id))
        except InvalidInput as exc:
            problems.add(number, columns["id_number"], f"a valid GB 11643 ID number; {exc}")
    if parsed is not None:
        if parsed.value in seen:
            problems.add(number, columns["id_number"], f"each person once: the same ID number as row "
                         f"{seen[parsed.value]}", parsed.value[:6] + "…")
        seen[parsed.value] = number
    return parsed


def _sex_and_birth(get: Callable[[str], Any], record: dict[str, Any], parsed: IdNumber | None,
                   columns: dict[str, str], problems: Problems, derived: dict[str, int]) -> None:
    """Sex and birth date into ``record``: as given and checked against the ID number, or derived from it."""
    number = record["row"]
    sex_raw = get("sex")
    if sex_raw is None:
        if parsed is not None:
            record["sex"] = parsed.sex
            derived["sex"] += 1
    else:
        sex = _SEX.get(_text(sex_raw).lower())
        if sex is None:
            problems.add(number, columns["sex"], "男 or 女 (or M/F)", sex_raw)
        elif parsed is not None and sex != parsed.sex:
            problems.add(number, columns["sex"], f"{'男' if parsed.sex == 'M' else '女'}, as the ID number's "
                         "17th digit says (odd: 男, even: 女)", sex_raw)
        record["sex"] = sex
    birth_raw = get("birth_date")
    if birth_raw is None:
        if parsed is not None:
            record["birth_date"] = parsed.birth_date
            derived["birth_date"] += 1
    else:
        try:
            birth = parse_date(birth_raw)
        except ValueError:
            problems.add(number, columns["birth_date"], "a date such as 1980-05-01, 1980/5/1, 19800501 or "
                         "1980年5月1日", birth_raw)
        else:
            if parsed is not None and birth != parsed.birth_date:
                problems.add(number, columns["birth_date"], f"{parsed.birth_date.isoformat()}, the birth date in "
                             "the ID number", birth_raw)
            record["birth_date"] = birth


def parse_facilities(table: Table, *, types: dict[str, str]) -> Parsed:
    """Facilities: name, a type from the catalogue (code or Chinese name in ``types``), place, capacity, area."""
    columns, unused = map_columns(table, FACILITY_COLUMNS, required_one_of=(("address", "lon"),))
    problems, records = Problems(table.file), []
    for number, get in _rows(table, columns):
        before = len(problems)
        name, type_raw = get("name"), get("type")
        if name is None:
            problems.add(number, columns["name"], "a facility name")
        code = None
        if type_raw is None:
            problems.add(number, columns["type"], "a facility type")
        else:
            code = types.get(_text(type_raw)) or types.get(_text(type_raw).lower())
            if code is None:
                problems.add(number, columns["type"], "a type of the catalogue (`wangge coverage catalogue`): "
                             + ", ".join(sorted(set(types.values()))), type_raw)
        lon, lat = _lonlat(get, number, columns, problems)
        address = get("address")
        if lon is None and address is None and len(problems) == before:
            problems.add(number, columns.get("address", "地址"), "an address or lon/lat")
        capacity = _number(get, "capacity", number, columns, problems, integer=True)
        area = _number(get, "floor_area", number, columns, problems, integer=False)
        if len(problems) == before:
            records.append({"row": number, "name": _text(name), "type_code": code, "lon": lon, "lat": lat,
                            "address": None if address is None else _text(address), "capacity": capacity,
                            "floor_area_m2": area})
    problems.raise_if_any()
    return Parsed(table.file, table.encoding, records, columns, unused)


_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def is_valid_credit_code(code: str) -> bool:
    """GB 32100-2015: 18 characters of the code alphabet, the last a MOD 31 check character."""
    if len(code) != 18 or any(c not in _CREDIT_CHARS for c in code):
        return False
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(code[:17], _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_CHARS[(31 - total % 31) % 31] == code[17]


def parse_units(table: Table) -> Parsed:
    """实有单位: name, kind, credit code (GB 32100, checked), place, contact; one row per unit."""
    columns, unused = map_columns(table, UNIT_COLUMNS, required_one_of=(("address", "lon"),))
    problems, records = Problems(table.file), []
    seen: dict[str, int] = {}
    for number, get in _rows(table, columns):
        before = len(problems)
        name = get("name")
        if name is None:
            problems.add(number, columns["name"], "a unit name")
        code = get("credit_code")
        if code is not None:
            code = _text(code).upper()
            if not is_valid_credit_code(code):
                problems.add(number, columns["credit_code"], "an 18-character 统一社会信用代码 whose check character "
                             "is right (GB 32100)", code)
        lon, lat = _lonlat(get, number, columns, problems)
        address = get("address")
        if lon is None and address is None and len(problems) == before:
            problems.add(number, columns.get("address", "地址"), "an address or lon/lat")
        phone = get("contact_phone")
        if phone is not None and not _PHONE.match(_text(phone)):
            problems.add(number, columns["contact_phone"], "a phone number", phone)
        employees = _number(get, "employees", number, columns, problems, integer=True)
        if len(problems) > before:
            continue
        address_text = None if address is None else _text(address)
        key = f"code:{code}" if code else f"name:{_text(name)}@{normalise_address(address_text or '')}"
        if key in seen:
            problems.add(number, columns["name"], f"each unit once (the same as row {seen[key]})", name)
            continue
        seen[key] = number
        records.append({"row": number, "unit_key": key, "name": _text(name),
                        "kind": None if get("kind") is None else _text(get("kind")), "credit_code": code,
                        "address": address_text, "lon": lon, "lat": lat,
                        "contact_name": None if get("contact_name") is None else _text(get("contact_name")),
                        "contact_phone": None if phone is None else _text(phone), "employees": employees})
    problems.raise_if_any()
    return Parsed(table.file, table.encoding, records, columns, unused)
