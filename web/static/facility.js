// Facility planner: a facility type and life-circle level; buildings coloured by the walk to the nearest
// facility (coverage_gaps tiles: the buildings beyond the radius, by distance), gaps ranked by uncovered
// target population, a what-if (drop a facility on the map), siting suggestions and isochrones.
import { api } from "./api.js";
import { lang, t } from "./i18n.js";
import { createMap, fromMap, geoOptions, legend, tileLayer, toMap } from "./map.js";
import { $, esc, fail, html, num, say, waitForJob } from "./ui.js";

let map, me, config, district, types = [], run = null, layers = {}, whatIfArmed = false, whatIfMarker = null;

const typeName = (ft) => (lang() === "en" ? ft.name_en : ft.name_zh);
const currentType = () => types.find((x) => x.code === $("#type").value);

function clear(name) {
  if (layers[name]) map.removeLayer(layers[name]);
  layers[name] = null;
}

function distanceColour(d, radius) {
  if (d === undefined || d === null) return "#67000d";
  if (d <= radius * 1.5) return "#fdae61";
  return "#d7191c";
}

async function latestRun(code) {
  const { data } = await api("/coverage/runs", { params: { district_code: district.code } });
  return (data.items || []).find((r) => r.status === "done" && r.type_codes.includes(code)) || null;
}

async function showType() {
  const ft = currentType();
  if (!ft) return;
  ["gaps", "gapAreas", "facilities", "iso", "sites"].forEach(clear);
  html($("#figures"), `<p>${t("loading")}</p>`);
  html($("#gap-list"), "");
  html($("#whatif-result"), "");
  try {
    const { data: facilities } = await api("/facilities", { params: { type: ft.code,
      district_code: district.code, limit: 5000 } });
    layers.facilities = L.geoJSON(facilities, geoOptions({
      pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 8, color: "#fff", weight: 2, fillColor: "#0d6efd",
        fillOpacity: 1 }).bindTooltip(esc(f.properties.name || ft.name_zh)) })).addTo(map);
    // The layer holds every type's uncovered buildings: ask for this type's only.
    layers.gaps = tileLayer(map, "coverage_gaps", (p) => ({ fill: true, weight: 0.5, color: "#333", fillOpacity: 0.9,
      fillColor: distanceColour(p.distance_m, ft.radius_m) }), { pane: "overlayPane",
      url: `/tiles/coverage_gaps/{z}/{x}/{y}.mvt?type=${encodeURIComponent(ft.code)}` }).addTo(map);
    run = await latestRun(ft.code);
    if (!run) {
      html($("#figures"), `<p id="no-run">${t("facility.no_run")}</p><button id="run-now">${t("facility.run")}</button>
        <div id="run-progress" class="progress" hidden><div></div></div>`);
      $("#run-now").addEventListener("click", computeRun);
      return;
    }
    const [{ data: figures }, { data: gaps }] = await Promise.all([
      api(`/coverage/runs/${run.id}`), api(`/coverage/runs/${run.id}/gaps`, { params: { type: ft.code, top: 20 } })]);
    const d = figures.types[ft.code].district;
    const pct = Math.round(100 * (d.target_population_covered_share || 0));
    html($("#figures"), `<p>${t("facility.radius", { r: ft.radius_m })}</p><p id="coverage-figure">${t("facility.covered", {
      c: num(d.target_population_covered), t: num(d.target_population), p: pct })}</p>`);
    layers.gapAreas = L.geoJSON(gaps, geoOptions({ style: { color: "#6f42c1", weight: 2, dashArray: "4 3",
      fillOpacity: 0.05 } })).addTo(map);
    html($("#gap-list"), `<table class="list" id="gaps"><tr><th>#</th><th>${t("planner.community")}</th><th class="num">${
      t("households")}</th><th class="num">👶/👴</th></tr>${gaps.features.map((f) => `<tr class="clickable" data-lon="${
      f.properties.lon}" data-lat="${f.properties.lat}"><td>${f.properties.rank}</td><td>${esc(f.properties.community_name
      || "")}<br><span class="small">${esc(f.properties.grid_name || "")}</span></td><td class="num">${num(
      f.properties.households)}</td><td class="num">${num(f.properties.target_population)}</td></tr>`).join("")}</table>`);
  } catch (exc) {
    fail(exc);
  }
}

async function computeRun() {
  const bar = $("#run-progress > div");
  $("#run-progress").hidden = false;
  try {
    const { data: job } = await api("/coverage/runs", { method: "POST", body: { district_code: district.code,
      types: [currentType().code], background: true } });
    await waitForJob(api, job.href, (j) => { bar.style.width = `${Math.round(100 * j.fraction)}%`; });
    await showType();
  } catch (exc) {
    fail(exc);
  }
}

