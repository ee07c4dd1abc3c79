// The map every page shares: our own vector tiles as the background (water, roads, buildings) with road names
// drawn from the same tiles, community and grid outlines with their names, a legend, a layer switcher, search
// (code, name, address; residents for staff, through the scoped and audited API) and a card for any unit
// (四至, history, households, staff). An optional XYZ basemap, and the GCJ-02 shift of our overlays when (only
// when) that basemap is in GCJ-02. Every text is drawn from the i18n table and drawn again on the toggle.
//
// Road labels are placed by hand (below) because Leaflet.VectorGrid draws no text; the tiles already carry the
// road names, so no label server or font service is needed and the page stays offline.
import { api, getToken } from "./api.js";
import { gcj02ToWgs84, wgs84ToGcj02 } from "./gcj02.js";
import { lang, t } from "./i18n.js";
import "./i18n/maps.js";

// The map's own styles (labels, search, switcher), beside app.css, so that every page with a map gets them.
if (!document.querySelector("link[data-maps-css]")) {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/app/static/maps.css";
  link.dataset.mapsCss = "1";
  document.head.appendChild(link);
}

export let shifted = false; // true: the basemap is GCJ-02, our CGCS2000 overlays are shifted to meet it

const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                                        '"': "&quot;", "'": "&#39;" })[c]);
const num = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("zh-CN"));
const PERSONAL_ROLES = new Set(["admin", "grid_leader", "grid_worker"]);

export const COLOURS = {
  water: "#b5d3f0", mainRoad: "#f2b45a", road: "#ffffff", building: "#d9d0c9", community: "#1d3f66", grid: "#345",
  found: "#e8590c",
};

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

// --- road names from the walk_network tiles ----------------------------------------------------

// One label per road name per tile, at the middle of its longest piece, along the road, upright, inside the
// tile (a label cut by a tile edge is worse than none) and clear of the labels already placed in the tile.
function placeRoadLabels(ctx, features, extent, size, z) {
  const scale = size / extent;
  const byName = new Map();
  for (const f of features) {
    const name = f.properties.name;
    if (!name || (z < 16 && !f.properties.is_main_road)) continue;
    for (const ring of f.geometry) {
      const pts = ring.map((p) => [p.x * scale, p.y * scale]);
      let length = 0;
      for (let i = 1; i < pts.length; i++) length += Math.hypot(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]);
      const best = byName.get(name);
      if (!best || length > best.length) byName.set(name, { pts, length, main: f.properties.is_main_road });
    }
  }
  const placed = [];
  const order = [...byName.entries()].sort((a, b) => (b[1].main - a[1].main) || (b[1].length - a[1].length));
  for (const [name, { pts, length, main }] of order) {
    ctx.font = `${main ? "bold " : ""}12px "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif`;
    const width = ctx.measureText(name).width;
    if (length < width + 12) continue;
    const at = (d) => { // the point d px along the line
      let left = d;
      for (let i = 1; i < pts.length; i++) {
        const seg = Math.hypot(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]);
        if (left <= seg || i === pts.length - 1) {
          const k = seg ? Math.min(1, left / seg) : 0;
          return [pts[i - 1][0] + k * (pts[i][0] - pts[i - 1][0]), pts[i - 1][1] + k * (pts[i][1] - pts[i - 1][1])];
        }
        left -= seg;
      }
      return pts[pts.length - 1];
    };
    const a = at(length / 2 - width / 2), b = at(length / 2 + width / 2), m = at(length / 2);
    let angle = Math.atan2(b[1] - a[1], b[0] - a[0]);
    if (angle > Math.PI / 2) angle -= Math.PI;
    if (angle < -Math.PI / 2) angle += Math.PI;
    const half = Math.abs(Math.cos(angle)) * width / 2 + 8, halfY = Math.abs(Math.sin(angle)) * width / 2 + 8;
    const box = [m[0] - half, m[1] - halfY, m[0] + half, m[1] + halfY];
    if (box[0] < 1 || box[1] < 1 || box[2] > size - 1 || box[3] > size - 1) continue;
    if (placed.some((p) => !(box[2] < p[0] || box[0] > p[2] || box[3] < p[1] || box[1] > p[3]))) continue;
    placed.push(box);
    ctx.save();
    ctx.translate(m[0], m[1]);
    ctx.rotate(angle);
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.lineWidth = 3;
    ctx.strokeStyle = "rgba(255,255,255,0.95)";
    ctx.fillStyle = main ? "#6b3d00" : "#333";
    ctx.strokeText(name, 0, 0);
    ctx.fillText(name, 0, 0);
    ctx.restore();
  }
  return placed.length;
}

