"""Pure register reading: GB 11643 numbers, address normalisation, encodings and mojibake, ID encryption."""

from __future__ import annotations

import datetime as dt

import pytest

from gis.errors import InvalidInput, SetupError
from gis.idnumbers import IdKeys, check_digit, mask, new_key, parse_id_number
from gis.io.registers import is_mojibake, is_valid_credit_code, normalise_address, parse_date, split_address


def test_gb11643_check_digit_and_decoding() -> None:
    assert check_digit("11010519491231002") == "X"
    parsed = parse_id_number(" 11010519491231002x ")
    assert parsed.value == "11010519491231002X" and parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.sex == "F" and parsed.region == "110105"  # 17th digit 2: even, a woman
    with pytest.raises(InvalidInput, match="where its digits give X"):
        parse_id_number("110105194912310021")
    with pytest.raises(InvalidInput, match="not a date"):
        parse_id_number("11010519491331002X")
    with pytest.raises(InvalidInput, match="18 characters"):
        parse_id_number("1101051949123100")
    assert mask("11010519491231002X") == "110105********002X"


@pytest.mark.parametrize(("written", "key"), [
    ("南京市玄武区某路12号3栋2单元502室", "某路12号3栋2单元502"),
    ("某路１２號３幢２单元５０２", "某路12号3栋2单元502"),
    ("江苏省南京市玄武区 某路12号 3号楼 2单元 502 室", "某路12号3栋2单元502"),
    ("某路12号3座", "某路12号3栋"),
    ("某路12号", "某路12号"),
])
def test_addresses_normalise_to_one_key(written: str, key: str) -> None:
    assert normalise_address(written) == key


def test_an_address_splits_into_building_unit_floor_room() -> None:
    parts = split_address("南京市玄武区某路12号3栋2单元1502室")
    assert (parts.building_key, parts.unit, parts.floor, parts.room) == ("某路12号3栋", "2", 15, "1502")
    assert split_address("中山路8号").building_key == "中山路8号"


def test_mojibake_is_recognised_and_plain_text_is_not() -> None:
    assert is_mojibake("姓名".encode().decode("cp1252", errors="replace"))
    assert is_mojibake("姓名".encode("gbk").decode("latin-1"))
    assert is_mojibake("王\ufffd")
    assert not is_mojibake("姓名") and not is_mojibake("José Müller") and not is_mojibake("Zoë")


def test_dates_in_register_formats() -> None:
    for text in ("1980-05-01", "1980/5/1", "19800501", "1980.05.01", "1980年5月1日"):
        assert parse_date(text) == dt.date(1980, 5, 1)
    with pytest.raises(ValueError):
        parse_date("1980-13-45")


def test_credit_code_check_character() -> None:
    assert is_valid_credit_code("91350100M000100Y43")
    assert not is_valid_credit_code("91350100M000100Y44")
    assert not is_valid_credit_code("91350100M000100Y4")


def test_encryption_round_trip_rotation_and_tampering() -> None:
    old, new = IdKeys.from_text(new_key()), new_key()
    token = old.encrypt("11010519491231002X")
    assert token.startswith(f"wg1.{old.current_id}.") and "1949" not in token
    assert token != old.encrypt("11010519491231002X")  # a fresh nonce each time
    assert old.decrypt(token) == "11010519491231002X"
    assert old.lookup_hash("11010519491231002x") == old.lookup_hash("11010519491231002X")
    rotated = IdKeys.from_text(new, previous=[_text_of(old)])
    assert rotated.decrypt(token) == "11010519491231002X" and not rotated.is_current(token)
    with pytest.raises(SetupError, match="neither WANGGE_ID_KEY"):
        IdKeys.from_text(new).decrypt(token)
    damaged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(InvalidInput, match="integrity"):
        old.decrypt(damaged)
    with pytest.raises(SetupError, match="32 random bytes"):
        IdKeys.from_text("too short")


def _text_of(keys: IdKeys) -> str:
    import base64

    return base64.urlsafe_b64encode(keys.current).decode()
