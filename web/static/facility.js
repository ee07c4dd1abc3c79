// Facility planner: one or several facility types at once; homes coloured by the walk to the nearest facility
// (covered homes green, homes beyond the radius from the coverage_gaps tiles by distance, buildings that are
// not homes grey), each type's figures side by side, gaps of the chosen type ranked by uncovered target
// population and highlighted when chosen, a what-if on the map (add a facility, move one, close one), siting
// suggestions answered with the building, its address and community, and isochrones. Codes (levels, types) are
// worded from the i18n table and the panel is drawn again when the language changes.
import { api } from "./api.js";
import { lang, t } from "./i18n.js";
import { addOverlay, createMap, fromMap, geoOptions, legend, removeOverlay, tileLayer, toMap, wordError } from "./map.js";
import { $, esc, html, num, say, waitForJob } from "./ui.js";

const fail = (exc) => say(wordError(exc), { error: true });

let map, me, config, district, types = [], runs = [], layers = {};
let figures = {}; // type code → {run, district figures} or {none: true}
let gaps = null; // the primary type's gap areas (GeoJSON)
let chosenGap = null; // rank of the gap highlighted
let whatIf = { mode: null, facility: null, result: null, marker: null }; // what-if in progress and its answer
let sites = null; // the last siting answer: [{site, building}]
let facilitiesByType = {};

const COLOURS = {
  covered: "#74c476", nonres: "#d9d0c9", near: "#fdae61", far: "#d7191c", none: "#67000d", gap: "#6f42c1",
  chosenGap: "#c2255c", added: "#198754", closed: "#6c757d",
};
// Facility colours per chosen type (the primary type first).
const TYPE_COLOURS = ["#0d6efd", "#6610f2", "#20c997", "#d63384", "#fd7e14", "#795548"];

const typeName = (ft) => (lang() === "en" ? ft.name_en : ft.name_zh);
const primary = () => ($("#type") ? types.find((x) => x.code === $("#type").value) : null);
const levelName = (code) => {
  const key = `facility.level.${code}`;
  return t(key) === key ? t("facility.level.other", { code }) : t(key);
};

function chosenTypes() {
  const p = primary();
  const extra = [...document.querySelectorAll("#types input:checked")].map((i) => types.find((x) => x.code === i.value))
    .filter((x) => x && (!p || x.code !== p.code));
  return p ? [p, ...extra] : extra;
}

function colourOf(code) {
  const i = chosenTypes().findIndex((x) => x.code === code);
  return TYPE_COLOURS[Math.max(0, i) % TYPE_COLOURS.length];
}

function clear(name) {
  if (layers[name]) removeOverlay(map, name);
  layers[name] = null;
}

function distanceColour(d, radius) {
  if (d === undefined || d === null) return COLOURS.none;
  if (d <= radius * 1.5) return COLOURS.near;
  return COLOURS.far;
}

function legendHtml() {
  const row = (colour, text, line) => `<div><i style="background:${colour}${line ? ";border:2px dashed " + colour : ""}"></i>${
    esc(text)}</div>`;
  const kinds = chosenTypes().map((ft) => `<div><i style="background:${colourOf(ft.code)};border-radius:7px"></i>${
    esc(typeName(ft))}</div>`).join("");
  return `<strong>${t("facility.distance")}</strong>${row(COLOURS.covered, t("facility.legend.covered"))}
    ${row(COLOURS.near, `${t("facility.beyond")} (≤1.5×)`)}${row(COLOURS.far, t("facility.beyond"))}
    ${row(COLOURS.none, t("facility.none"))}${row(COLOURS.nonres, t("facility.legend.nonres"))}
    ${row(COLOURS.gap, t("facility.legend.gap"))}${row(COLOURS.chosenGap, t("facility.legend.chosen_gap"))}
    <strong>${t("facility.legend.facility")}</strong>${kinds}`;
}

async function loadRuns() {
  const { data } = await api("/coverage/runs", { params: { district_code: district.code } });
  runs = (data.items || []).filter((r) => r.status === "done");
}

const runOf = (code) => runs.find((r) => r.type_codes.includes(code)) || null;

