// District planner (and admin, viewer): grids coloured by households against the bounds, a unit's counts,
// 四至 and history, grid suggestions beside the current grids with the moving households, adoption with a
// reason, redrawing a boundary and moving buildings between grids with live counts and topology findings.
import { api, etagVersion } from "./api.js";
import { lang, t } from "./i18n.js";
import { createMap, fromMap, geoOptions, legend, toMap } from "./map.js";
import { $, BOUNDS_COLOURS, boundsClass, boundsLegend, esc, fail, html, num, say, waitForJob } from "./ui.js";

let map, config, me, district, bounds, gridLayer, communityLayer, selected = null;
const overlays = { plan: null, joined: null, moves: null, findings: null, edit: null, pick: null, homes: null };
let plan = null; // the suggestion on show: {id, version, data, diff}
const mayEdit = () => ["admin", "district_planner"].includes(me.role);
let unitToken = 0; // the latest grid clicked: answers for an earlier click are dropped
let quality = null; // the selected grid's data quality (from /stats/grids), or {error}
let building = null; // the building whose households are on show (GET /buildings/{id}/households), or {error}
const HOME_COLOURS = { recorded: "#2b8a3e", estimated: "#8a5a2b" };

function clear(name) {
  if (overlays[name]) map.removeLayer(overlays[name]);
  overlays[name] = null;
}

function gridStyle(feature) {
  const cls = boundsClass(feature.properties.households, bounds);
  const isSel = selected && selected.code === feature.properties.code;
  return { color: isSel ? "#000" : "#345", weight: isSel ? 3 : 1, fillColor: BOUNDS_COLOURS[cls], fillOpacity: 0.45 };
}

async function loadUnits() {
  const params = { district_code: district.code, limit: 5000 };
  const [{ data: grids }, { data: communities }] = await Promise.all([
    api("/grids", { params }), api("/communities", { params })]);
  if (gridLayer) map.removeLayer(gridLayer);
  if (communityLayer) map.removeLayer(communityLayer);
  gridLayer = L.geoJSON(grids, geoOptions({
    style: gridStyle,
    onEachFeature: (f, layer) => {
      layer.bindTooltip(`${esc(f.properties.name)}<br>${t("households")} ${num(f.properties.households)}`);
      layer.on("click", () => showUnit(f.properties.code));
      tagPath(layer, "code", f.properties.code);
    },
  })).addTo(map);
  communityLayer = L.geoJSON(communities, geoOptions({
    style: { color: "#1d3f66", weight: 3, fill: false, dashArray: null }, interactive: false })).addTo(map);
  const select = $("#community");
  const current = select.value;
  select.innerHTML = communities.features
    .map((f) => `<option value="${f.properties.code}">${esc(f.properties.name)} (${num(f.properties.households)})</option>`)
    .join("");
  if (current) select.value = current;
  return grids;
}

// The unit's code on its SVG path (data-code / data-building): a stable handle for tests and assistive tools.
function tagPath(layer, key, value) {
  layer.on("add", () => { const el = layer.getElement && layer.getElement(); if (el) el.dataset[key] = value; });
}

function gridFeature(code) {
  let found = null;
  gridLayer.eachLayer((layer) => { if (layer.feature.properties.code === code) found = layer; });
  return found;
}

