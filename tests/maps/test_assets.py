"""Offline bundling: every CDN link folium writes has a local copy or a stated reason, and nothing else slips by."""

from __future__ import annotations

from pathlib import Path

import folium
import pytest
from folium.plugins import FastMarkerCluster, HeatMap, MarkerCluster, MiniMap

from gis.errors import Infeasible, SetupError
from gis.maps import asset_for, render_html, strip_assets, to_offline_html
from gis.maps.assets import NODE_MODULES, FoliumFile, Npm, Omit, _local_file


def _empty_map() -> folium.Map:
    return folium.Map(location=[32.04, 118.78], tiles=None, zoom_start=14)


@pytest.mark.parametrize("element", [folium.Map, MarkerCluster, FastMarkerCluster, HeatMap])
def test_every_link_folium_writes_for_our_layers_is_mapped(element: type) -> None:
    links = [url for _, url in [*getattr(element, "default_js", []), *getattr(element, "default_css", [])]]
    assert links
    for url in links:
        asset = asset_for(url)
        assert asset is not None, f"{element.__name__} links {url}, which gis.maps.assets.ASSETS does not map"
        if isinstance(asset, Omit):
            assert asset.reason
        else:
            assert isinstance(asset, Npm | FoliumFile) and _local_file(asset, node_modules=NODE_MODULES).is_file()


def test_the_page_inlines_leaflet_and_its_images() -> None:
    page = render_html(_empty_map())
    assert 'data-asset="leaflet.js"' in page and 'data-asset="leaflet.css"' in page
    # leaflet.css names its images relative to itself: a page opened from a file gets them as data: URIs.
    assert "url(images/" not in page and 'url("data:image/png;base64,' in page
    assert "<script src=" not in page and "stylesheet" not in strip_assets(page)


def test_a_link_with_no_local_copy_fails_naming_it() -> None:
    m = _empty_map()
    MiniMap().add_to(m)
    with pytest.raises(SetupError, match=r"Control\.MiniMap\.js.*ASSETS"):
        render_html(m)


def test_a_remote_address_in_the_maps_own_content_fails() -> None:
    m = _empty_map()
    m.get_root().html.add_child(folium.Element('<img src="https://tiles.example.com/1/1/1.png">'))
    with pytest.raises(SetupError, match="tiles.example.com"):
        render_html(m)


def test_missing_npm_packages_say_how_to_install_them(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="npm ci"):
        to_offline_html(_empty_map().get_root().render(), node_modules=tmp_path)


def test_a_map_over_its_budget_is_refused() -> None:
    with pytest.raises(Infeasible, match="budget"):
        render_html(_empty_map(), max_bytes=10_000)