async function showTypes() {
  const chosen = chosenTypes();
  if (!chosen.length) return;
  say("");
  resetWhatIf();
  for (const key of Object.keys(layers)) if (key !== "sites" && key !== "iso") clear(key);
  clear("sites"); clear("iso");
  sites = null;
  html($("#site-result"), "");
  figures = {};
  gaps = null;
  chosenGap = null;
  renderFigures(true);
  html($("#gap-list"), "");
  try {
    await loadRuns();
    facilitiesByType = {};
    await Promise.all(chosen.map(async (ft) => {
      const { data } = await api("/facilities", { params: { type: ft.code, district_code: district.code, limit: 5000 } });
      facilitiesByType[ft.code] = data;
    }));
    drawFacilities();
    // The layer holds every type's uncovered buildings: ask for each chosen type's only.
    chosen.forEach((ft, i) => {
      const key = i === 0 ? "gaps" : `gaps_${ft.code}`;
      layers[key] = addOverlay(map, key, tileLayer(map, "coverage_gaps", (p) => ({ fill: true, weight: 0.5, color: "#333",
        fillOpacity: 0.9, fillColor: distanceColour(p.distance_m, ft.radius_m) }), { pane: "overlayPane",
        url: `/tiles/coverage_gaps/{z}/{x}/{y}.mvt?type=${encodeURIComponent(ft.code)}` }),
        { label: () => `${t("map.layer.gaps")} · ${typeName(ft)}` });
    });
    await Promise.all(chosen.map(async (ft) => {
      const run = runOf(ft.code);
      if (!run) { figures[ft.code] = { none: true }; return; }
      const { data } = await api(`/coverage/runs/${run.id}`);
      figures[ft.code] = { run, d: data.types[ft.code].district };
    }));
    renderFigures();
    const p = chosen[0];
    if (figures[p.code] && figures[p.code].run) {
      ({ data: gaps } = await api(`/coverage/runs/${figures[p.code].run.id}/gaps`, { params: { type: p.code, top: 20 } }));
      drawGaps();
      renderGaps();
    }
  } catch (exc) {
    fail(exc);
  }
}

function drawFacilities() {
  const chosen = chosenTypes();
  const markers = [];
  for (const ft of chosen) {
    const data = facilitiesByType[ft.code];
    if (!data) continue;
    for (const f of data.features) {
      const [lon, lat] = f.geometry.coordinates;
      const closed = whatIf.result && whatIf.facility && whatIf.facility.id === (f.properties.id ?? f.id);
      const m = L.circleMarker(toMap(lon, lat), { radius: ft === chosen[0] ? 8 : 6, color: "#fff", weight: 2,
        fillColor: closed ? COLOURS.closed : colourOf(ft.code), fillOpacity: 1, keyboard: true })
        .bindTooltip(`${esc(f.properties.name || typeName(ft))} · ${esc(typeName(ft))}`);
      m.on("add", () => { const el = m.getElement(); if (el) { el.dataset.facility = String(f.properties.id ?? f.id);
        el.dataset.type = ft.code; el.setAttribute("tabindex", "0"); el.setAttribute("role", "button");
        el.setAttribute("aria-label", f.properties.name || typeName(ft)); } });
      m.on("click", (e) => {
        if (ft !== chosenTypes()[0] || !["move", "close"].includes(whatIf.mode)) return;
        L.DomEvent.stopPropagation(e);
        pickFacility({ id: f.properties.id ?? f.id, name: f.properties.name || typeName(ft), lon, lat });
      });
      markers.push(m);
    }
  }
  layers.facilities = addOverlay(map, "facilities", L.layerGroup(markers));
}

function drawGaps() {
  clear("gap_areas");
  if (!gaps) return;
  layers.gap_areas = addOverlay(map, "gap_areas", L.geoJSON(gaps, geoOptions({
    style: (f) => (f.properties.rank === chosenGap
      ? { color: COLOURS.chosenGap, weight: 5, dashArray: null, fillColor: COLOURS.chosenGap, fillOpacity: 0.25 }
      : { color: COLOURS.gap, weight: 2, dashArray: "4 3", fillOpacity: 0.05 }),
    onEachFeature: (f, layer) => {
      layer.on("add", () => { const el = layer.getElement && layer.getElement(); if (el) el.dataset.gap = f.properties.rank; });
      layer.on("click", () => { if (!whatIf.mode) chooseGap(f.properties.rank); });
    },
  })));
}