async function showUnit(code) {
  const box = $("#unit");
  const token = ++unitToken;
  clear("homes");
  quality = null;
  building = null;
  html(box, `<p>${t("loading")}</p>`);
  try {
    const [{ data: grid, headers }, { data: history }] = await Promise.all([
      api(`/grids/${code}`), api(`/grids/${code}/history`)]);
    selected = { code, version: etagVersion(headers) ?? grid.properties.version, feature: grid };
    gridLayer.setStyle(gridStyle);
    const p = grid.properties;
    const cls = boundsClass(p.households, bounds);
    html(box, `
      <h2 id="unit-name">${esc(p.name)}</h2>
      <table class="kv">
        <tr><th>${t("code")}</th><td id="unit-code">${p.code}</td></tr>
        <tr><th>${t("households")}</th><td id="unit-households">${num(p.households)} <span class="badge ${cls}">${
          t("legend." + cls, bounds)}</span></td></tr>
        <tr><th>${t("buildings")}</th><td>${num(p.buildings)}</td></tr>
        <tr><th>${t("four_limits")}</th><td id="unit-four-limits">${esc(p.four_limits || "—")}</td></tr>
        <tr><th>${t("version")}</th><td>${p.version}</td></tr>
      </table>
      <h3>${t("dq.title")}</h3>
      <div id="unit-quality"><p class="small">${t("loading")}</p></div>
      <h3>${t("hh.title")}</h3>
      <div id="building-box"><p class="hint">${t("planner.click_building")}</p></div>
      <p><a href="/app/notice/${p.code}" target="_blank" id="notice-link">网格公示 / notice</a></p>
      <h3>${t("history")}</h3>
      <table class="list" id="unit-history">${history.versions.map((v) => `<tr><td>v${v.version}</td><td>${
        esc((v.valid_from || "").slice(0, 10))}</td><td>${esc(v.reason || "")}</td></tr>`).join("")}</table>
      ${mayEdit() ? `<div class="row"><button id="edit-shape" class="secondary">${t("planner.edit")}</button>
        <button id="move-start" class="secondary">${t("planner.move")}</button></div>` : ""}
      <div id="edit-box"></div>`);
    if (mayEdit()) {
      $("#edit-shape").addEventListener("click", startEdit);
      $("#move-start").addEventListener("click", startMove);
    }
  } catch (exc) {
    fail(exc);
    return;
  }
  await Promise.all([loadQuality(code, token), loadHomes(code, token)]);
}

// --- households per building and the grid's data quality ------------------------------------------

const pct = (share) => `${(share * 100).toFixed(1)}`;

async function loadQuality(code, token) {
  let found;
  try {
    const { data } = await api("/stats/grids", { params: { code_prefix: code } });
    const item = data.items.find((i) => i.grid_code === code);
    found = (item && item.data_quality) || {};
  } catch (exc) {
    found = { error: exc.message || String(exc) };
  }
  if (token !== unitToken) return;
  quality = found;
  renderQuality();
}

function renderQuality() {
  const box = $("#unit-quality");
  if (!box || !quality) return;
  if (quality.error) {
    html(box, `<p class="error" id="dq-error">${esc(t("dq.error", { msg: quality.error }))}</p>`);
    return;
  }
  const q = quality;
  const share = q.recorded_share === null || q.recorded_share === undefined ? t("dq.no_data")
    : t("dq.share_value", { p: pct(q.recorded_share), r: num(q.households_recorded), e: num(q.households_estimated) });
  const rph = q.residents_per_household === null || q.residents_per_household === undefined ? t("dq.no_data")
    : Number(q.residents_per_household).toFixed(2);
  html(box, `<table class="kv">
    <tr><th>${t("dq.recorded_share")}</th><td id="dq-share">${esc(share)}</td></tr>
    <tr><th>${t("dq.residents_per_household")}</th><td id="dq-rph">${esc(rph)}</td></tr>
    <tr><th>${t("dq.unmatched")}</th><td id="dq-unmatched">${num(q.unmatched_addresses)}</td></tr>
  </table>`);
}

function homeStyle(source) {
  const colour = HOME_COLOURS[source] || HOME_COLOURS.estimated;
  return { color: colour, weight: 1, fillColor: colour, fillOpacity: 0.25 };
}

// The selected grid's buildings, clickable: a click shows the building's households.
async function loadHomes(code, token) {
  let buildings;
  try {
    ({ data: buildings } = await api("/buildings", { params: { grid_code: code, limit: 5000 } }));
  } catch (exc) {
    if (token === unitToken) fail(exc);
    return;
  }
  if (token !== unitToken) return;
  clear("homes");
  overlays.homes = L.geoJSON(buildings, geoOptions({
    style: (f) => homeStyle(f.properties.households_source),
    onEachFeature: (f, layer) => {
      const id = f.properties.id ?? f.id;
      tagPath(layer, "building", id);
      layer.on("click", (e) => {
        L.DomEvent.stopPropagation(e);
        showBuilding(id, layer);
      });
    },
  })).addTo(map);
}

