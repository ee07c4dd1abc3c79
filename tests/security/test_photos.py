"""Finding 11 of issue 23: photos checked by magic bytes only.

A 60000×60000 PNG of a few KB (a decompression bomb) and an HTML file starting with JPEG's magic
bytes were accepted, EXIF GPS was kept and served, and responses carried no ``nosniff``. Now a
photo is decoded with Pillow (pixel count checked from the header first), re-encoded without any
metadata, served with ``nosniff``, ``Content-Disposition`` and a sandbox CSP, and every read is audited.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import coverage_town as town
import pytest
from fastapi.testclient import TestClient
from helpers import count_rows
from PIL import Image
from sqlalchemy import text
from sqlalchemy.orm import Session

GPS_IFD = 0x8825


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = 60_000) -> bytes:
    """A real 1-bit PNG of side × side black pixels (450 MB of rows), compressed to a few hundred KB."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (40, 30), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[GPS_IFD] = {1: "N", 2: (32.0, 2.0, 30.0), 3: "E", 4: (118.0, 47.0, 10.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), comment=b"home of resident 3-2-501")
    return out.getvalue()


@pytest.fixture
def case(client: TestClient, as_user, api_app, tmp_path: Path) -> str:
    original = api_app.state.settings
    api_app.state.settings = original.model_copy(update={"home": tmp_path})
    pt = town._lonlat([town.p(300, 60)])[0]
    made = client.post("/incidents", json={"point": [pt.x, pt.y], "category_code": "E0101", "description": "垃圾"},
                       headers=as_user("worker_a"))
    assert made.status_code == 201, made.text
    yield f"/incidents/{made.json()['incident']['id']}/photos"
    api_app.state.settings = original


def test_a_decompression_bomb_is_refused_before_it_is_expanded(client: TestClient, as_user, case: str,
                                                                api_session: Session) -> None:
    bomb = bomb_png()
    assert len(bomb) < 1_000_000  # small on the wire, 3.6 billion pixels inside
    response = client.post(case, files={"file": ("bomb.png", bomb, "image/png")}, headers=as_user("worker_a"))
    assert response.status_code == 422
    assert "50,000,000 allowed" in response.json()["message"] and response.json()["details"]["max_pixels"] == 50_000_000
    assert count_rows(api_session, "incident_photo") == 0


def test_a_photo_over_the_configured_pixels_is_refused_naming_its_size(client: TestClient, as_user, case: str,
                                                                       api_app) -> None:
    api_app.state.settings = api_app.state.settings.model_copy(update={"incident_photo_max_pixels": 10_000})
    response = client.post(case, files={"file": ("big.png", bomb_png(side=200), "image/png")},
                           headers=as_user("worker_a"))
    assert response.status_code == 422 and "200×200 is 40,000 pixels" in response.json()["message"]


def test_html_behind_jpeg_magic_bytes_is_refused(client: TestClient, as_user, case: str) -> None:
    fake = b"\xff\xd8\xff\xe0<html><body><script>alert(document.cookie)</script></body></html>"
    response = client.post(case, files={"file": ("x.jpg", fake, "image/jpeg")}, headers=as_user("worker_a"))
    assert response.status_code == 422 and "cannot be decoded" in response.json()["message"]


def test_exif_gps_and_comments_are_gone_and_the_photo_is_served_safely(client: TestClient, as_user, case: str,
                                                                       api_session: Session) -> None:
    original = jpeg_with_gps()
    assert GPS_IFD in Image.open(io.BytesIO(original)).getexif()  # the control: the upload carries GPS
    uploaded = client.post(case, files={"file": ("p.jpg", original, "image/jpeg")}, headers=as_user("worker_a"))
    assert uploaded.status_code == 201, uploaded.text
    served = client.get(uploaded.json()["href"], headers={**as_user("leader_a"), "X-Request-ID": "photo-read-1"})
    assert served.status_code == 200
    image = Image.open(io.BytesIO(served.content))
    assert image.format == "JPEG" and image.size == (40, 30)
    assert len(image.getexif()) == 0 and b"Exif" not in served.content and b"PhoneMaker" not in served.content
    assert b"3-2-501" not in served.content
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Disposition"].startswith("inline; filename=\"incident-")
    assert "sandbox" in served.headers["Content-Security-Policy"]
    # The read is in the audit log (finding 9).
    row = api_session.execute(text("SELECT username, entity, entity_id FROM audit_log "
                                   "WHERE client_request_id = 'photo-read-1'")).one()
    assert (row.username, row.entity, row.entity_id) == ("leader_a", "incident_photo", str(uploaded.json()["id"]))
