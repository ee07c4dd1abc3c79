"""Needs imported from CSV and XLSX (all rows or none, problems named by file, row and column); the lists exported."""

from __future__ import annotations

import io

import coverage_town as town
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session


def _count(session: Session) -> int:
    return session.execute(text("SELECT count(*) FROM need")).scalar_one()


def test_a_csv_of_needs_is_imported_whole(client: TestClient, as_user, world: dict, api_session: Session) -> None:
    point = town._lonlat([town.p(250, 80)])[0]
    csv = ("需求类型,需求,楼栋ID,经度,纬度,涉及户数,涉及人数\n"
           f"elderly_meals,助餐,{world['N']},,,3,4\n"
           f"ev_charging,充电桩不足,,{point.x},{point.y},12,12\n")
    before = _count(api_session)
    response = client.post("/ledgers/needs/import", headers=as_user("worker_a"),
                           files={"file": ("需求.csv", csv.encode("utf-8"), "text/csv")})
    assert response.status_code == 201, response.text
    assert response.json()["imported"] == 2
    rows = api_session.execute(text("SELECT kind_code, source, grid_code, affected_people FROM need WHERE id = ANY(:i) "
                                    "ORDER BY id"), {"i": response.json()["ids"]}).all()
    assert [tuple(r) for r in rows] == [("elderly_meals", "import", "320199001001001", 4),
                                        ("ev_charging", "import", "320199001001001", 12)]
    assert _count(api_session) == before + 2


def test_a_bad_row_refuses_the_whole_file_naming_row_and_column(client: TestClient, as_user, world: dict,
                                                                 api_session: Session) -> None:
    csv = ("需求类型,楼栋ID,涉及人数\n"
           f"elderly_meals,{world['N']},2\n"
           f"flying_cars,{world['N']},2\n"
           f"parking,{world['N']},-3\n")
    before = _count(api_session)
    response = client.post("/ledgers/needs/import", headers=as_user("worker_a"),
                           files={"file": ("needs.csv", csv.encode("utf-8"), "text/csv")})
    assert response.status_code == 422
    body = response.json()
    assert body["message"].startswith("needs.csv: row 3, column 需求类型")
    problems = [(p["row"], p["column"]) for p in body["details"]["problems"]]
    assert problems == [(3, "需求类型"), (4, "涉及人数")]
    assert _count(api_session) == before


def test_an_xlsx_row_outside_the_workers_grids_is_named(client: TestClient, as_user, world: dict,
                                                        api_session: Session) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["kind", "building_id", "affected_people"])
    sheet.append(["parking", world["N"], 5])
    sheet.append(["parking", world["Q"], 5])  # building Q lies in grid B: not worker_a's
    buffer = io.BytesIO()
    book.save(buffer)
    before = _count(api_session)
    response = client.post("/ledgers/needs/import", headers=as_user("worker_a"),
                           files={"file": ("needs.xlsx", buffer.getvalue(), "application/octet-stream")})
    assert response.status_code == 422, response.text
    problem = response.json()["details"]["problems"][0]
    assert (problem["row"], problem["column"]) == (3, "building_id")
    assert "320199001001002" in problem["expected"]
    assert _count(api_session) == before


def test_the_lists_export_as_xlsx_and_csv(client: TestClient, as_user, world: dict) -> None:
    leader = as_user("leader_a")
    need = client.post("/ledgers/needs", headers=leader, json={"kind_code": "after_school_care", "title": "四点半课堂",
                                                               "building_id": world["N"], "affected_people": 8})
    assert need.status_code == 201, need.text
    point = town._lonlat([town.p(320, 90)])[0]
    room = client.post("/ledgers/resources", headers=leader, json={
        "provider_kind": "other", "name": "=HYPERLINK(\"x\")", "lon": point.x, "lat": point.y,
        "kind_codes": ["after_school_care"], "contact_name": "陈老师", "contact_phone": "13611112222"})
    assert room.status_code == 201, room.text
    lists = client.get(f"/ledgers/communities/{town.NORTH}/lists", headers=leader).json()
    assert [n["title"] for n in lists["needs"]] == ["四点半课堂"]
    assert lists["community"]["code"] == town.NORTH and lists["figures"]["needs"] == 1

    xlsx = client.get(f"/ledgers/communities/{town.NORTH}/export", headers=leader, params={"format": "xlsx"})
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["需求清单", "资源清单", "项目清单"]
    needs = list(book["需求清单"].iter_rows(values_only=True))
    assert needs[0][:3] == ("编号", "类型", "需求") and needs[1][2] == "四点半课堂" and needs[1][5] == 8
    resources = list(book["资源清单"].iter_rows(values_only=True))
    assert resources[1][1] == "'=HYPERLINK(\"x\")"  # a formula is written as text
    assert resources[1][9] == "136****2222"

    csv = client.get(f"/ledgers/communities/{town.NORTH}/export", headers=leader,
                     params={"format": "csv", "list": "resources"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("编号,名称,提供方") and "136****2222" in lines[1]


def test_a_kind_of_another_community_is_named_by_the_files_header(client: TestClient, as_user, world: dict,
                                                                   api_session: Session) -> None:
    added = client.post("/ledgers/kinds", headers=as_user("admin"), json={
        "code": "lift_retrofit", "name_zh": "加装电梯", "name_en": "Lift retrofit", "community_code": town.NORTH})
    assert added.status_code == 201, added.text
    csv = f"需求类型,楼栋ID\nlift_retrofit,{world['N']}\nlift_retrofit,{world['R']}\n"  # R: the south community
    before = _count(api_session)
    response = client.post("/ledgers/needs/import", headers=as_user("admin"),
                           files={"file": ("电梯.csv", csv.encode("utf-8"), "text/csv")})
    assert response.status_code == 422, response.text
    [problem] = response.json()["details"]["problems"]
    assert (problem["row"], problem["column"]) == (3, "需求类型") and "lift_retrofit" in problem["expected"]
    assert _count(api_session) == before