async function showBuilding(id, layer) {
  const box = $("#building-box");
  if (!box) return;
  const token = unitToken;
  html(box, `<p>${t("loading")}</p>`);
  let shown;
  try {
    const { data } = await api(`/buildings/${id}/households`);
    shown = { data, layer };
  } catch (exc) {
    shown = { error: exc.message || String(exc), id };
  }
  if (token !== unitToken) return; // another grid was clicked meanwhile
  building = shown;
  renderBuilding();
}

// The reason code and its stored parameters in words, from the i18n table (as gis.households.describe_reason).
function reasonText(code, detail = {}) {
  if (!code) return t("hh.reason.none");
  const key = `hh.reason.${code}`;
  if (t(key) === key) return t("hh.reason.unknown");
  const whole = (n) => { // rounded as Python's format does: an exact half goes to the even neighbour
    const x = Number(n || 0), f = Math.floor(x);
    const r = x - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(x);
    return r.toLocaleString("en-US", { maximumFractionDigits: 0 });
  };
  const vars = { kind: "yes", match: "", tag: "", facility: "", context: "", context_name: "", ...detail };
  vars.area_m2 = whole(detail.area_m2);
  if (vars.context_name) vars.context_name = lang() === "en" ? `(${vars.context_name})` : `（${vars.context_name}）`;
  let s = t(key, vars);
  if (code === "recorded") {
    const { by: who, why } = detail;
    if (who) s += t("hh.reason.recorded_by", { who, why });
    else if (why) s += t("hh.reason.recorded_why", { why });
    if (detail.estimate !== undefined) s += t("hh.reason.recorded_estimate", { n: detail.estimate });
    return s;
  }
  if (code.startsWith("home_") && detail.floors !== undefined) {
    const fromKey = `hh.floors.${detail.floors_from}`;
    const how = t(fromKey) === fromKey ? ""
      : t(fromKey, { height_m: detail.height_m ?? 0, neighbours: detail.neighbours ?? 0 });
    s += t("hh.formula", { area: whole(detail.area_m2), floors: detail.floors, how,
                           share: detail.usable_share ?? 0.75, mean: detail.mean_dwelling_m2 ?? 90 });
  }
  return s;
}

function renderBuilding() {
  const box = $("#building-box");
  if (!box || !building) return;
  if (building.error) {
    html(box, `<p class="error" id="hh-error">${esc(t("hh.load_error", { msg: building.error }))}</p>`);
    return;
  }
  const b = building.data;
  const recorded = b.households_source === "recorded";
  const at = b.recorded_at ? new Date(b.recorded_at).toLocaleString(lang() === "en" ? "en-GB" : "zh-CN") : null;
  html(box, `
    <table class="kv" id="hh-table">
      <tr><th>${t("hh.building", { id: b.building_id })}</th><td id="hh-name">${esc(b.name || "—")}</td></tr>
      <tr><th>${t("households")}</th><td id="hh-count">${num(b.households)}</td></tr>
      <tr><th>${t("hh.source")}</th><td><span id="hh-source" class="badge ${recorded ? "ok" : ""}">${
        t(recorded ? "hh.source.recorded" : "hh.source.estimated")}</span></td></tr>
      <tr><th>${t("hh.basis")}</th><td id="hh-reason">${esc(reasonText(b.reason, b.reason_detail || {}))}</td></tr>
      ${recorded && b.recorded_by ? `<tr><th>${t("hh.recorded_by")}</th><td id="hh-by">${
        esc(b.recorded_by)}</td></tr>` : ""}
      ${recorded && at ? `<tr><th>${t("hh.recorded_at")}</th><td id="hh-at">${esc(at)}</td></tr>` : ""}
      ${recorded && b.recorded_reason ? `<tr><th>${t("hh.recorded_reason")}</th><td id="hh-why">${
        esc(b.recorded_reason)}</td></tr>` : ""}
    </table>
    ${mayEdit() ? `<h3>${t("hh.set")}</h3>
    <div class="row"><label style="flex:0 0 110px">${t("hh.count")}<input id="hh-input" type="number" min="0"
      max="100000" step="1" value="${b.households}"></label>
      <label style="flex:1">${t("reason")}<input id="hh-reason-input" placeholder="${
        esc(t("hh.reason_hint"))}"></label></div>
    <div class="row"><button id="hh-save">${t("hh.save")}</button></div>
    <p id="hh-result" class="small"></p>` : ""}`);
  if (mayEdit()) $("#hh-save").addEventListener("click", saveHouseholds);
}