async function whatIf(latlng) {
  const ft = currentType();
  const point = fromMap(latlng);
  if (whatIfMarker) map.removeLayer(whatIfMarker);
  whatIfMarker = L.circleMarker(latlng, { radius: 10, color: "#198754", weight: 3, fillColor: "#75b798",
    fillOpacity: 0.9 }).addTo(map);
  html($("#whatif-result"), `<p>${t("loading")}</p>`);
  try {
    const { data } = await api("/coverage/what-if", { method: "POST", body: { type_code: ft.code,
      district_code: district.code, add: point } });
    const delta = data.target_population_covered_after - data.target_population_covered_before;
    html($("#whatif-result"), `<p id="whatif-figure">${t("facility.whatif_result", {
      b: num(data.target_population_covered_before), a: num(data.target_population_covered_after), d: num(delta),
      g: num(data.buildings_gaining) })}</p><table class="list">${data.communities_changed.map((c) => `<tr><td>${
      esc(c.name || c.community_code)}</td><td class="num">${num(c.target_population_covered_before)} → ${
      num(c.target_population_covered_after)}</td></tr>`).join("")}</table>`);
  } catch (exc) {
    fail(exc);
    html($("#whatif-result"), "");
  }
}

async function site() {
  const ft = currentType();
  clear("sites");
  html($("#site-result"), `<p>${t("loading")}</p>`);
  try {
    const { data } = await api("/coverage/site", { method: "POST", body: { type_code: ft.code,
      district_code: district.code, k: Number($("#site-k").value || 3) } });
    const sites = (data.exact || data.greedy || {}).sites || [];
    layers.sites = L.layerGroup(sites.map((s, i) => L.marker(toMap(s.lon, s.lat), { title: `${i + 1}` })
      .bindTooltip(`${i + 1}: +${num(s.newly_covered_target_population)}`, { permanent: true })))
      .addTo(map);
    html($("#site-result"), `<ol id="sites">${sites.map((s) => `<li>${s.lon.toFixed(5)}, ${s.lat.toFixed(5)}: +${
      num(s.newly_covered_target_population)}</li>`).join("")}</ol>`);
  } catch (exc) {
    fail(exc);
    html($("#site-result"), "");
  }
}

async function isochrones() {
  clear("iso");
  try {
    const { data } = await api("/coverage/isochrones", { params: { type_code: currentType().code,
      district_code: district.code } });
    layers.iso = L.geoJSON(data, geoOptions({ style: { color: "#0d6efd", weight: 1, fillOpacity: 0.12 },
      interactive: false })).addTo(map);
  } catch (exc) {
    fail(exc);
  }
}

function fillTypes() {
  const level = $("#level").value;
  const chosen = $("#type").value;
  $("#type").innerHTML = types.filter((x) => !level || x.level === level).map((x) => `<option value="${x.code}">${
    esc(typeName(x))} (${x.radius_m} m)</option>`).join("");
  if (chosen && [...$("#type").options].some((o) => o.value === chosen)) $("#type").value = chosen;
}

export async function start(context) {
  ({ me, config } = context);
  $("#view-title").textContent = t("facility.title");
  const [{ data: districts }, { data: catalogue }] = await Promise.all([api("/districts"), api("/facility-types")]);
  district = districts.items.find((d) => d.code === me.district_code) || districts.items[0];
  types = catalogue.items;
  map = createMap("map", config, district.bbox);
  legend(map, `<strong>${t("facility.distance")}</strong><div><i style="background:#d9d0c9"></i>${t("facility.within")}</div>
    <div><i style="background:#fdae61"></i>${t("facility.beyond")} (≤1.5×)</div><div><i style="background:#d7191c"></i>${
    t("facility.beyond")}</div><div><i style="background:#67000d"></i>${t("facility.none")}</div>`);
  const levels = [...new Set(types.map((x) => x.level))];
  html($("#panel"), `
    <div class="row"><label style="flex:1">${t("facility.level")}<select id="level"><option value="">${
      t("facility.all_levels")}</option>${levels.map((l) => `<option>${esc(l)}</option>`).join("")}</select></label>
    <label style="flex:2">${t("facility.type")}<select id="type"></select></label></div>
    <div id="figures"></div>
    <h2>${t("facility.whatif")}</h2>
    <div class="row"><button id="whatif-start">${t("facility.whatif")}</button></div>
    <p class="hint" id="whatif-hint" hidden>${t("facility.whatif_hint")}</p><div id="whatif-result"></div>
    <h2>${t("facility.site")}</h2>
    <div class="row"><label style="flex:1">${t("facility.site_k")}<input id="site-k" type="number" min="1" max="10" value="3"></label>
      <button id="site-run">${t("facility.site")}</button></div><div id="site-result"></div>
    <div class="row"><button id="iso-run" class="secondary">${t("facility.isochrones")}</button></div>
    <h2>${t("facility.gaps")}</h2><div id="gap-list"></div>`);
  fillTypes();
  if (types.some((x) => x.code === "kindergarten")) $("#type").value = "kindergarten";
  $("#level").addEventListener("change", () => { fillTypes(); showType(); });
  $("#type").addEventListener("change", showType);
  $("#whatif-start").addEventListener("click", () => { whatIfArmed = true; $("#whatif-hint").hidden = false; });
  $("#site-run").addEventListener("click", site);
  $("#iso-run").addEventListener("click", isochrones);
  $("#gap-list").addEventListener("click", (e) => {
    const row = e.target.closest("[data-lon]");
    if (row) map.setView(toMap(Number(row.dataset.lon), Number(row.dataset.lat)), 17);
  });
  map.on("click", (e) => {
    if (!whatIfArmed) return;
    whatIfArmed = false;
    $("#whatif-hint").hidden = true;
    whatIf(e.latlng);
  });
  await showType();
  return { map };
}
