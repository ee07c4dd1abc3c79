"""Shapefiles, also zipped: their headers checked and the attribute encoding decided from the bytes.

An explicit encoding wins, then the .cpg, then detection (UTF-8, else GB18030 when it yields Chinese
text); a declared encoding the .dbf does not decode is an error naming the row and field.
"""

from __future__ import annotations

import codecs
import tempfile
import zipfile
from pathlib import Path

from gis.errors import InvalidInput
from gis.io.boundaries.common import CJK, Raw, fail, gdal_text, read_ogr, sidecar


def _check_shp_header(path: Path, where: str, part: str) -> None:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or int.from_bytes(head[0:4], "big") != 9994:
        raise fail(InvalidInput, where, f"the {part} is not a shapefile (bad header, {size} bytes)")
    declared = int.from_bytes(head[24:28], "big") * 2
    if size < declared:
        raise fail(
            InvalidInput, where, f"the {part} is truncated: its header says {declared} bytes, the file has {size}"
        )


def _dbf_layout(data: bytes) -> tuple[int, int, int, list[tuple[bytes, str, int]]]:
    n_records = int.from_bytes(data[4:8], "little")
    header_len = int.from_bytes(data[8:10], "little")
    record_len = int.from_bytes(data[10:12], "little")
    fields: list[tuple[bytes, str, int]] = []
    pos = 32
    while pos + 32 <= min(header_len, len(data)) and data[pos] != 0x0D:
        desc = data[pos : pos + 32]
        fields.append((desc[:11].split(b"\0", 1)[0], chr(desc[11]), desc[16]))
        pos += 32
    return n_records, header_len, record_len, fields