// The selected grid's households after a recorded count: its row in the panel, its colour and tooltip on the map.
async function refreshUnitHouseholds(code) {
  try {
    const { data: grid } = await api(`/grids/${code}`);
    const households = grid.properties.households;
    const layer = gridFeature(code);
    if (layer) {
      layer.feature.properties.households = households;
      layer.setTooltipContent(`${esc(layer.feature.properties.name)}<br>${t("households")} ${num(households)}`);
    }
    gridLayer.setStyle(gridStyle);
    const cell = $("#unit-households");
    if (cell && selected && selected.code === code) {
      const cls = boundsClass(households, bounds);
      html(cell, `${num(households)} <span class="badge ${cls}">${t("legend." + cls, bounds)}</span>`);
    }
  } catch (exc) {
    fail(exc);
  }
}

async function saveHouseholds() {
  const b = building.data;
  const raw = $("#hh-input").value.trim();
  const households = Number(raw);
  const reason = $("#hh-reason-input").value.trim();
  if (!/^[0-9]+$/.test(raw) || households > 100000) return say(t("hh.count_needed"), { error: true });
  if (!reason) return say(t("planner.reason_needed"), { error: true });
  $("#hh-save").disabled = true;
  try {
    const { data } = await api(`/buildings/${b.building_id}/households`,
      { method: "PUT", body: { households, reason } });
    building = { data, layer: building.layer };
    if (building.layer) building.layer.setStyle(homeStyle(data.households_source));
    renderBuilding();
    $("#hh-result").textContent = t("hh.saved", { n: num(data.households) });
    say(t("hh.saved", { n: num(data.households) }));
    if (selected) await Promise.all([loadQuality(selected.code, unitToken), refreshUnitHouseholds(selected.code)]);
  } catch (exc) {
    const key = `hh.error.${exc.status}`;
    const msg = exc.message || String(exc);
    const text = t(key) === key ? t("hh.error", { msg }) : t(key, { msg });
    say(text, { error: true });
    const out = $("#hh-result");
    if (out) { out.textContent = text; out.classList.add("error"); }
    const button = $("#hh-save");
    if (button) button.disabled = false;
  }
}

// --- suggestions, diff and adoption ---------------------------------------------------------------

async function suggest() {
  const community = $("#community").value;
  const seed = Number($("#seed").value || 0);
  const bar = $("#job-progress > div"), stage = $("#job-stage");
  $("#suggest").disabled = true;
  $("#job-progress").hidden = false;
  bar.style.width = "0%";
  clear("plan"); clear("joined"); clear("moves");
  html($("#plan"), "");
  try {
    const { data: job } = await api("/plans/grid-suggestions", { method: "POST",
      body: { community_code: community, seed, background: true } });
    const done = await waitForJob(api, job.href, (j) => {
      bar.style.width = `${Math.round(100 * j.fraction)}%`;
      stage.textContent = t("planner.running", { stage: j.stage || "" });
    });
    stage.textContent = "";
    await showPlan(done.result.plans[0].plan_id, community);
  } catch (exc) {
    fail(exc);
  } finally {
    $("#suggest").disabled = false;
  }
}

