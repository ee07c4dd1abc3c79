"""Uploaded file names are never used as paths: photos are stored by checksum, patrol names only recorded."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import coverage_town as town
import pytest
from fastapi.testclient import TestClient
from patrol_tracks import MAIN_ROAD_WALK, town_gpx
from sqlalchemy import text

from gis.services import cases as case_service

EVIL_NAMES = ["../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/passwd", "photo.png\x00.sh",
              "../../../../tmp/evil.png", "%2e%2e%2fetc%2fpasswd", "a/../../b.png"]


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


@pytest.fixture
def upload_home(api_app, tmp_path: Path):
    """Uploads go to tmp_path/home; tmp_path itself is the 'outside' a traversal would reach."""
    home = tmp_path / "home"
    original = api_app.state.settings
    api_app.state.settings = original.model_copy(update={"home": home})
    try:
        yield home
    finally:
        api_app.state.settings = original


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", EVIL_NAMES)
def test_photo_file_names_never_become_paths(client: TestClient, as_user, api_session, upload_home: Path,
                                             tmp_path: Path, name: str) -> None:
    pt = town._lonlat([town.p(300, 60)])[0]
    case = client.post("/incidents", json={"point": [pt.x, pt.y], "category_code": "E0101", "description": "垃圾",
                                           "source": "patrol"}, headers=as_user("worker_a"))
    assert case.status_code == 201, case.text
    incident_id = case.json()["incident"]["id"]
    response = client.post(f"/incidents/{incident_id}/photos", files={"file": (name, png(), "image/png")},
                           headers=as_user("worker_a"))
    assert response.status_code == 201, response.text
    stored = api_session.execute(text("SELECT path FROM incident_photo WHERE id = :i"),
                                 {"i": response.json()["id"]}).scalar_one()
    state = upload_home.resolve()
    uploads = state / "uploads"
    full = (state / stored).resolve()
    assert full.is_relative_to(uploads) and full.is_file()
    assert full.name == f"{response.json()['sha256']}.png"  # the checksum, not the client's name
    assert "passwd" not in stored and ".." not in stored
    # Nothing was written anywhere but the uploads folder.
    assert files_under(tmp_path) == files_under(uploads)
    assert "passwd" not in response.text
    served = client.get(response.json()["href"], headers=as_user("worker_a")).content
    assert served == case_service.clean_photo(png(), max_pixels=10)[0]  # the photo, re-encoded


@pytest.mark.parametrize("name", EVIL_NAMES)
def test_patrol_file_names_are_recorded_not_used_as_paths(client: TestClient, as_user, api_session,
                                                          upload_home: Path, tmp_path: Path, name: str) -> None:
    response = client.post("/patrols", headers=as_user("worker_a"),
                           files={"file": (name, town_gpx(MAIN_ROAD_WALK), "application/gpx+xml")})
    assert response.status_code in (201, 422), response.text
    assert not any(tmp_path.rglob("*")) or files_under(tmp_path) == set()  # no file written at all
    if response.status_code == 201:
        stored = api_session.execute(text("SELECT source_name FROM patrol WHERE id = :i"),
                                     {"i": response.json()["patrol"]["id"]}).scalar_one()
        assert stored in (name, name.replace("\x00", "%00"))  # as sent (httpx quotes a NUL in the header)


def test_a_raw_nul_in_a_patrol_file_name_is_not_a_server_error(client: TestClient, as_user) -> None:
    """PostgreSQL text cannot hold NUL: a hand-built multipart body puts one in the file name."""
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"walk\x00../../x.gpx\"\r\n"
            f"Content-Type: application/gpx+xml\r\n\r\n").encode() + town_gpx(MAIN_ROAD_WALK) + \
        f"\r\n--{boundary}--\r\n".encode()
    response = client.post("/patrols", content=body,
                           headers={**as_user("worker_a"), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code < 500, response.text