function roadLabelLayer() {
  const Labels = L.VectorGrid.Protobuf.extend({
    createTile(coords, done) {
      const size = this.getTileSize();
      const canvas = L.DomUtil.create("canvas", "road-labels");
      canvas.width = size.x;
      canvas.height = size.y;
      if (coords.z < 14) {
        setTimeout(() => done(null, canvas), 0);
        return canvas;
      }
      this._getVectorTilePromise(coords).then((tile) => {
        const layer = tile.layers && tile.layers.walk_network;
        if (layer && layer.features) {
          const n = placeRoadLabels(canvas.getContext("2d"), layer.features, layer.extent, size.x, coords.z);
          canvas.dataset.labels = String(n);
        }
        done(null, canvas);
      }, () => done(null, canvas));
      return canvas;
    },
  });
  return new Labels("/tiles/walk_network/{z}/{x}/{y}.mvt", {
    fetchOptions: { headers: { Authorization: `Bearer ${getToken()}` } },
    maxNativeZoom: 18, maxZoom: 20, pane: "labels", interactive: false,
  });
}

// --- community and grid names --------------------------------------------------------------------

// A point inside a polygon for its name: the middle of the widest inside span of the horizontal line through
// the centre of the polygon's extent (inside even for L and U shapes, where a centroid may not be).
export function labelPoint(geometry) {
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  let best = null;
  for (const rings of polygons) {
    const outer = rings[0];
    let y0 = Infinity, y1 = -Infinity;
    for (const [, y] of outer) { y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    for (const f of [0.5, 0.35, 0.65]) {
      const y = y0 + (y1 - y0) * f;
      const xs = [];
      for (const ring of rings) {
        for (let i = 1; i < ring.length; i++) {
          const [ax, ay] = ring[i - 1], [bx, by] = ring[i];
          if ((ay <= y && by > y) || (by <= y && ay > y)) xs.push(ax + (y - ay) / (by - ay) * (bx - ax));
        }
      }
      xs.sort((a, b) => a - b);
      for (let i = 0; i + 1 < xs.length; i += 2) {
        const w = xs[i + 1] - xs[i];
        if (!best || w > best.w) best = { w, p: [(xs[i] + xs[i + 1]) / 2, y] };
      }
      if (best) break;
    }
  }
  return best ? best.p : null;
}

function unitLabel(feature, kind, onClick) {
  const p = labelPoint(feature.geometry);
  if (!p) return null;
  const { code, name } = feature.properties;
  const icon = L.divIcon({ className: `unit-label ${kind}-label`, iconSize: null,
                           html: `<span data-code="${esc(code)}" title="${esc(code)}">${esc(name)}</span>` });
  const marker = L.marker(toMap(p[0], p[1]), { icon, pane: "labels", keyboard: true, title: name,
                                               interactive: Boolean(onClick) });
  if (onClick) marker.on("click", (e) => { L.DomEvent.stopPropagation(e); onClick(code, kind); });
  return marker;
}

// --- the map's own state: legend, switcher, units, search ---------------------------------------

class MapState {
  constructor(map, config, options) {
    this.map = map;
    this.config = config;
    this.options = options;
    this.layers = []; // {key, layer, on, legend}
    this.page = null; // the page's part of the legend: string or () => string
    this.communities = null;
    this.grids = null;
    this.found = null;
    this.onUnit = options.onUnit || ((code) => this.showCardPopup(code));
    this.me = options.me || null;
  }

  add(key, layer, { on = true, legend = null, label = null } = {}) {
    const existing = this.layers.find((l) => l.key === key);
    if (existing) {
      if (this.map.hasLayer(existing.layer)) this.map.removeLayer(existing.layer);
      existing.layer = layer;
      existing.legend = legend;
      existing.label = label;
      if (existing.on) layer.addTo(this.map);
    } else {
      this.layers.push({ key, layer, on, legend, label });
      if (on) layer.addTo(this.map);
    }
    this.renderSwitcher();
    this.renderLegend();
    return layer;
  }

  remove(key) {
    const i = this.layers.findIndex((l) => l.key === key);
    if (i < 0) return;
    if (this.map.hasLayer(this.layers[i].layer)) this.map.removeLayer(this.layers[i].layer);
    this.layers.splice(i, 1);
    this.renderSwitcher();
    this.renderLegend();
  }

  isOn(key) {
    const l = this.layers.find((x) => x.key === key);
    return Boolean(l && l.on);
  }

  toggle(key, on) {
    const l = this.layers.find((x) => x.key === key);
    if (!l) return;
    l.on = on;
    if (on && !this.map.hasLayer(l.layer)) l.layer.addTo(this.map);
    if (!on && this.map.hasLayer(l.layer)) this.map.removeLayer(l.layer);
    this.renderLegend();
    if (this.options.onToggle) this.options.onToggle(key, on);
  }

  renderSwitcher() {
    if (!this.switcherBox) return;
    this.switcherBox.innerHTML = `<fieldset><legend>${t("map.layers")}</legend>${this.layers.map((l) =>
      `<label><input type="checkbox" data-layer="${l.key}" ${l.on ? "checked" : ""}> ${
        esc(l.label ? l.label() : t("map.layer." + l.key))}</label>`)
      .join("")}</fieldset>`;
  }

  renderLegend() {
    if (!this.legendBox) return;
    const page = typeof this.page === "function" ? this.page() : this.page || "";
    const rows = this.layers.filter((l) => l.on && l.legend).map((l) => l.legend()).join("");
    // Folded on a phone (the map is small there), open elsewhere; a reader's choice is kept.
    const was = this.legendBox.querySelector("details");
    const open = was ? was.open : window.innerWidth > 760;
    this.legendBox.innerHTML = `<details ${open ? "open" : ""}><summary>${t("map.legend")}</summary>${
      page ? `<div class="legend-page">${page}</div>` : ""}<div class="legend-base">${rows}</div></details>`;
  }

  refreshText() {
    this.renderSwitcher();
    this.renderLegend();
    if (this.searchBox) this.searchBox.refreshText();
    if (this.cardPopup && this.cardPopup.isOpen() && this.cardCode) this.showCardPopup(this.cardCode);
  }

  setUnits({ communities, grids } = {}) {
    // Names open a unit's card only where the page asked for it (onUnit / unitCards): elsewhere a click on the
    // map means something else (placing a case, a facility) and a name in the middle of the map must not take it.
    const click = this.options.onUnit || this.options.unitCards ? (code) => this.onUnit(code) : null;
    if (communities) {
      this.communities = communities;
      const outline = L.geoJSON(communities, geoOptions({ style: { color: COLOURS.community, weight: 3, fill: false },
                                                          interactive: false }));
      const labels = communities.features.map((f) => unitLabel(f, "community", click)).filter(Boolean);
      this.add("community_outlines", outline, { on: this.layerOn("community_outlines", true), legend: () => `<div><i class="line" style="border-color:${COLOURS.community}"></i>${
        t("map.legend.community")}</div>` });
      this.add("community_names", L.layerGroup(labels), { on: this.layerOn("community_names", true) });
    }
    if (grids) {
      this.grids = grids;
      const labels = grids.features.map((f) => unitLabel(f, "grid", click)).filter(Boolean);
      this.add("grid_names", L.layerGroup(labels), { on: this.layerOn("grid_names", true) });
      this.nameZoom();
    }
  }

  layerOn(key, fallback) {
    const l = this.layers.find((x) => x.key === key);
    return l ? l.on : fallback;
  }

  // Grid names only when they can be read (zoomed in); community names above them.
  nameZoom() {
    const el = this.map.getContainer();
    const z = this.map.getZoom();
    el.classList.toggle("names-far", z < 15);
    el.classList.toggle("names-near", z >= 16);
  }

  async showCardPopup(code) {
    this.cardCode = code;
    const div = L.DomUtil.create("div", "unit-card");
    let at = this.map.getCenter();
    const feature = [...(this.grids ? this.grids.features : []), ...(this.communities ? this.communities.features : [])]
      .find((f) => f.properties.code === code);
    if (feature) {
      const p = labelPoint(feature.geometry);
      if (p) at = toMap(p[0], p[1]);
    }
    div.innerHTML = `<p>${t("loading")}</p>`;
    this.cardPopup = L.popup({ maxWidth: 340, minWidth: 240, autoPan: true }).setLatLng(at).setContent(div)
      .openOn(this.map);
    await renderUnitCard(div, code, { me: this.me });
    this.cardPopup.update();
  }

  async highlight(hit) {
    if (this.found) this.map.removeLayer(this.found);
    this.found = null;
    if (hit.kind === "grid" || hit.kind === "community") {
      try {
        const { data } = await api(`/${hit.kind === "grid" ? "grids" : "communities"}/${hit.code}`);
        this.found = L.geoJSON(data, geoOptions({ style: { color: COLOURS.found, weight: 4, fill: false,
                                                           dashArray: "8 4" }, interactive: false })).addTo(this.map);
        this.map.fitBounds(this.found.getBounds(), { padding: [20, 20], animate: false });
      } catch {
        if (hit.bbox) this.map.fitBounds([toMap(hit.bbox[0], hit.bbox[1]), toMap(hit.bbox[2], hit.bbox[3])]);
      }
      this.onUnit(hit.code, hit.kind);
      return;
    }
    const at = toMap(hit.lon, hit.lat);
    this.found = L.circleMarker(at, { radius: 10, color: COLOURS.found, weight: 3, fillOpacity: 0.3 })
      .bindTooltip(esc(hit.name || ""), { permanent: true, direction: "top", className: "found-label" })
      .addTo(this.map);
    this.map.setView(at, Math.max(this.map.getZoom(), 17), { animate: false });
    if (this.options.onPlace) this.options.onPlace(hit);
  }
}

// --- search -----------------------------------------------------------------------------------

function searchControl(state) {
  const control = L.control({ position: "topleft" });
  let last = null; // {q, hits, residents}
  control.onAdd = () => {
    const div = L.DomUtil.create("div", "map-search");
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    const personal = state.me && PERSONAL_ROLES.has(state.me.role);
    const render = () => {
      div.innerHTML = `<form role="search" class="map-search-form">
          <input type="search" id="map-search-input" aria-label="${esc(t("map.search"))}" placeholder="${
            esc(t("map.search_hint"))}" autocomplete="off">
          <button type="submit" id="map-search-go">${t("map.search_go")}</button>
          ${personal ? `<label class="small"><input type="checkbox" id="map-search-residents"> ${
            t("map.search_residents")}</label>` : ""}
        </form><div id="map-search-results" role="list"></div>`;
      div.querySelector("form").addEventListener("submit", (e) => { e.preventDefault(); run(); });
      showResults();
    };
    const showResults = () => {
      const box = div.querySelector("#map-search-results");
      if (!last) { box.innerHTML = ""; return; }
      const input = div.querySelector("#map-search-input");
      if (input && !input.value) input.value = last.q;
      const rows = last.hits.map((h, i) => `<button type="button" class="hit" role="listitem" data-hit="${i}" data-kind="${
        h.kind}" data-code="${esc(h.code || "")}"><span class="badge">${t("map.kind." + h.kind)}</span> ${esc(h.name)}${
        h.code ? ` <span class="small">${esc(h.code)}</span>` : ""}${h.detail ? ` <span class="small">${esc(h.detail)}</span>`
        : ""}</button>`);
      const people = (last.residents || []).map((r, i) => `<button type="button" class="hit" role="listitem" data-resident="${
        i}" data-kind="resident"><span class="badge">${t("map.kind.resident")}</span> ${esc(r.properties.name)} <span class="small">${
        esc(r.properties.address || "")}</span></button>`);
      const error = last.error ? `<p class="error small">${esc(last.error)}</p>` : "";
      box.innerHTML = error + (rows.length + people.length ? rows.join("") + people.join("")
        : `<p class="small" id="map-search-none">${t("map.search_none", { q: last.q })}</p>`);
      box.querySelectorAll("[data-hit]").forEach((b) => b.addEventListener("click", () =>
        state.highlight(last.hits[Number(b.dataset.hit)])));
      box.querySelectorAll("[data-resident]").forEach((b) => b.addEventListener("click", () => {
        const r = last.residents[Number(b.dataset.resident)];
        if (r.geometry) {
          state.highlight({ kind: "resident", name: r.properties.name, lon: r.geometry.coordinates[0],
                            lat: r.geometry.coordinates[1] });
        }
      }));
    };
    const run = async () => {
      const q = div.querySelector("#map-search-input").value.trim();
      if (!q) return;
      const withResidents = div.querySelector("#map-search-residents")?.checked;
      last = { q, hits: [], residents: [] };
      div.querySelector("#map-search-results").innerHTML = `<p class="small">${t("loading")}</p>`;
      try {
        const [{ data }, people] = await Promise.all([
          api("/search", { params: { q, limit: 20 } }),
          withResidents ? api("/residents", { params: { q, format: "geojson", limit: 10 } }) : Promise.resolve(null)]);
        last.hits = data.items;
        last.residents = people ? people.data.features : [];
      } catch (exc) {
        last.error = exc.message || String(exc);
      }
      showResults();
    };
    control.refreshText = render;
    render();
    return div;
  };
  return control;
}

// --- the unit card ------------------------------------------------------------------------------

const DUTY = (duty) => t(`map.duty.${duty}`);
const day = (iso) => {
  if (!iso) return "—";
  return new Intl.DateTimeFormat(lang() === "en" ? "en-GB" : "zh-CN", { timeZone: "Asia/Shanghai", year: "numeric",
                                                                        month: "2-digit", day: "2-digit" })
    .format(new Date(iso));
};

// Fill ``box`` with the card of community or grid ``code``: 四至, households, staff with their public phones,
// history; staff who may read personal records get the grid's households through the scoped, audited API.
export async function renderUnitCard(box, code, { me = null, onParent = null } = {}) {
  let card;
  try {
    ({ data: card } = await api(`/units/${code}`));
  } catch (exc) {
    box.innerHTML = `<p class="error">${esc(exc.message || String(exc))}</p>`;
    return null;
  }
  const draw = () => {
    const personal = me && PERSONAL_ROLES.has(me.role) && card.level === "grid";
    box.innerHTML = `<h3 class="card-name" id="card-name">${esc(card.name)} <span class="badge">${
      t("map.kind." + card.level)}</span></h3>
      <table class="kv card">
        <tr><th scope="row">${t("code")}</th><td id="card-code">${esc(card.code)}</td></tr>
        ${card.parent_name ? `<tr><th scope="row">${t(card.level === "grid" ? "map.kind.community" : "map.kind.street")}</th><td>${
          onParent && card.level === "grid" ? `<button type="button" class="link" id="card-parent">${esc(card.parent_name)}</button>`
          : esc(card.parent_name)}</td></tr>` : ""}
        <tr><th scope="row">${t("four_limits")}</th><td id="card-four-limits">${esc(card.four_limits || "—")}</td></tr>
        <tr><th scope="row">${t("households")}</th><td id="card-households">${num(card.households)}${
          card.households_estimated ? ` <span class="small">${t("map.card.estimated", { n: num(card.households_estimated) })}</span>`
          : ""}</td></tr>
        <tr><th scope="row">${t("buildings")}</th><td>${num(card.buildings)}</td></tr>
        ${card.grids !== null && card.grids !== undefined ? `<tr><th scope="row">${t("map.card.grids")}</th><td>${
          num(card.grids)}</td></tr>` : ""}
      </table>
      <h4>${t("map.card.staff")}</h4>
      <table class="list" id="card-staff"><tr><th scope="col">${t("map.card.duty")}</th><th scope="col">${
        t("name")}</th><th scope="col">${t("map.card.phone")}</th>${card.level === "community" ? `<th scope="col">${
        t("map.kind.grid")}</th>` : ""}</tr>
        ${card.staff.length ? card.staff.map((s) => `<tr><td>${DUTY(s.duty)}</td><td>${esc(s.name)}</td><td>${
          esc(s.public_phone || "—")}</td>${card.level === "community" ? `<td>${esc(s.grid_name || s.grid_code)}</td>` : ""}</tr>`)
          .join("") : `<tr><td colspan="4">${t("map.card.no_staff")}</td></tr>`}
      </table>
      <h4>${t("history")}</h4>
      <table class="list" id="card-history"><tr><th scope="col">${t("version")}</th><th scope="col">${
        t("map.card.from")}</th><th scope="col">${t("reason")}</th></tr>
        ${card.history.map((v) => `<tr><td>v${v.version}</td><td>${day(v.valid_from)}${v.valid_to ? ` – ${day(v.valid_to)}`
          : ""}</td><td><span class="free-text">${esc(v.reason || "")}</span>${v.plan_id ? ` <span class="small">${t("map.card.plan", { id: v.plan_id })}</span>`
          : ""}</td></tr>`).join("")}
      </table>
      ${personal ? `<button type="button" class="secondary" id="card-households-list">${t("map.card.list_households")}</button>
        <div id="card-households-box"></div>` : ""}`;
    if (onParent && box.querySelector("#card-parent")) {
      box.querySelector("#card-parent").addEventListener("click", () => onParent(card.parent_code));
    }
    const button = box.querySelector("#card-households-list");
    if (button) {
      button.addEventListener("click", async () => {
        const out = box.querySelector("#card-households-box");
        out.innerHTML = `<p class="small">${t("loading")}</p>`;
        try {
          const { data } = await api("/households", { params: { grid_code: card.code, limit: 50 } });
          out.innerHTML = `<p class="small">${t("map.card.households_total", { n: num(data.total) })}</p>
            <table class="list"><tr><th scope="col">${t("map.card.head")}</th><th scope="col">${t("map.card.address")}</th>
            <th scope="col" class="num">${t("residents")}</th></tr>${data.items.map((h) => `<tr><td>${
              esc(h.head_name || h.head || "—")}</td><td>${esc(h.address || h.building_name || "")}</td><td class="num">${
              num(h.members ?? h.residents ?? h.size)}</td></tr>`).join("")}</table>`;
        } catch (exc) {
          out.innerHTML = `<p class="error small">${esc(exc.message || String(exc))}</p>`;
        }
      });
    }
  };
  draw();
  box.redraw = draw;
  return card;
}

// --- the map ----------------------------------------------------------------------------------

// Vector tiles cannot be reprojected per vertex: their panes are moved by the shift at the map's centre
// (the GCJ-02 offset changes by well under a metre across a district).
function followShift(map, panes) {
  const update = () => {
    const c = map.getCenter();
    const [x, y] = wgs84ToGcj02(c.lng, c.lat);
    const a = map.latLngToLayerPoint(c), b = map.latLngToLayerPoint(L.latLng(y, x));
    for (const pane of panes) map.getPane(pane).style.transform = `translate(${b.x - a.x}px, ${b.y - a.y}px)`;
  };
  map.on("zoomend moveend viewreset", update);
  update();
}

/**
 * The map in ``element``: our tiles, road and unit names, legend, layer switcher and search.
 *
 * options.units: true (default) loads the communities and grids of options.district (or none when absent) for
 * their outlines and names; a page that loads them itself passes false and calls map.wangge.setUnits(...).
 * options.onUnit(code, kind): what a click on a unit's name or a found unit does; options.unitCards: true makes a
 * click on a name open the unit's card in a popup (a found unit always opens it, or goes to onUnit).
 * options.me: the signed-in user (the resident search is offered to staff with personal access only).
 */
export function createMap(element, config, bbox, options = {}) {
  const map = L.map(element, { preferCanvas: false, zoomControl: true, attributionControl: true, keyboard: true });
  map.createPane("ours").style.zIndex = 250; // above a basemap (200), below our overlays (400)
  map.createPane("labels").style.zIndex = 450; // names above the overlays, below markers and popups
  map.getPane("labels").style.pointerEvents = "none";
  const basemap = config.basemap;
  if (basemap && basemap.url) {
    shifted = basemap.crs === "gcj02";
    L.tileLayer(basemap.url, { attribution: basemap.attribution || "", maxZoom: 20 }).addTo(map);
  }
  map.attributionControl.addAttribution("© OpenStreetMap contributors (ODbL)");
  const state = new MapState(map, config, options);
  map.wangge = state;
  const box = (colour, border) => `<i style="background:${colour}${border ? `;border:1px solid ${border}` : ""}"></i>`;
  state.add("water", tiles(map, "water", { fill: true, fillColor: COLOURS.water, fillOpacity: 1, color: "#8ab4e0",
                                           weight: 1 }),
            { legend: () => `<div>${box(COLOURS.water)}${t("map.legend.water")}</div>` });
  state.add("roads", tiles(map, "walk_network", (p) => ({ color: p.is_main_road ? COLOURS.mainRoad : COLOURS.road,
                                                          weight: p.is_main_road ? 4 : 2, opacity: 1 })),
            { legend: () => `<div><i class="line" style="border-color:${COLOURS.mainRoad};border-width:4px 0 0"></i>${
              t("map.legend.main_road")}</div><div><i class="line" style="border-color:#bbb"></i>${t("map.legend.road")}</div>` });
  state.add("buildings", tiles(map, "buildings", options.buildingStyle || { fill: true, fillColor: COLOURS.building,
                                                                            fillOpacity: 1, color: "#b8aba1", weight: 0.5 }),
            { legend: () => `<div>${box(COLOURS.building, "#b8aba1")}${t("map.legend.building")}</div>` });
  state.add("road_names", roadLabelLayer());
  if (shifted) map.whenReady(() => followShift(map, ["ours", "labels"]));
  if (bbox) map.fitBounds([toMap(bbox[0], bbox[1]), toMap(bbox[2], bbox[3])]);
  L.control.scale({ imperial: false }).addTo(map);

  const legendControl = L.control({ position: "bottomleft" });
  legendControl.onAdd = () => {
    state.legendBox = L.DomUtil.create("div", "legend");
    state.legendBox.setAttribute("aria-label", t("map.legend"));
    state.renderLegend();
    return state.legendBox;
  };
  legendControl.addTo(map);
  const switcher = L.control({ position: "topright" });
  switcher.onAdd = () => {
    const div = L.DomUtil.create("details", "layer-switcher");
    L.DomEvent.disableClickPropagation(div);
    div.innerHTML = `<summary id="layer-switcher-toggle"></summary><div class="layer-list"></div>`;
    state.switcherBox = div.querySelector(".layer-list");
    state.switcherSummary = div.querySelector("summary");
    state.switcherSummary.textContent = t("map.layers");
    div.addEventListener("change", (e) => {
      const key = e.target.dataset && e.target.dataset.layer;
      if (key) state.toggle(key, e.target.checked);
    });
    state.renderSwitcher();
    return div;
  };
  switcher.addTo(map);
  if (options.search !== false) {
    state.searchBox = searchControl(state);
    state.searchBox.addTo(map);
  }
  const loadUnits = (code) => {
    const params = { district_code: code, limit: 5000 };
    Promise.all([api("/communities", { params }), api("/grids", { params })])
      .then(([{ data: communities }, { data: grids }]) => state.setUnits({ communities, grids }))
      .catch(() => {}); // names are a help: the page works without them
  };
  // Pages that did not say who is signed in: asked once, so that staff get the resident search and every map
  // the names of its district's communities and grids.
  if (!state.me) {
    api("/auth/me").then(({ data }) => {
      state.me = data;
      if (state.searchBox) state.searchBox.refreshText();
      if (options.units !== false && !options.district && data.district_code) loadUnits(data.district_code);
    }, () => {});
  }
  map.on("zoomend", () => state.nameZoom());
  state.nameZoom();
  // The language toggle (installed before any map is made) has switched the language when this runs.
  for (const button of document.querySelectorAll(".lang-toggle")) {
    button.addEventListener("click", () => {
      if (state.switcherSummary) state.switcherSummary.textContent = t("map.layers");
      state.refreshText();
    });
  }
  if (options.units !== false && (options.district || (state.me && state.me.district_code))) {
    loadUnits(options.district || state.me.district_code);
  }
  return map;
}

// The page's part of the legend (HTML, or a function drawing it in the language in force), above the base layers.
export function legend(map, content) {
  const state = map.wangge;
  state.page = content;
  state.renderLegend();
  return { setContent: (c) => { state.page = c; state.renderLegend(); } };
}

// A page's own overlay in the layer switcher (key worded as map.layer.<key>), with its legend rows.
export function addOverlay(map, key, layer, options = {}) {
  return map.wangge.add(key, layer, options);
}

export function removeOverlay(map, key) {
  map.wangge.remove(key);
}

// An API error in words: its code from the table, with what its details say (the kinds of a refused boundary
// check, the field of a bad input); the server's own sentence only in English, where it is the reader's language.
export function wordError(exc) {
  const body = (exc && exc.body) || {};
  const code = typeof body === "object" ? body.error : null;
  const key = `maps.error.${code}`;
  if (!code || t(key) === key) return (exc && exc.message) || String(exc);
  const details = (body && body.details) || {};
  let text = t(key);
  if (Array.isArray(details.kinds) && details.kinds.length) {
    text += t("maps.error.kinds", { kinds: details.kinds.map((k) => {
      const word = `check.kind.${k}`;
      return t(word) === word ? t("check.kind.other") : t(word);
    }).join("、") });
  }
  if (details.field) text += t("maps.error.field", { field: details.field });
  if (lang() === "en" && body.message) text += ` (${body.message})`;
  return text;
}