function chooseGap(rank) {
  chosenGap = rank;
  drawGaps();
  const f = gaps.features.find((x) => x.properties.rank === rank);
  if (!f) return;
  // The gap's own point (where the API places its middle) at street level: a click there reaches its homes.
  map.setView(toMap(f.properties.lon, f.properties.lat), 17, { animate: false });
  renderGaps();
}

function renderFigures(loading = false) {
  const box = $("#figures");
  if (!box) return;
  if (loading) { html(box, `<p>${t("loading")}</p>`); return; }
  const chosen = chosenTypes();
  const rows = chosen.map((ft, i) => {
    const fig = figures[ft.code] || {};
    const d = fig.d;
    const pct = d ? Math.round(100 * (d.target_population_covered_share || 0)) : null;
    return `<tr data-type="${ft.code}"><td><i class="dot" style="background:${colourOf(ft.code)}"></i>${esc(typeName(ft))}
      <br><span class="small">${esc(levelName(ft.level))} · ${t("facility.radius", { r: ft.radius_m })}</span></td>
      <td class="num">${d ? `${num(d.target_population_covered)} / ${num(d.target_population)}` : "—"}</td>
      <td class="num">${d ? `${pct}%` : `<span class="small">${t("facility.no_run")}</span>`}</td></tr>${i === 0 && d
      ? `<tr><td colspan="3" id="coverage-figure">${t("facility.covered", { c: num(d.target_population_covered),
        t: num(d.target_population), p: pct })}</td></tr>` : ""}`;
  }).join("");
  const missing = chosen.filter((ft) => figures[ft.code] && figures[ft.code].none);
  html(box, `<table class="list" id="type-figures"><tr><th scope="col">${t("facility.type")}</th><th scope="col" class="num">${
    t("facility.target")}</th><th scope="col" class="num">${t("facility.covered_share")}</th></tr>${rows}</table>
    ${missing.length ? `<p id="no-run">${t("facility.no_run")}</p><button id="run-now">${t("facility.run")}</button>
    <div id="run-progress" class="progress" hidden><div></div></div>` : ""}`);
  if ($("#run-now")) $("#run-now").addEventListener("click", () => computeRun(missing.map((ft) => ft.code)));
}

function renderGaps() {
  const box = $("#gap-list");
  if (!box || !gaps) return;
  const chosen = gaps.features.find((f) => f.properties.rank === chosenGap);
  html(box, `${chosen ? `<p class="hint" id="gap-chosen">${esc(t("facility.gap_chosen", { rank: chosen.properties.rank,
    community: chosen.properties.community_name || "—", n: num(chosen.properties.households) }))}</p>` : ""}
    <table class="list" id="gaps"><tr><th scope="col">#</th><th scope="col">${t("planner.community")}</th>
    <th scope="col" class="num">${t("households")}</th><th scope="col" class="num">${t("facility.target")}</th></tr>${
    gaps.features.map((f) => `<tr class="clickable${f.properties.rank === chosenGap ? " chosen" : ""}" tabindex="0"
      data-rank="${f.properties.rank}" data-lon="${f.properties.lon}" data-lat="${f.properties.lat}"><td>${f.properties.rank}</td>
      <td>${esc(f.properties.community_name || "")}<br><span class="small">${esc(f.properties.grid_name || "")}</span></td>
      <td class="num">${num(f.properties.households)}</td><td class="num">${num(f.properties.target_population)}</td></tr>`)
      .join("")}</table>`);
}

