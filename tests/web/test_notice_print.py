"""The grid notice prints on one A4 page with road names along the roads and a scale bar (Chromium's PDF)."""

from __future__ import annotations

import re

from sqlalchemy import text

from gis.db.engine import make_engine


def _pages(pdf: bytes) -> int:
    """Pages of a PDF as Chromium writes it (uncompressed page objects; the page tree's /Count agrees)."""
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))
    counts = {int(c) for c in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf)} or \
        {int(c) for c in re.findall(rb"/Count\s+(\d+)", pdf)}
    assert counts == {pages}, (pages, counts)
    return pages


def test_the_grid_notice_fits_one_a4_page_with_road_names_and_a_scale_bar(open_page, web_database_url: str) -> None:
    engine = make_engine(web_database_url)
    try:
        with engine.connect() as conn:
            grids = [c for (c,) in conn.execute(text(
                "SELECT DISTINCT grid_code FROM grid_assignment ORDER BY grid_code"))]
            names = {n for (n,) in conn.execute(text(
                "SELECT DISTINCT e.name FROM walk_edge e JOIN grid g ON g.code = ANY(:g) AND g.valid_to IS NULL "
                "AND ST_DWithin(e.geom, g.geom, 0.002) WHERE e.name IS NOT NULL"), {"g": grids})}
    finally:
        engine.dispose()
    assert grids
    page = open_page()
    for grid in grids:
        page.goto(f"/app/notice/{grid}")
        labels = page.locator("#road-labels textPath").all_text_contents()
        assert labels and set(labels) <= names, labels
        scale = page.locator("#scale-text").text_content()
        assert re.fullmatch(r"\d+ 米|\d+ 公里", scale), scale
        page.emulate_media(media="print")
        assert _pages(page.pdf(format="A4", print_background=True)) == 1
        page.emulate_media(media="screen")