async function showPlan(id, community) {
  const [{ data, headers }, { data: diff }, { data: buildings }] = await Promise.all([
    api(`/plans/${id}`), api(`/plans/${id}/diff/current`),
    api("/buildings", { params: { community_code: community, limit: 5000 } })]);
  plan = { id, version: etagVersion(headers) ?? data.version, data, diff };
  overlays.plan = L.geoJSON(data.geojson, geoOptions({
    style: { color: "#6f42c1", weight: 3, dashArray: "6 4", fill: false },
    onEachFeature: (f, layer) => layer.bindTooltip(`${t("planner.suggested")} ${esc(f.properties.label)}: ${
      num(f.properties.households)}`, { permanent: true, direction: "center", className: "plan-label" }),
  })).addTo(map);
  const moved = new Set(diff.moves.map((m) => m.building_id));
  overlays.moves = L.geoJSON({ type: "FeatureCollection", features: buildings.features.filter((f) => moved.has(f.id)
    || moved.has(f.properties.id)) }, geoOptions({ style: { color: "#d63384", weight: 2, fillColor: "#d63384",
    fillOpacity: 0.8 } })).addTo(map);
  // Land without households joined to a grid across a main road or barrier: drawn, so the planner sees it.
  const joined = (data.metrics.attached_empty_land || []).filter((j) => j.geometry);
  overlays.joined = L.geoJSON({ type: "FeatureCollection", features: joined.map((j) => ({ type: "Feature",
    geometry: j.geometry, properties: j })) }, geoOptions({
    style: { color: "#fd7e14", weight: 2, dashArray: "2 4", fillColor: "#fd7e14", fillOpacity: 0.25 },
    onEachFeature: (f, layer) => layer.bindTooltip(esc(joinedText(f.properties))),
  })).addTo(map);
  map.fitBounds(overlays.plan.getBounds());
  const infeasible = data.metrics.infeasible || [];
  html($("#plan"), `
    <h2 id="plan-title">${t("planner.plan", { id })}</h2>
    <h3>${t("planner.compare")}</h3>
    <table class="list" id="plan-units"><tr><th>${t("planner.suggested")}</th><th class="num">${t("households")}</th>
      <th></th><th>${t("name")}</th></tr>
      ${data.units.map((u) => {
        const m = diff.matches.find((x) => x.a.label === u.label);
        const cls = boundsClass(u.households, bounds);
        return `<tr><td>${esc(u.label)}</td><td class="num">${num(u.households)}</td><td><span class="badge ${cls}">${
          t("legend." + cls, bounds)}</span></td><td>${esc(m ? m.b.label : "—")}</td></tr>`;
      }).join("")}
    </table>
    <p id="plan-moves"><span class="badge" style="background:#d63384;color:#fff">&nbsp;</span> ${
      t("planner.moves", { b: diff.buildings_moved, h: diff.households_moved })}</p>
    ${infeasible.length ? `<h3>${t("planner.infeasible")}</h3><ul class="small">${infeasible.map((i) =>
      `<li>${esc(i.unit)}: ${esc(i.message)}${entrancesText(i)}</li>`).join("")}</ul>` : ""}
    ${joined.length ? `<h3>${t("planner.joined_title")}</h3><ul class="small" id="plan-joined">${joined.map((j) =>
      `<li>${esc(joinedText(j))}</li>`).join("")}</ul>` : ""}
    ${mayEdit() ? `<label>${t("reason")}<input id="adopt-reason"></label>
    ${infeasible.length ? `<label class="small"><input type="checkbox" id="allow-out" style="width:auto"> ${
      t("planner.allow_out")}</label>` : ""}
    <button id="adopt">${t("planner.adopt")}</button>` : ""}`);
  if (mayEdit()) $("#adopt").addEventListener("click", adopt);
}

function joinedText(j) {
  return t(j.across ? "planner.joined" : "planner.joined_unnamed", { unit: j.unit || "—", area: num(Math.round(j.area_m2)),
    across: j.across || "" });
}