async function computeRun(codes) {
  const bar = $("#run-progress > div");
  $("#run-progress").hidden = false;
  try {
    const { data: job } = await api("/coverage/runs", { method: "POST", body: { district_code: district.code,
      types: codes, background: true } });
    await waitForJob(api, job.href, (j) => { bar.style.width = `${Math.round(100 * j.fraction)}%`; });
    await showTypes();
  } catch (exc) {
    fail(exc);
  }
}

// --- what-if: add, move, close -------------------------------------------------------------------

function resetWhatIf() {
  if (whatIf.marker) map.removeLayer(whatIf.marker);
  whatIf = { mode: null, facility: null, result: null, marker: null };
  clear("whatif");
  renderWhatIf();
  if (layers.facilities) drawFacilitiesAgain();
}

function drawFacilitiesAgain() {
  clear("facilities");
  drawFacilities();
}

function armWhatIf(mode) {
  resetWhatIf();
  whatIf.mode = mode;
  renderWhatIf();
}

function pickFacility(facility) {
  if (whatIf.mode === "close") {
    whatIf.facility = facility;
    runWhatIf({ remove: facility.id });
  } else if (whatIf.mode === "move") {
    whatIf.facility = facility;
    renderWhatIf();
  }
}

async function runWhatIf(change, point = null) {
  const ft = primary();
  const mode = whatIf.mode;
  whatIf.mode = null;
  whatIf.result = { loading: true };
  renderWhatIf();
  const marks = [];
  if (point) {
    marks.push(L.circleMarker(toMap(point[0], point[1]), { radius: 10, color: COLOURS.added, weight: 3,
      fillColor: "#75b798", fillOpacity: 0.9 }));
  }
  if (whatIf.facility && mode === "move" && point) {
    marks.push(L.polyline([toMap(whatIf.facility.lon, whatIf.facility.lat), toMap(point[0], point[1])],
      { color: COLOURS.added, weight: 2, dashArray: "4 4" }));
  }
  if (whatIf.facility) {
    marks.push(L.circleMarker(toMap(whatIf.facility.lon, whatIf.facility.lat), { radius: 12, color: COLOURS.closed,
      weight: 3, fill: false }));
  }
  layers.whatif = addOverlay(map, "whatif", L.layerGroup(marks));
  try {
    const { data } = await api("/coverage/what-if", { method: "POST", body: { type_code: ft.code,
      district_code: district.code, ...change } });
    whatIf.result = { mode, data, facility: whatIf.facility, point };
    drawFacilitiesAgain();
  } catch (exc) {
    whatIf.result = null;
    fail(exc);
  }
  renderWhatIf();
}

function renderWhatIf() {
  const hint = $("#whatif-hint"), box = $("#whatif-result");
  if (!hint || !box) return;
  const mode = whatIf.mode;
  hint.hidden = !mode;
  if (mode === "add") hint.textContent = t("facility.whatif_add_hint");
  else if (mode === "close" || (mode === "move" && !whatIf.facility)) hint.textContent = t("facility.whatif_pick_hint");
  else if (mode === "move") hint.textContent = t("facility.whatif_move_to_hint", { name: whatIf.facility.name });
  for (const b of document.querySelectorAll("[data-whatif]")) b.setAttribute("aria-pressed", String(b.dataset.whatif === mode));
  const r = whatIf.result;
  if (!r) { html(box, ""); return; }
  if (r.loading) { html(box, `<p>${t("loading")}</p>`); return; }
  const d = r.data;
  const delta = d.target_population_covered_after - d.target_population_covered_before;
  const signed = `${delta >= 0 ? "+" : "-"}${num(Math.abs(delta))}`;
  const what = t(`facility.whatif_${r.mode === "add" ? "add" : r.mode === "move" ? "move" : "close"}`);
  html(box, `<p id="whatif-action">${esc(t("facility.whatif_change", { what,
    name: r.facility ? r.facility.name : typeName(primary()) }))}</p>
    <p id="whatif-figure" data-mode="${r.mode}" data-facility="${r.facility ? r.facility.id : ""}" data-point="${
      r.point ? r.point.join(",") : ""}">${t("facility.whatif_delta", { b: num(d.target_population_covered_before),
      a: num(d.target_population_covered_after), d: signed, g: num((d.buildings_gaining || 0) + (d.buildings_losing || 0)) })}</p>
    ${d.communities_changed.length ? `<table class="list" id="whatif-communities"><caption class="small">${
      t("facility.whatif_communities")}</caption>${d.communities_changed.map((c) => `<tr><td>${
      esc(c.name || c.community_code)}</td><td class="num">${num(c.target_population_covered_before)} → ${
      num(c.target_population_covered_after)}</td></tr>`).join("")}</table>` : ""}`);
}

