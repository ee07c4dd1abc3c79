"""Photo files of a case: checked by content, cleaned of metadata, stored by their hash, served audited."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import TypedDict

from PIL import Image, ImageOps
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.services import privacy
from gis.services.cases.scope import _case_in_scope, _incident_where, _iso, _not_found, case_scope
from gis.services.residents import Reader
from gis.settings import Settings

# Photo types by their first bytes (the filename and the client's content type are not trusted).
PHOTO_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


class Photo(TypedDict):
    """A stored photo of a case and where to fetch it."""

    id: int
    kind: str | None
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: str | None
    href: str


class StoredPhoto(Photo):
    """A photo as an upload answers it: ``created`` False when the same photo was already there."""

    created: bool


def photo_kind(content: bytes) -> str | None:
    """``jpg``, ``png`` or ``webp`` from the file's first bytes; None for anything else."""
    if content[:3] == b"\xff\xd8\xff":
        return "jpg"
    if content[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "webp"
    return None


_PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


def clean_photo(content: bytes, *, max_pixels: int, field: str = "file") -> tuple[bytes, str]:
    """The photo decoded and re-encoded in its own format without any metadata (EXIF GPS, comments); and its kind.

    ``field``: the request field that carried it (``file`` for an upload, ``photos`` in a report), named by
    every refusal.

    The pixel count is read from the header and checked before anything is decoded, so a small
    file that would decompress to gigabytes (a "bomb") is refused without being expanded. The
    EXIF orientation is applied to the pixels first, as viewers would have shown it.
    """
    kind = photo_kind(content)
    if kind is None:
        raise InvalidInput(f"{field}: the file is not a JPEG, PNG or WebP image (checked by its content, not its "
                           "name)", details={"field": field})
    try:
        with Image.open(io.BytesIO(content), formats=[_PIL_FORMATS[kind]]) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidInput(f"{field}: {width}×{height} is {width * height:,} pixels, more than the "
                                   f"{max_pixels:,} allowed (WANGGE_INCIDENT_PHOTO_MAX_PIXELS)",
                                   details={"field": field, "width": width, "height": height, "max_pixels": max_pixels})
            image.load()
            frame = ImageOps.exif_transpose(image)  # a copy: the first frame only
    except Image.DecompressionBombError:  # Pillow's own ceiling, met while reading the header
        raise InvalidInput(f"{field}: the image holds far more pixels than the {max_pixels:,} allowed "
                           "(WANGGE_INCIDENT_PHOTO_MAX_PIXELS)", details={"field": field, "max_pixels": max_pixels}
                           ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"{field}: the {kind.upper()} data cannot be decoded ({type(exc).__name__}); "
                           "send the photo as the camera wrote it", details={"field": field}) from None
    # Encoders write some of ``info`` back (a JPEG comment, for one): keep only what a pixel needs.
    frame.info = {k: v for k, v in frame.info.items() if k == "transparency"}
    out = io.BytesIO()
    if kind == "jpg":
        if frame.mode not in ("RGB", "L"):
            frame = frame.convert("RGB")
        frame.save(out, format="JPEG", quality=90, optimize=True)
    elif kind == "png":
        frame.save(out, format="PNG", optimize=True)
    else:
        frame.save(out, format="WEBP", quality=90)
    return out.getvalue(), kind


def _photos_of(session: Session, incident_id: int) -> list[Photo]:
    rows = session.execute(text("""
        SELECT id, content_type, size_bytes, sha256, uploaded_at, kind FROM incident_photo WHERE incident_id = :i
        ORDER BY id"""), {"i": incident_id}).all()
    return [{"id": r.id, "kind": r.kind, "content_type": r.content_type, "size_bytes": r.size_bytes, "sha256": r.sha256,
             "uploaded_at": _iso(r.uploaded_at), "href": f"/incidents/{incident_id}/photos/{r.id}"} for r in rows]


def add_photo(session: Session, reader: Reader, incident_id: int, *, content: bytes,
              settings: Settings, kind: str | None = None) -> StoredPhoto:
    """Attach a JPEG/PNG/WebP photo (checked by content, size and pixels) to a case in the uploader's scope.

    Decoded and re-encoded without metadata (:func:`clean_photo`), stored as
    ``<state>/uploads/incidents/<id>/<sha256 of the clean file>.<ext>``; the same photo twice is one.
    ``kind``: ``before`` or ``after`` (the photos of a 随手办), or None.
    """
    if kind not in (None, "before", "after"):
        raise InvalidInput(f"kind {kind!r}: choose before or after, or leave it out", details={"field": "kind"})
    row = _case_in_scope(session, reader.principal, incident_id, lock=False)
    return _store_photo(session, incident_id, row.district_code, content=content, settings=settings, kind=kind,
                        uploaded_by=reader.principal.user_id or None, field="file")


def _store_photo(session: Session, incident_id: int, district_code: str, *, content: bytes, settings: Settings,
                 kind: str | None, uploaded_by: int | None, field: str) -> StoredPhoto:
    """Store a cleaned photo once per case (by its hash); ``field`` names the request field it came in."""
    limit = settings.incident_photo_max_bytes
    if len(content) > limit:
        raise InvalidInput(f"{field}: {len(content):,} bytes is more than the {limit:,}-byte limit",
                           details={"field": field, "size_bytes": len(content), "max_bytes": limit})
    # Only pixels are kept: the stored file is our own encoding, never the uploaded bytes.
    content, ext = clean_photo(content, max_pixels=settings.incident_photo_max_pixels, field=field)
    digest = hashlib.sha256(content).hexdigest()
    existing = session.execute(text("SELECT id FROM incident_photo WHERE incident_id = :i AND sha256 = :s"),
                               {"i": incident_id, "s": digest}).scalar()
    folder = settings.state_dir() / "uploads" / "incidents" / str(incident_id)
    path = folder / f"{digest}.{ext}"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a photo.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    if existing is None:
        existing = session.execute(text("""
            INSERT INTO incident_photo (incident_id, district_code, path, content_type, size_bytes, sha256,
                                        uploaded_by, kind)
            VALUES (:i, :d, :p, :t, :n, :s, :by, :kind) RETURNING id"""),
            {"i": incident_id, "d": district_code, "p": str(path.relative_to(settings.state_dir())),
             "t": PHOTO_TYPES[ext], "n": len(content), "s": digest, "by": uploaded_by, "kind": kind}).scalar_one()
        created = True
    else:
        created = False
    photo = next(p for p in _photos_of(session, incident_id) if p["id"] == existing)
    return {**photo, "created": created}


def photo_file(session: Session, reader: Reader, incident_id: int, photo_id: int, *,
               settings: Settings) -> tuple[Path, str]:
    """The stored file and content type of a photo of a case the reader may see."""
    where = _incident_where(case_scope(session, reader.principal), incident_id=incident_id)
    seen = session.execute(text(f"SELECT 1 FROM incident i WHERE {where.sql}"), where.params).first()
    photo = session.execute(text("SELECT path, content_type FROM incident_photo WHERE id = :p AND incident_id = :i"),
                            {"p": photo_id, "i": incident_id}).first() if seen else None
    if photo is None:
        raise _not_found(reader.principal, "photo", f"{photo_id} of incident {incident_id}")
    path = settings.state_dir() / photo.path
    if not path.is_file():
        raise NotFound(f"photo {photo_id} of incident {incident_id}: the file {photo.path} is missing from the "
                       "upload store")
    # Photos of a case may show people and homes: every read is kept.
    privacy.record_read(session, reader.principal, entity="incident_photo", entity_ids=[photo_id],
                        reason=reader.reason, district_code=reader.principal.district_code,
                        request_id=reader.request_id, client_ip=reader.client_ip,
                        detail={"incident_id": incident_id})
    return path, photo.content_type
