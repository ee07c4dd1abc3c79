// The map: our own vector tiles as the background (water, roads, buildings), an optional XYZ basemap,
// and the GCJ-02 shift of our overlays when (only when) that basemap is in GCJ-02.
import { getToken } from "./api.js";
import { gcj02ToWgs84, wgs84ToGcj02 } from "./gcj02.js";

export let shifted = false; // true: the basemap is GCJ-02, our CGCS2000 overlays are shifted to meet it

// Our [lon, lat] → a Leaflet LatLng on the map in use.
export function toMap(lon, lat) {
  if (!shifted) return L.latLng(lat, lon);
  const [x, y] = wgs84ToGcj02(lon, lat);
  return L.latLng(y, x);
}

// A point the user clicked → our [lon, lat] (CGCS2000 ≈ WGS84), rounded to ~1 cm.
export function fromMap(latlng) {
  const [x, y] = shifted ? gcj02ToWgs84(latlng.lng, latlng.lat) : [latlng.lng, latlng.lat];
  return [Math.round(x * 1e7) / 1e7, Math.round(y * 1e7) / 1e7];
}

// GeoJSON options that place our coordinates on the map in use.
export const geoOptions = (options = {}) => ({ coordsToLatLng: (c) => toMap(c[0], c[1]), ...options });

function tiles(map, layer, style, { url, ...options } = {}) {
  return L.vectorGrid.protobuf(url || `/tiles/${layer}/{z}/{x}/{y}.mvt`, {
    rendererFactory: L.canvas.tile,
    vectorTileLayerStyles: { [layer]: style },
    fetchOptions: { headers: { Authorization: `Bearer ${getToken()}` } },
    maxNativeZoom: 18,
    maxZoom: 20,
    interactive: false,
    pane: "ours",
    ...options,
  });
}

export function tileLayer(map, layer, style, options = {}) {
  return tiles(map, layer, style, options);
}

// Vector tiles cannot be reprojected per vertex: their pane is moved by the shift at the map's centre
// (the GCJ-02 offset changes by well under a metre across a district).
function followShift(map) {
  const pane = map.getPane("ours");
  const update = () => {
    const c = map.getCenter();
    const [x, y] = wgs84ToGcj02(c.lng, c.lat);
    const a = map.latLngToLayerPoint(c), b = map.latLngToLayerPoint(L.latLng(y, x));
    pane.style.transform = `translate(${b.x - a.x}px, ${b.y - a.y}px)`;
  };
  map.on("zoomend moveend viewreset", update);
  update();
}

export function createMap(element, config, bbox) {
  const map = L.map(element, { preferCanvas: false, zoomControl: true, attributionControl: true });
  map.createPane("ours").style.zIndex = 250; // above a basemap (200), below our overlays (400)
  const basemap = config.basemap;
  if (basemap && basemap.url) {
    shifted = basemap.crs === "gcj02";
    L.tileLayer(basemap.url, { attribution: basemap.attribution || "", maxZoom: 20 }).addTo(map);
  }
  map.attributionControl.addAttribution("© OpenStreetMap contributors (ODbL)");
  tiles(map, "water", { fill: true, fillColor: "#b5d3f0", fillOpacity: 1, color: "#8ab4e0", weight: 1 }).addTo(map);
  tiles(map, "walk_network", (p) => ({ color: p.is_main_road ? "#f2b45a" : "#ffffff",
                                       weight: p.is_main_road ? 4 : 2, opacity: 1 })).addTo(map);
  tiles(map, "buildings", { fill: true, fillColor: "#d9d0c9", fillOpacity: 1, color: "#b8aba1", weight: 0.5 })
    .addTo(map);
  if (shifted) map.whenReady(() => followShift(map));
  if (bbox) map.fitBounds([toMap(bbox[0], bbox[1]), toMap(bbox[2], bbox[3])]);
  L.control.scale({ imperial: false }).addTo(map);
  return map;
}

export function legend(map, html) {
  const control = L.control({ position: "bottomleft" });
  control.onAdd = () => {
    const div = L.DomUtil.create("div", "legend");
    div.innerHTML = html;
    return div;
  };
  control.addTo(map);
  return control;
}