// --- siting -----------------------------------------------------------------------------------

async function site() {
  const ft = primary();
  clear("sites");
  sites = null;
  html($("#site-result"), `<p>${t("loading")}</p>`);
  try {
    const { data } = await api("/coverage/site", { method: "POST", body: { type_code: ft.code,
      district_code: district.code, k: Number($("#site-k").value || 3) } });
    const found = (data.exact || data.greedy || {}).sites || [];
    const buildings = await Promise.all(found.map((s) => (s.building_id
      ? api(`/buildings/${s.building_id}`).then((r) => r.data.properties, () => null) : Promise.resolve(null))));
    sites = found.map((s, i) => ({ site: s, building: buildings[i] }));
    layers.sites = addOverlay(map, "sites", L.layerGroup(found.map((s, i) => L.marker(toMap(s.lon, s.lat), { title: `${i + 1}` })
      .bindTooltip(`${i + 1}: +${num(s.newly_covered_target_population)}`, { permanent: true }))));
    renderSites();
  } catch (exc) {
    fail(exc);
    html($("#site-result"), "");
  }
}

function renderSites() {
  const box = $("#site-result");
  if (!box || !sites) return;
  if (!sites.length) { html(box, `<p>${t("facility.site_none")}</p>`); return; }
  html(box, `<ol id="sites">${sites.map(({ site: s, building: b }) => {
    const label = b ? (b.name || t("hh.building", { id: b.id })) : t("facility.site_point", { lon: s.lon.toFixed(5),
      lat: s.lat.toFixed(5) });
    return `<li data-building="${s.building_id ?? ""}" data-lon="${s.lon}" data-lat="${s.lat}"><span class="site-building">${
      esc(label)}</span> · <span class="site-address">${esc((b && b.address) || t("facility.site_no_address"))}</span> · <span
      class="site-community">${esc(s.community_name || "—")}</span>: <strong>+${num(s.newly_covered_target_population)}</strong>
      <span class="small">${t("facility.target")}</span></li>`;
  }).join("")}</ol>`);
}

async function isochrones() {
  clear("iso");
  try {
    const { data } = await api("/coverage/isochrones", { params: { type_code: primary().code,
      district_code: district.code } });
    layers.iso = addOverlay(map, "iso", L.geoJSON(data, geoOptions({ style: { color: "#0d6efd", weight: 1, fillOpacity: 0.12 },
      interactive: false })));
  } catch (exc) {
    fail(exc);
  }
}

// --- panel ------------------------------------------------------------------------------------

function fillTypes() {
  const level = $("#level").value;
  const chosen = $("#type").value;
  const ticked = new Set([...document.querySelectorAll("#types input:checked")].map((i) => i.value));
  const shown = types.filter((x) => !level || x.level === level);
  $("#type").innerHTML = shown.map((x) => `<option value="${x.code}">${esc(typeName(x))} (${x.radius_m} m)</option>`).join("");
  if (chosen && [...$("#type").options].some((o) => o.value === chosen)) $("#type").value = chosen;
  html($("#types"), `<legend>${t("facility.types")}</legend>${shown.map((x) => `<label class="check"><input type="checkbox"
    value="${x.code}" ${ticked.has(x.code) ? "checked" : ""}> ${esc(typeName(x))}</label>`).join("")}`);
}

function fillLevels() {
  const levels = [...new Set(types.map((x) => x.level))];
  const current = $("#level").value;
  $("#level").innerHTML = `<option value="">${t("facility.all_levels")}</option>${levels.map((l) =>
    `<option value="${esc(l)}">${esc(levelName(l))}</option>`).join("")}`;
  $("#level").value = current;
}