function entrancesText(item) {
  const e = item.entrances;
  if (!e || !e.divisible) return "";
  return `<br>${esc(t("planner.entrances", { n: e.parts.length }))} ${e.parts.map((p) =>
    `${esc(p.label)}（${num(p.households)}）`).join("；")}`;
}

async function adopt() {
  const reason = $("#adopt-reason").value.trim();
  if (!reason) return say(t("planner.reason_needed"), { error: true });
  try {
    const allow = $("#allow-out") ? $("#allow-out").checked : false;
    const { data } = await api(`/plans/${plan.id}/adopt`, { method: "POST", headers: { "If-Match": `"${plan.version}"` },
      body: { reason, allow_out_of_range: allow } });
    say(t("planner.adopted", { id: plan.id, n: data.units.length }));
    clear("plan"); clear("joined"); clear("moves");
    html($("#plan"), `<p id="adopted">${t("planner.adopted", { id: plan.id, n: data.units.length })}</p>`);
    await loadUnits();
  } catch (exc) {
    fail(exc);
  }
}

// --- editing: redraw a boundary, move buildings ----------------------------------------------------

function showEditResult(result) {
  clear("findings");
  // The API reports the findings an edit created and those it resolved: show the new problems.
  const findings = (result.findings && result.findings.created) || [];
  overlays.findings = L.layerGroup(findings.filter((f) => f.location).map((f) =>
    L.circleMarker(toMap(f.location[0], f.location[1]), { radius: 9, color: "#dc3545", fillOpacity: 0.6 })
      .bindTooltip(esc(f.message)))).addTo(map);
  return `<table class="list" id="edit-units"><tr><th>${t("code")}</th><th class="num">${t("households")}</th><th></th></tr>
    ${(result.units || []).map((u) => `<tr><td>${esc(u.name || u.code)}</td><td class="num">${
      u.households_before !== null && u.households_before !== u.households ? `${num(u.households_before)} → ` : ""}${
      num(u.households)}</td><td>${u.in_range === false ? '<span class="badge over">!</span>' : ""}</td></tr>`).join("")}
    </table><h3>${t("planner.findings")}</h3><ul id="findings">${findings.length ? findings.map((f) =>
      `<li>${esc(f.message)}</li>`).join("") : `<li>${t("planner.no_findings")}</li>`}</ul>`;
}

function startEdit() {
  clear("edit");
  clear("homes");
  const code = selected.code;
  const layer = L.geoJSON(selected.feature, geoOptions({ style: { color: "#fd7e14", weight: 3 } }))
    .getLayers()[0];
  overlays.edit = layer.addTo(map);
  // Vertices are only draggable when the grid fills the view (a district view puts them on top of each other).
  map.fitBounds(layer.getBounds(), { padding: [30, 30], animate: false });
  layer.pm.enable({ allowSelfIntersection: false });
  html($("#edit-box"), `<label>${t("reason")}<input id="edit-reason"></label><div class="row">
    <button id="edit-save">${t("planner.save_shape")}</button><button id="edit-cancel" class="secondary">${
    t("planner.cancel")}</button></div><div id="edit-result"></div>`);
  $("#edit-cancel").addEventListener("click", () => { clear("edit"); html($("#edit-box"), ""); });
  $("#edit-save").addEventListener("click", async () => {
    const reason = $("#edit-reason").value.trim();
    if (!reason) return say(t("planner.reason_needed"), { error: true });
    const gj = layer.toGeoJSON().geometry;
    const back = (ring) => ring.map(([x, y]) => fromMap(L.latLng(y, x)));
    const geometry = gj.type === "Polygon" ? { type: "Polygon", coordinates: gj.coordinates.map(back) }
      : { type: "MultiPolygon", coordinates: gj.coordinates.map((p) => p.map(back)) };
    try {
      const { data } = await api(`/grids/${code}`, { method: "PATCH", headers: { "If-Match": `"${selected.version}"` },
        body: { geometry, reason } });
      clear("edit");
      html($("#edit-result"), `<p>${t("planner.saved", { v: data.version })}</p>${showEditResult(data)}`);
      await loadUnits();
      selected.version = data.version;
    } catch (exc) {
      fail(exc);
    }
  });
}

