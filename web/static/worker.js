// Grid leader / worker: my grids with buildings and households, key residents as counts with a drill-down
// (within scope, audited by the API), open incidents with deadlines, this week's patrols and the buildings
// not yet patrolled, and reporting an incident by clicking the map. Laid out for a phone.
import { api } from "./api.js";
import { lang, t } from "./i18n.js";
import { createMap, fromMap, geoOptions, toMap } from "./map.js";
import { ensureReason } from "./reason.js";
import { $, esc, fail, formatTime, html, num, say } from "./ui.js";
import { statusWord } from "./i18n/cases.js";
import "./i18n/field.js";

let map, me, config, picked = null, pickMarker = null, buildingLayer = null;
const OPEN = new Set(["closed", "rejected", "cancelled", "archived"]);

function categoryLabel(c) {
  return lang() === "en" ? `${c.category_en} · ${c.subcategory_en}` : `${c.category} · ${c.subcategory}`;
}

// A case's category in the language in force, from the catalogue the config carries.
function caseCategory(i) {
  const c = (config.incident_categories || []).find((x) => x.code === i.category_code);
  return c ? categoryLabel(c) : (i.subcategory || i.category || "");
}

async function loadGrids() {
  const features = [];
  for (const code of me.grids) {
    const { data } = await api(`/grids/${code}`);
    features.push(data);
  }
  const layer = L.geoJSON({ type: "FeatureCollection", features }, geoOptions({
    style: { color: "#c00", weight: 3, fillOpacity: 0.05 }, interactive: false })).addTo(map);
  if (features.length) map.fitBounds(layer.getBounds(), { padding: [10, 10] });
  return features;
}

async function loadBuildings(code) {
  const { data } = await api("/buildings", { params: { grid_code: code, limit: 5000 } });
  if (buildingLayer) map.removeLayer(buildingLayer);
  buildingLayer = L.geoJSON(data, geoOptions({
    style: { color: "#555", weight: 1, fillColor: "#8fb3d9", fillOpacity: 0.6 },
    onEachFeature: (f, layer) => {
      const id = f.properties.id ?? f.id;
      layer.bindTooltip(`${esc(f.properties.name || t("worker.building", { id }))}: ${num(f.properties.households)} ${
        t("households")}`);
      layer.on("click", (e) => { if (!reporting()) { L.DomEvent.stopPropagation(e); drill({ building_id: id },
        f.properties.name || t("worker.building", { id })); } });
    },
  })).addTo(map);
  const rows = data.features.slice().sort((a, b) => (b.properties.households || 0) - (a.properties.households || 0));
  return `<table class="list" id="building-list"><tr><th>${t("buildings")}</th><th class="num">${t("households")}</th></tr>${
    rows.map((f) => { const id = f.properties.id ?? f.id; return `<tr><td class="clickable" data-building="${id}">${
      esc(f.properties.name || t("worker.building", { id }))}</td><td class="num">${num(f.properties.households)}</td></tr>`; })
      .join("")}</table>`;
}

async function drill(filters, what) {
  const box = $("#drill");
  html(box, `<p>${t("loading")}</p>`);
  try {
    const { data } = await api("/residents", { params: { ...filters, limit: 50 } });
    html(box, `<h3 id="drill-title">${esc(t("worker.residents_of", { what, n: data.total }))}</h3>
      <table class="list">${data.items.map((r) => `<tr><td>${esc(r.name)}</td><td>${r.age ?? ""}</td><td>${
        esc(r.address || "")}</td><td>${esc(r.phone || "")}</td></tr>`).join("")}</table>`);
  } catch (exc) {
    fail(exc);
  }
}

function statsTable(s, code) {
  const item = (key, value, filters) => `<tr><th>${t(key)}</th><td class="num"><span class="clickable" data-drill='${
    JSON.stringify({ grid_code: code, ...filters })}' data-what="${esc(t(key))}">${num(value)}</span></td></tr>`;
  const tagWord = (tag) => (t(`tag.${tag}`) === `tag.${tag}` ? t("tag.other") : t(`tag.${tag}`));
  const tags = Object.entries(s.tags || {}).map(([tag, n]) => `<tr><th>${esc(tagWord(tag))}</th><td class="num"><span class="clickable"
    data-drill='${JSON.stringify({ grid_code: code, tag })}' data-what="${esc(tagWord(tag))}">${num(n)}</span></td></tr>`).join("");
  return `<table class="kv" id="stats-${code}">
    <tr><th>${t("households")}</th><td class="num" id="stat-households">${num(s.households)}</td></tr>
    <tr><th>${t("residents")}</th><td class="num" id="stat-residents">${num(s.residents)}</td></tr>
    ${item("worker.elderly", s.elderly_60_plus, { min_age: 60 })}
    ${item("worker.children", s.children_0_14, { max_age: 14 })}
    ${item("worker.floating", s.floating, { residency: "floating" })}
    ${tags}</table>`;
}

function deadlineBadge(due) {
  if (!due) return "";
  const left = new Date(due) - new Date();
  const cls = left < 0 ? "overdue" : left < 4 * 3600e3 ? "soon" : "";
  return `<span class="badge ${cls}">${esc(formatTime(due))}</span>`;
}