function labelPanel() {
  for (const el of document.querySelectorAll("#panel [data-t]")) el.textContent = t(el.dataset.t);
}

function refreshText() {
  $("#view-title").textContent = t("facility.title");
  labelPanel();
  fillLevels();
  fillTypes();
  renderFigures();
  renderGaps();
  renderWhatIf();
  renderSites();
  drawFacilitiesAgain();
  map.wangge.renderLegend();
}

export async function start(context) {
  ({ me, config } = context);
  $("#view-title").textContent = t("facility.title");
  const [{ data: districts }, { data: catalogue }] = await Promise.all([api("/districts"), api("/facility-types")]);
  district = districts.items.find((d) => d.code === me.district_code) || districts.items[0];
  types = catalogue.items;
  // Homes green (covered; the uncovered are drawn over them from the gap tiles), other buildings grey.
  map = createMap("map", config, district.bbox, { me, district: district.code,
    buildingStyle: (p) => ({ fill: true, fillOpacity: 1, weight: 0.5, color: "#b8aba1",
                             fillColor: p.households > 0 ? COLOURS.covered : COLOURS.nonres }) });
  legend(map, legendHtml);
  html($("#panel"), `
    <div class="row"><label style="flex:1"><span data-t="facility.level"></span><select id="level"></select></label>
    <label style="flex:2"><span data-t="facility.type"></span><select id="type"></select></label></div>
    <details><summary data-t="facility.types"></summary><fieldset id="types" class="checks"></fieldset></details>
    <div id="figures"></div>
    <h2 data-t="facility.whatif_title"></h2>
    <div class="row" role="group"><button id="whatif-start" data-whatif="add" data-t="facility.whatif_add"></button>
      <button id="whatif-move" class="secondary" data-whatif="move" data-t="facility.whatif_move"></button>
      <button id="whatif-close" class="secondary" data-whatif="close" data-t="facility.whatif_close"></button>
      <button id="whatif-reset" class="link" data-t="facility.whatif_reset"></button></div>
    <p class="hint" id="whatif-hint" hidden></p><div id="whatif-result"></div>
    <h2 data-t="facility.site"></h2>
    <div class="row"><label style="flex:1"><span data-t="facility.site_k"></span><input id="site-k" type="number" min="1"
      max="10" value="3"></label><button id="site-run" data-t="facility.site"></button></div><div id="site-result"></div>
    <div class="row"><button id="iso-run" class="secondary" data-t="facility.isochrones"></button></div>
    <h2 data-t="facility.gaps"></h2><div id="gap-list"></div>`);
  labelPanel();
  fillLevels();
  fillTypes();
  if (types.some((x) => x.code === "kindergarten")) $("#type").value = "kindergarten";
  $("#level").addEventListener("change", () => { fillTypes(); showTypes(); });
  $("#type").addEventListener("change", showTypes);
  $("#types").addEventListener("change", showTypes);
  $("#whatif-start").addEventListener("click", () => armWhatIf("add"));
  $("#whatif-move").addEventListener("click", () => armWhatIf("move"));
  $("#whatif-close").addEventListener("click", () => armWhatIf("close"));
  $("#whatif-reset").addEventListener("click", resetWhatIf);
  $("#site-run").addEventListener("click", site);
  $("#iso-run").addEventListener("click", isochrones);
  const pickGap = (e) => {
    const row = e.target.closest("[data-rank]");
    if (row) chooseGap(Number(row.dataset.rank));
  };
  $("#gap-list").addEventListener("click", pickGap);
  $("#gap-list").addEventListener("keydown", (e) => { if (e.key === "Enter") pickGap(e); });
  map.on("click", (e) => {
    if (whatIf.mode === "add") runWhatIf({ add: fromMap(e.latlng) }, fromMap(e.latlng));
    else if (whatIf.mode === "move" && whatIf.facility) {
      const [lon, lat] = fromMap(e.latlng);
      runWhatIf({ move: [whatIf.facility.id, lon, lat] }, [lon, lat]);
    }
  });
  await showTypes();
  return { map, refreshText };
}