async function startMove() {
  clear("pick");
  clear("homes");
  const code = selected.code;
  const community = selected.feature.properties.community_code;
  const [{ data: buildings }, { data: siblings }] = await Promise.all([
    api("/buildings", { params: { grid_code: code, limit: 5000 } }),
    api("/grids", { params: { community_code: community, limit: 500 } })]);
  const chosen = new Set();
  overlays.pick = L.geoJSON(buildings, geoOptions({
    style: { color: "#0d6efd", weight: 1, fillOpacity: 0.3 },
    onEachFeature: (f, layer) => {
      const id = f.properties.id ?? f.id;
      tagPath(layer, "building", id);
      layer.on("click", (e) => {
        L.DomEvent.stopPropagation(e);
        if (chosen.has(id)) chosen.delete(id); else chosen.add(id);
        layer.setStyle({ fillColor: chosen.has(id) ? "#fd7e14" : "#0d6efd", fillOpacity: chosen.has(id) ? 0.9 : 0.3 });
        $("#move-count").textContent = t("planner.selected", { n: chosen.size });
      });
    },
  })).addTo(map);
  if (buildings.features.length) map.fitBounds(overlays.pick.getBounds(), { padding: [30, 30], animate: false });
  const others = siblings.features.filter((f) => f.properties.code !== code);
  html($("#edit-box"), `<p class="hint">${t("planner.move_hint")}</p><p id="move-count">${t("planner.selected", { n: 0 })}</p>
    <label>${t("planner.move_to")}<select id="move-to">${others.map((f) => `<option value="${f.properties.code}">${
      esc(f.properties.name)} (${num(f.properties.households)})</option>`).join("")}</select></label>
    <label>${t("reason")}<input id="move-reason"></label>
    <div class="row"><button id="move-do">${t("planner.move_do")}</button></div><div id="move-result"></div>`);
  $("#move-do").addEventListener("click", async () => {
    const to = $("#move-to").value, reason = $("#move-reason").value.trim();
    if (!reason) return say(t("planner.reason_needed"), { error: true });
    const target = others.find((f) => f.properties.code === to);
    try {
      const { data } = await api(`/grids/${code}/move-buildings`, { method: "POST", body: {
        building_ids: [...chosen], to_grid: to, reason,
        versions: { [code]: selected.version, [to]: target.properties.version } } });
      clear("pick");
      html($("#move-result"), showEditResult(data));
      await loadUnits();
      const mine = (data.units || []).find((u) => u.code === code);
      if (mine) selected.version = mine.version;
    } catch (exc) {
      fail(exc);
    }
  });
}

export async function start(context) {
  ({ me, config } = context);
  bounds = config.grid_bounds;
  $("#view-title").textContent = t("planner.title");
  const { data: districts } = await api("/districts");
  district = districts.items.find((d) => d.code === me.district_code) || districts.items[0];
  map = createMap("map", config, district.bbox);
  legend(map, boundsLegend(bounds));
  html($("#panel"), `
    ${mayEdit() ? `<h2>${t("planner.suggest")}</h2>
    <label>${t("planner.community")}<select id="community"></select></label>
    <div class="row"><label style="flex:1">${t("planner.seed")}<input id="seed" type="number" value="0" min="0"></label>
      <button id="suggest">${t("planner.suggest")}</button></div>
    <div id="job-progress" class="progress" hidden><div></div></div><div id="job-stage" class="small"></div>
    <div id="plan"></div>` : `<select id="community" hidden></select>`}
    <div id="unit"><p class="hint">${t("planner.click_unit")}</p></div>`);
  if (mayEdit()) $("#suggest").addEventListener("click", suggest);
  await loadUnits();
  // The language toggle: the panel's household and data-quality parts are drawn again in the new language.
  return { map, refreshText: () => { renderQuality(); renderBuilding(); } };
}