async function loadIncidents(code) {
  try {
    const { data } = await api("/incidents", { params: { grid_code: code, limit: 100 } });
    const open = (data.items || []).filter((i) => !OPEN.has(i.status));
    const layer = L.layerGroup(open.map((i) => L.circleMarker(toMap(...i.geometry.coordinates), { radius: 7,
      color: "#dc3545", fillOpacity: 0.8 }).bindTooltip(`${esc(caseCategory(i))} (${esc(statusWord(i.status))})`))).addTo(map);
    return `<table class="list" id="incident-list"><tr><th>#</th><th>${t("worker.category")}</th><th>${t("worker.deadline")}</th></tr>${
      open.length ? open.map((i) => `<tr><td>${i.id}</td><td>${esc(caseCategory(i))}<br><span class="small">${
        esc(statusWord(i.status))}</span></td><td>${deadlineBadge(i.due_at)}</td></tr>`).join("")
        : `<tr><td colspan="3">${t("worker.no_incidents")}</td></tr>`}</table>`;
  } catch (exc) {
    return `<p class="error">${esc(exc.message)}</p>`;
  }
}

async function loadPatrols(code) {
  try {
    const { data } = await api("/patrols/coverage", { params: { grid_code: code } });
    const missing = new Set(data.buildings.filter((b) => !b.covered).map((b) => b.id));
    if (buildingLayer) buildingLayer.eachLayer((l) => {
      const id = l.feature.properties.id ?? l.feature.id;
      if (missing.has(id)) l.setStyle({ color: "#fd7e14", weight: 3 });
    });
    const { data: list } = await api("/patrols", { params: { limit: 20 } });
    for (const p of (list.items || []).slice(0, 10)) {
      try {
        const { data: track } = await api(`/patrols/${p.id}`);
        L.geoJSON(track, geoOptions({ style: { color: "#198754", weight: 3 } })).addTo(map);
      } catch (_) { /* a track past retention or out of scope is simply not drawn */ }
    }
    return `<p id="patrol-summary">${esc(data.period.week)}: ${data.patrols} · <span class="badge soon">${
      t("worker.uncovered", { n: missing.size })}</span></p>`;
  } catch (exc) {
    return `<p class="small">${esc(exc.message)}</p>`;
  }
}

const reporting = () => $("#report-box") && !$("#report-box").hidden;

function reportForm() {
  const options = config.incident_categories.filter((c) => c.class === "event")
    .map((c) => `<option value="${c.code}">${esc(categoryLabel(c))}</option>`).join("");
  return `<button id="report-start">${t("worker.report")}</button>
    <div id="report-box" hidden><p class="hint" id="report-hint">${t("worker.report_hint")}</p>
      <label>${t("worker.category")}<select id="report-category">${options}</select></label>
      <label>${t("worker.description")}<textarea id="report-description" rows="2"></textarea></label>
      <label class="small"><input type="checkbox" id="report-urgent" style="width:auto"> ${t("worker.urgent")}</label>
      <div class="row"><button id="report-submit">${t("worker.submit")}</button></div></div>
    <p id="report-result"></p>`;
}

async function submitReport() {
  if (!picked) return say(t("worker.pick_point"), { error: true });
  try {
    const { data } = await api("/incidents", { method: "POST", body: {
      point: picked, category_code: $("#report-category").value, description: $("#report-description").value || null,
      urgency: $("#report-urgent").checked ? "urgent" : "normal", source: "patrol" } });
    const incident = data.incident || data;
    $("#report-result").textContent = t("worker.reported", { id: incident.id, grid: incident.grid_code || "—" });
    $("#report-box").hidden = true;
    say(t("worker.reported", { id: incident.id, grid: incident.grid_code || "—" }));
  } catch (exc) {
    fail(exc);
  }
}

export async function start(context) {
  ({ me, config } = context);
  $("#view-title").textContent = t("worker.title");
  // Cases, patrols and residents are personal records: ask why once, before the first is read.
  await ensureReason();
  const { data: districts } = await api("/districts");
  const district = districts.items.find((d) => d.code === me.district_code) || districts.items[0];
  map = createMap("map", config, district.bbox);
  const grids = await loadGrids();
  const { data: stats } = await api("/stats/grids", { params: { district_code: district.code } });
  const mine = new Map(stats.items.filter((s) => me.grids.includes(s.grid_code)).map((s) => [s.grid_code, s]));
  const sections = [];
  for (const g of grids) {
    const code = g.properties.code;
    const buildings = await loadBuildings(code);
    sections.push(`<h2 class="grid-title">${esc(g.properties.name)} <span class="small">${code}</span></h2>
      <p class="small">${t("four_limits")}: ${esc(g.properties.four_limits || "—")} ·
        <a href="/app/notice/${code}" target="_blank">${t("field.notice")}</a></p>
      <h3>${t("worker.key")}</h3>${mine.has(code) ? statsTable(mine.get(code), code) : ""}
      <h3>${t("worker.incidents")}</h3>${await loadIncidents(code)}
      <h3>${t("worker.patrols")}</h3>${await loadPatrols(code)}
      <details><summary>${t("buildings")} (${g.properties.buildings ?? ""})</summary>${buildings}</details>`);
  }
  html($("#panel"), `<p><a class="button" id="open-field" href="/app/field">${t("field.open")}</a></p>${reportForm()}<div id="drill"></div>${sections.join("")}`);
  $("#panel").addEventListener("click", (e) => {
    const target = e.target.closest("[data-drill]");
    if (target) drill(JSON.parse(target.dataset.drill), target.dataset.what);
    const building = e.target.closest("[data-building]");
    if (building) drill({ building_id: building.dataset.building }, building.textContent);
  });
  $("#report-start").addEventListener("click", () => { $("#report-box").hidden = false; });
  $("#report-submit").addEventListener("click", submitReport);
  map.on("click", (e) => {
    if (!reporting()) return;
    picked = fromMap(e.latlng);
    if (pickMarker) map.removeLayer(pickMarker);
    pickMarker = L.circleMarker(e.latlng, { radius: 9, color: "#dc3545", weight: 3 }).addTo(map);
    $("#report-hint").textContent = `${picked[0].toFixed(6)}, ${picked[1].toFixed(6)}`;
  });
  return { map };
}