def _dbf_text_cells(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(1-based row, field name, raw bytes) of every non-blank character cell, plus field names as row 0."""
    n_records, header_len, record_len, fields = _dbf_layout(data)
    cells = [(0, name, name) for name, _t, _l in fields]
    row = 0
    for r in range(n_records):
        start = header_len + r * record_len
        record = data[start : start + record_len]
        if len(record) < record_len:
            break
        if record[:1] == b"*":  # deleted records are not returned by GDAL either
            continue
        row += 1
        offset = 1
        for name, ftype, length in fields:
            if ftype == "C":
                value = record[offset : offset + length].rstrip(b" \0")
                if value:
                    cells.append((row, name, value))
            offset += length
    return cells


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        # Writers cut long values at the field width, possibly inside a multi-byte character.
        return exc.reason == "unexpected end of data" and exc.start >= len(raw) - 3
    return True


def _python_codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _encoding_from_cpg(text: str) -> str:
    value = text.strip().strip("\ufeff").upper()
    if value in {"UTF-8", "UTF8", "65001"}:
        return "UTF-8"
    # GB18030 is a superset of GBK/GB2312/CP936: decoding with it loses nothing.
    if value in {"GBK", "CP936", "936", "GB2312", "GB18030", "ANSI 936", "54936"}:
        return "GB18030"
    if value.isdigit():
        return f"CP{value}"
    return text.strip()


def _cell_label(row: int, name: bytes) -> str:
    field_name = name.decode("ascii", "backslashreplace")
    return f"the field names ({field_name})" if row == 0 else f"row {row}, field {field_name!r}"


def _shapefile_encoding(shp: Path, dbf: Path, where: str, encoding: str | None) -> tuple[str, list[str]]:
    """The encoding to read ``dbf`` with: explicit, else .cpg, else detected; checked against the bytes."""
    data = dbf.read_bytes()
    cells = _dbf_text_cells(data)
    notes: list[str] = []
    cpg = sidecar(shp, ".cpg")
    if encoding is not None:
        declared, source = encoding, f"encoding {encoding}"
    elif cpg is not None:
        declared = _encoding_from_cpg(cpg.read_text("ascii", errors="replace"))
        source = f"the .cpg ({cpg.read_text('ascii', errors='replace').strip()!r})"
    else:
        declared, source = None, None

    if declared is not None:
        codec = _python_codec(declared)
        if codec is None:
            if encoding is not None:
                raise fail(InvalidInput, where, f"encoding {encoding!r} is not an encoding Python knows",
                            field="encoding")
            notes.append(f"{where}: the .cpg names encoding {declared!r}, which cannot be checked; used as given")
            return declared, notes
        for row, name, raw in cells:
            if not _decodes(raw, codec):
                hint = ""
                if _decodes(raw, "gb18030") and CJK.search(raw.decode("gb18030", "replace")):
                    hint = f" (the bytes read as GB18030: {raw.decode('gb18030', 'replace')[:20]!r})"
                raise fail(
                    InvalidInput, where,
                    f"{_cell_label(row, name)}: attribute bytes are not valid {declared} although {source} says so"
                    f"{hint}; fix or delete the .cpg, or pass encoding GB18030",
                    row=row or None, field="encoding",
                )
        return declared, notes

    if all(_decodes(raw, "utf-8") for _r, _n, raw in cells):
        return "UTF-8", notes
    if all(_decodes(raw, "gb18030") for _r, _n, raw in cells) and any(
        CJK.search(raw.decode("gb18030", "replace")) for _r, _n, raw in cells
    ):
        notes.append(f"{where}: no .cpg file; attributes detected as GB18030 (GBK) Chinese text")
        return "GB18030", notes
    row, name, _raw = next(c for c in cells if not _decodes(c[2], "utf-8"))
    raise fail(
        InvalidInput, where,
        f"{_cell_label(row, name)}: attributes are neither UTF-8 nor GBK/GB18030 and there is no .cpg; "
        "pass the encoding (e.g. BIG5)",
        row=row or None, field="encoding",
    )


def read_shapefile(shp: Path, where: str, encoding: str | None) -> Raw:
    """A shapefile with its .shx and .dbf checked and its attributes read in the encoding decided here."""
    shx, dbf = sidecar(shp, ".shx"), sidecar(shp, ".dbf")
    if shx is None or dbf is None:
        missing = [s for s, p in ((".shx", shx), (".dbf", dbf)) if p is None]
        raise fail(
            InvalidInput, where,
            f"the {' and '.join(missing)} next to the .shp {'is' if len(missing) == 1 else 'are'} missing; "
            "expected .shp, .shx, .dbf (and .prj) with the same name",
        )
    _check_shp_header(shp, where, ".shp")
    _check_shp_header(shx, where, ".shx")
    data = dbf.read_bytes()
    n_records, header_len, record_len, _fields = _dbf_layout(data) if len(data) >= 32 else (0, 0, 0, [])
    if len(data) < 32 or len(data) < header_len + n_records * record_len:
        raise fail(
            InvalidInput, where,
            f"the .dbf is truncated: {len(data)} bytes for {n_records} records of {record_len} bytes",
        )
    used, notes = _shapefile_encoding(shp, dbf, where, encoding)
    raw = read_ogr(shp, where, "shapefile", encoding=used)
    raw.encoding = used
    raw.warnings = notes + raw.warnings
    return raw


def read_zip(path: Path, where: str, encoding: str | None) -> Raw:
    if not zipfile.is_zipfile(path):
        raise fail(InvalidInput, where, "is not a zip archive (or it is truncated); expected a zipped shapefile")
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/") and not n.startswith("__MACOSX")]
        shps = sorted(n for n in names if n.lower().endswith(".shp"))
        if not shps:
            raise fail(
                InvalidInput, where, f"contains no .shp file (entries: {', '.join(names[:8]) or 'none'}); "
                "expected a zipped shapefile",
            )
        inner = shps[0]
        stem = inner[: -len(".shp")]
        with tempfile.TemporaryDirectory(prefix="wangge-zip-") as tmp:
            for member in names:
                if member.lower().startswith(stem.lower() + ".") and "/" not in member[len(stem) :]:
                    # Flatten to the base name: archive paths must not choose where files land.
                    target = Path(tmp) / ("layer" + member[len(stem) :])
                    try:
                        target.write_bytes(archive.read(member))
                    except (zipfile.BadZipFile, OSError, EOFError) as exc:
                        raise fail(InvalidInput, where,
                                    f"entry {member!r} cannot be extracted: {gdal_text(exc)}") from None
            raw = read_shapefile(Path(tmp) / "layer.shp", f"{where}/{inner}", encoding)
    if len(shps) > 1:
        raw.warnings.append(f"{where}: contains {len(shps)} shapefiles; read {inner!r}")
    return raw
