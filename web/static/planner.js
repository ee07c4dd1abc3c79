// District planner (and admin, viewer): grids coloured by households against the bounds with a district summary,
// a unit's counts, 四至 and history (communities too, through their names on the map or search), grid suggestions
// beside the current grids with their figures and the moving households, the draft plans listed and reopened,
// adoption with a reason, redrawing a boundary and moving buildings to a bordering grid with live counts and
// topology findings. Every code the API sends (statuses, findings, reasons) is worded here from the i18n table,
// and the whole panel is drawn again when the language changes.
import { api, etagVersion } from "./api.js";
import { lang, t } from "./i18n.js";
import { addOverlay, createMap, fromMap, geoOptions, legend, removeOverlay, renderUnitCard, toMap, wordError } from "./map.js";
import { $, BOUNDS_COLOURS, boundsClass, boundsLegend, esc, formatTime, html, num, say, waitForJob } from "./ui.js";

const fail = (exc) => say(wordError(exc), { error: true });

let map, config, me, district, bounds, gridLayer, selected = null, grids = null, communities = null;
const overlays = { plan: null, joined: null, moves: null, findings: null, edit: null, pick: null, homes: null };
let plan = null; // the suggestion on show: {id, version, data, diff}
const mayEdit = () => ["admin", "district_planner"].includes(me.role);
let unitToken = 0; // the latest grid clicked: answers for an earlier click are dropped
let quality = null; // the selected grid's data quality (from /stats/grids), or {error}
let building = null; // the building whose households are on show (GET /buildings/{id}/households), or {error}
let drafts = null; // the draft plans listed, or {error}
let shownUnit = null; // {kind: "grid"|"community", code}: what the unit panel shows, to draw it again
let lastEdit = null; // {box, result}: the last edit's outcome, drawn again on a language change
const HOME_COLOURS = { recorded: "#2b8a3e", estimated: "#8a5a2b" };
const OVERLAY_KEYS = { plan: "plan", joined: "joined", moves: "moves", findings: "findings", homes: "homes" };

function clear(name) {
  if (overlays[name]) {
    map.removeLayer(overlays[name]);
    if (OVERLAY_KEYS[name]) removeOverlay(map, OVERLAY_KEYS[name]);
  }
  overlays[name] = null;
}

// An overlay the planner draws, listed in the map's layer switcher.
function show(name, layer) {
  clear(name);
  overlays[name] = OVERLAY_KEYS[name] ? addOverlay(map, OVERLAY_KEYS[name], layer) : layer.addTo(map);
  return overlays[name];
}

function gridStyle(feature) {
  const cls = boundsClass(feature.properties.households, bounds);
  const isSel = selected && selected.code === feature.properties.code;
  return { color: isSel ? "#000" : "#345", weight: isSel ? 3 : 1, fillColor: BOUNDS_COLOURS[cls], fillOpacity: 0.45 };
}

async function loadUnits() {
  const params = { district_code: district.code, limit: 5000 };
  const [{ data: g }, { data: c }] = await Promise.all([api("/grids", { params }), api("/communities", { params })]);
  grids = g;
  communities = c;
  gridLayer = L.geoJSON(grids, geoOptions({
    style: gridStyle,
    onEachFeature: (f, layer) => {
      layer.bindTooltip(`${esc(f.properties.name)}<br>${t("households")} ${num(f.properties.households)}`);
      layer.on("click", () => showUnit(f.properties.code));
      tagPath(layer, "code", f.properties.code);
    },
  }));
  addOverlay(map, "grids", gridLayer);
  map.wangge.setUnits({ communities, grids });
  const select = $("#community");
  const current = select.value;
  select.innerHTML = communities.features
    .map((f) => `<option value="${f.properties.code}">${esc(f.properties.name)} (${num(f.properties.households)})</option>`)
    .join("");
  if (current) select.value = current;
  renderSummary();
  return grids;
}

// The district's grids against the bounds, counted as the exported planner map counts them.
function summaryCounts() {
  const counts = { below: 0, in: 0, above: 0, n: 0 };
  for (const f of (grids ? grids.features : [])) {
    if (f.properties.level && f.properties.level !== 1) continue;
    const h = f.properties.households;
    counts.n += 1;
    if (h < bounds.min) counts.below += 1; else if (h > bounds.max) counts.above += 1; else counts.in += 1;
  }
  return counts;
}

function renderSummary() {
  const box = $("#district-summary");
  if (!box || !grids) return;
  const c = summaryCounts();
  html(box, `<h2>${t("planner.summary")}</h2><p id="summary-line">${esc(t("planner.summary_line",
    { ...c, min: bounds.min, max: bounds.max }))}</p>`);
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

// A click on a unit's name or a unit found by search: grids open the grid panel, communities their card.
function showAny(code) {
  if (String(code).length === 15) return showUnit(code);
  return showCommunity(code);
}

async function showCommunity(code) {
  const box = $("#unit");
  ++unitToken;
  say("");
  clear("homes");
  clear("pick");
  clear("edit");
  clear("findings");
  lastEdit = null;
  selected = null;
  if (gridLayer) gridLayer.setStyle(gridStyle);
  shownUnit = { kind: "community", code };
  html(box, `<p>${t("loading")}</p>`);
  const card = document.createElement("div");
  card.className = "unit-card";
  card.id = "community-card";
  const done = await renderUnitCard(card, code, { me });
  if (!shownUnit || shownUnit.code !== code) return;
  html(box, "");
  box.appendChild(card);
  if (done) {
    const select = $("#community");
    if (select && [...select.options].some((o) => o.value === code)) select.value = code;
  }
}

async function showUnit(code) {
  const box = $("#unit");
  const token = ++unitToken;
  say("");
  clear("homes");
  clear("pick");
  clear("edit");
  if (!shownUnit || shownUnit.code !== code) { clear("findings"); lastEdit = null; }
  shownUnit = { kind: "grid", code };
  quality = null;
  building = null;
  html(box, `<p>${t("loading")}</p>`);
  try {
    const [{ data: grid, headers }, { data: history }, { data: card }] = await Promise.all([
      api(`/grids/${code}`), api(`/grids/${code}/history`), api(`/units/${code}`)]);
    if (token !== unitToken) return;
    selected = { code, version: etagVersion(headers) ?? grid.properties.version, feature: grid, history, card };
    gridLayer.setStyle(gridStyle);
    renderGridPanel();
  } catch (exc) {
    fail(exc);
    return;
  }
  await Promise.all([loadQuality(code, token), loadHomes(code, token)]);
}

function renderGridPanel() {
  const box = $("#unit");
  if (!selected || !selected.history) return;
  const p = selected.feature.properties;
  const { history, card } = selected;
  const cls = boundsClass(p.households, bounds);
  html(box, `
    <h2 id="unit-name">${esc(p.name)}</h2>
    <table class="kv">
      <tr><th scope="row">${t("code")}</th><td id="unit-code">${p.code}</td></tr>
      ${card.parent_name ? `<tr><th scope="row">${t("map.kind.community")}</th><td><button type="button" class="link"
        id="unit-community" data-code="${card.parent_code}">${esc(card.parent_name)}</button></td></tr>` : ""}
      <tr><th scope="row">${t("households")}</th><td id="unit-households">${num(p.households)} <span class="badge ${cls}">${
        t("legend." + cls, bounds)}</span></td></tr>
      <tr><th scope="row">${t("buildings")}</th><td>${num(p.buildings)}</td></tr>
      <tr><th scope="row">${t("four_limits")}</th><td id="unit-four-limits">${esc(p.four_limits || "—")}</td></tr>
      <tr><th scope="row">${t("version")}</th><td>${p.version}</td></tr>
    </table>
    <h3>${t("map.card.staff")}</h3>
    <table class="list" id="unit-staff"><tr><th scope="col">${t("map.card.duty")}</th><th scope="col">${t("name")}</th>
      <th scope="col">${t("map.card.phone")}</th></tr>${card.staff.length ? card.staff.map((s) => `<tr><td>${
      t("map.duty." + s.duty)}</td><td>${esc(s.name)}</td><td>${esc(s.public_phone || "—")}</td></tr>`).join("")
      : `<tr><td colspan="3">${t("map.card.no_staff")}</td></tr>`}</table>
    <h3>${t("dq.title")}</h3>
    <div id="unit-quality"><p class="small">${t("loading")}</p></div>
    <h3>${t("hh.title")}</h3>
    <div id="building-box"><p class="hint">${t("planner.click_building")}</p></div>
    <p><a href="/app/notice/${p.code}" target="_blank" id="notice-link">${t("planner.notice")}</a></p>
    <h3>${t("history")}</h3>
    <table class="list" id="unit-history">${history.versions.filter((v) => v.code === p.code).map((v) => `<tr><td>v${
      v.version}</td><td>${esc(formatTime(v.valid_from))}</td><td><span class="free-text">${esc(v.reason || "")}</span>${v.plan_id ? ` <span class="small">${
      t("map.card.plan", { id: v.plan_id })}</span>` : ""}</td></tr>`).join("")}</table>
    ${mayEdit() ? `<div class="row"><button id="edit-shape" class="secondary">${t("planner.edit")}</button>
      <button id="move-start" class="secondary">${t("planner.move")}</button></div>` : ""}
    <div id="edit-box"></div>`);
  if (mayEdit()) {
    $("#edit-shape").addEventListener("click", startEdit);
    $("#move-start").addEventListener("click", startMove);
  }
  const up = $("#unit-community");
  if (up) up.addEventListener("click", () => showCommunity(up.dataset.code));
  renderQuality();
  renderBuilding();
  if (lastEdit && lastEdit.code === p.code) {
    html($("#edit-box"), `<div id="${lastEdit.box}">${lastEdit.prefix ? lastEdit.prefix() : ""}${
      showEditResult(lastEdit.result, false)}</div>`);
  }
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
  // Another grid, or a move or redraw begun meanwhile: their own layers stand for the buildings.
  if (token !== unitToken || overlays.pick || overlays.edit) return;
  clear("homes");
  show("homes", L.geoJSON(buildings, geoOptions({
    style: (f) => homeStyle(f.properties.households_source),
    onEachFeature: (f, layer) => {
      const id = f.properties.id ?? f.id;
      tagPath(layer, "building", id);
      layer.on("click", (e) => {
        L.DomEvent.stopPropagation(e);
        showBuilding(id, layer);
      });
    },
  })));
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

// --- suggestions, draft plans, figures and adoption -------------------------------------------------

function clearPlan() {
  clear("plan"); clear("joined"); clear("moves");
  plan = null;
  html($("#plan"), "");
}

async function suggest({ another = false } = {}) {
  const community = $("#community").value;
  if (another) $("#seed").value = String(Number($("#seed").value || 0) + 1);
  const seed = Number($("#seed").value || 0);
  const bar = $("#job-progress > div"), stage = $("#job-stage");
  $("#suggest").disabled = true;
  $("#another").disabled = true;
  $("#job-progress").hidden = false;
  bar.style.width = "0%";
  say("");
  clearPlan();
  try {
    const { data: job } = await api("/plans/grid-suggestions", { method: "POST",
      body: { community_code: community, seed, background: true } });
    const done = await waitForJob(api, job.href, (j) => {
      bar.style.width = `${Math.round(100 * j.fraction)}%`;
      stage.textContent = t("planner.running", { stage: stageText(j.stage) });
    });
    stage.textContent = "";
    $("#job-progress").hidden = true;
    await showPlan(done.result.plans[0].plan_id, community);
    await loadDrafts();
  } catch (exc) {
    fail(exc);
  } finally {
    $("#suggest").disabled = false;
    $("#another").disabled = false;
  }
}

// A job's stage is a code (or a short English phrase from older jobs): worded when the table knows it.
function stageText(stage) {
  if (!stage) return "";
  const key = `job.stage.${stage}`;
  return t(key) === key ? "" : t(key);
}

async function loadDrafts() {
  const box = $("#drafts");
  if (!box) return;
  try {
    const { data } = await api("/plans", { params: { status: "draft", kind: "grid_split", limit: 50 } });
    drafts = data.items.filter((p) => !p.district_code || p.district_code === district.code);
  } catch (exc) {
    drafts = { error: exc.message || String(exc) };
  }
  renderDrafts();
}

function scopeName(code) {
  const f = communities && communities.features.find((x) => x.properties.code === code);
  return f ? f.properties.name : code;
}

function renderDrafts() {
  const box = $("#drafts");
  if (!box || !drafts) return;
  if (drafts.error) {
    html(box, `<p class="error">${esc(drafts.error)}</p>`);
    return;
  }
  html(box, drafts.length ? `<table class="list" id="draft-list"><tr><th scope="col">${t("planner.plan", { id: "" }).trim()}</th>
    <th scope="col">${t("planner.plan_scope")}</th><th scope="col">${t("planner.plan_created")}</th>
    <th scope="col" class="num">${t("planner.plan_in_range")}</th><th></th></tr>${drafts.map((p) => `<tr data-plan="${p.id}">
    <td>${p.id}</td><td>${esc(scopeName(p.scope_code))}</td><td>${esc(formatTime(p.created_at))}</td><td class="num">${
      p.metrics && p.metrics.in_range_share !== undefined ? `${Math.round(100 * p.metrics.in_range_share)}%` : "—"}</td>
    <td><button type="button" class="secondary" data-open="${p.id}" data-scope="${p.scope_code}">${t("planner.open")}</button></td>
    </tr>`).join("")}</table>` : `<p class="small" id="draft-none">${t("planner.plans_none")}</p>`);
  box.querySelectorAll("[data-open]").forEach((b) => b.addEventListener("click", async () => {
    say("");
    clearPlan();
    const select = $("#community");
    if ([...select.options].some((o) => o.value === b.dataset.scope)) select.value = b.dataset.scope;
    try {
      await showPlan(Number(b.dataset.open), b.dataset.scope);
    } catch (exc) {
      fail(exc);
    }
  }));
}

async function showPlan(id, community) {
  const [{ data, headers }, { data: diff }, { data: buildings }] = await Promise.all([
    api(`/plans/${id}`), api(`/plans/${id}/diff/current`),
    api("/buildings", { params: { community_code: community, limit: 5000 } })]);
  clearPlan();
  plan = { id, version: etagVersion(headers) ?? data.version, data, diff };
  show("plan", L.geoJSON(data.geojson, geoOptions({
    style: { color: "#6f42c1", weight: 3, dashArray: "6 4", fill: false },
    onEachFeature: (f, layer) => layer.bindTooltip(`${esc(f.properties.label)}: ${num(f.properties.households)}`,
      { permanent: true, direction: "center", className: "plan-label" }),
  })));
  const moved = new Set(diff.moves.map((m) => m.building_id));
  show("moves", L.geoJSON({ type: "FeatureCollection", features: buildings.features.filter((f) => moved.has(f.id)
    || moved.has(f.properties.id)) }, geoOptions({ style: { color: "#d63384", weight: 2, fillColor: "#d63384",
    fillOpacity: 0.8 } })));
  // Land without households joined to a grid across a main road or barrier: drawn, so the planner sees it.
  const joined = (data.metrics.attached_empty_land || []).filter((j) => j.geometry);
  show("joined", L.geoJSON({ type: "FeatureCollection", features: joined.map((j) => ({ type: "Feature",
    geometry: j.geometry, properties: j })) }, geoOptions({
    style: { color: "#fd7e14", weight: 2, dashArray: "2 4", fillColor: "#fd7e14", fillOpacity: 0.25 },
    onEachFeature: (f, layer) => layer.bindTooltip(esc(joinedText(f.properties))),
  })));
  map.fitBounds(overlays.plan.getBounds());
  renderPlan();
}

const percent = (x) => (x === null || x === undefined ? "—" : `${Math.round(100 * x)}%`);
const fixed = (x, d = 2) => (x === null || x === undefined ? "—" : Number(x).toFixed(d));

function checkSummary(check) {
  const found = Object.entries(check || {}).filter(([, n]) => n > 0);
  if (!found.length) return t("planner.fig.check_ok");
  return found.map(([kind, n]) => t("check.count", { kind: wordOr(`check.kind.${kind}`, kind), n })).join("；");
}

// A code's words, or a general word when the table does not know the code (never the bare code).
function wordOr(key, code, fallback = "check.kind.other") {
  return t(key) === key ? t(fallback, { code }) : t(key);
}

function renderPlan() {
  if (!plan) return;
  const { id, data, diff } = plan;
  const m = data.metrics || {};
  const joined = (m.attached_empty_land || []).filter((j) => j.geometry);
  const infeasible = m.infeasible || [];
  const inRange = data.summary ? `${num(data.summary.in_range)} / ${num(data.summary.units)}` : percent(m.in_range_share);
  // The diff runs from the plan (a) to today's grids (b): a move goes from b's grid to a's.
  const moves = diff.moves.slice().sort((x, y) => (y.households || 0) - (x.households || 0));
  html($("#plan"), `
    <h2 id="plan-title">${t("planner.plan", { id })} <span class="badge">${t("planner.status." + data.status)}</span></h2>
    <p class="small">${esc(scopeName(data.scope_code))} · ${esc(formatTime(data.created_at))}${
      data.parameters && data.parameters.seed !== undefined ? ` · ${t("planner.try_no", { n: data.parameters.seed })}` : ""}</p>
    <h3>${t("planner.figures")}</h3>
    <table class="kv" id="plan-figures">
      <tr><th scope="row">${t("planner.fig.units")}</th><td id="fig-units">${num(m.units)}</td></tr>
      <tr><th scope="row">${t("planner.fig.in_range")}</th><td id="fig-in-range">${inRange}</td></tr>
      <tr><th scope="row">${t("planner.fig.households_range")}</th><td>${num(m.households_min)} / ${num(m.households_max)}</td></tr>
      <tr><th scope="row">${t("planner.fig.compactness")}</th><td id="fig-compactness">${fixed(m.polsby_popper_min)} / ${
        fixed(m.polsby_popper_mean)}</td></tr>
      <tr><th scope="row">${t("planner.fig.crossings")}</th><td id="fig-crossings">${num(m.main_road_crossings ??
        (m.check || {}).across_barrier)}</td></tr>
      <tr><th scope="row">${t("planner.fig.split_homes")}</th><td id="fig-split">${num(m.split_buildings ??
        (m.check || {}).split_building)}</td></tr>
      <tr><th scope="row">${t("planner.fig.on_roads")}</th><td>${percent(m.boundary_on_roads_share)}</td></tr>
      <tr><th scope="row">${t("planner.fig.through_compounds")}</th><td>${t("planner.m", {
        n: num(Math.round(m.boundary_through_compounds_m || 0)) })}</td></tr>
      <tr><th scope="row">${t("planner.fig.check")}</th><td id="fig-check">${esc(checkSummary(m.check))}</td></tr>
    </table>
    <h3>${t("planner.compare")}</h3>
    <table class="list" id="plan-units"><tr><th scope="col">${t("planner.suggested")}</th><th scope="col" class="num">${
      t("households")}</th><th scope="col"></th><th scope="col">${t("name")}</th></tr>
      ${data.units.map((u) => {
        const match = diff.matches.find((x) => x.a.label === u.label);
        const cls = boundsClass(u.households, bounds);
        return `<tr><td>${esc(u.label)}</td><td class="num">${num(u.households)}</td><td><span class="badge ${cls}">${
          t("legend." + cls, bounds)}</span></td><td>${esc(match ? match.b.label : "—")}</td></tr>`;
      }).join("")}
    </table>
    <p id="plan-moves"><span class="badge" style="background:#d63384;color:#fff">&nbsp;</span> ${
      t("planner.moves", { b: diff.buildings_moved, h: diff.households_moved })}</p>
    <h3>${t("planner.moves_table")}</h3>
    ${moves.length ? `<table class="list" id="plan-move-table"><tr><th scope="col">${t("planner.move_building")}</th>
      <th scope="col" class="num">${t("households")}</th><th scope="col">${t("planner.move_from")}</th><th scope="col">${
      t("planner.move_to_col")}</th></tr>${moves.map((mv) => `<tr data-building="${mv.building_id}"><td>${
      esc(mv.name || mv.address || t("hh.building", { id: mv.building_id }))}</td><td class="num">${num(mv.households)}</td>
      <td>${esc(mv.to ? mv.to.label : "—")}</td><td>${esc(mv.from ? mv.from.label : "—")}</td></tr>`).join("")}</table>`
      : `<p class="small">${t("planner.moves_none")}</p>`}
    ${infeasible.length ? `<h3>${t("planner.infeasible")}</h3><ul class="small" id="plan-infeasible">${infeasible.map((i) =>
      `<li data-reason="${esc(i.reason || "")}">${esc(i.unit ? `${i.unit}：` : "")}${esc(infeasibleText(i))}${
      entrancesText(i)}</li>`).join("")}</ul>` : ""}
    ${joined.length ? `<h3>${t("planner.joined_title")}</h3><ul class="small" id="plan-joined">${joined.map((j) =>
      `<li>${esc(joinedText(j))}</li>`).join("")}</ul>` : ""}
    ${mayEdit() && data.status === "draft" ? `<label>${t("reason")}<input id="adopt-reason"></label>
    ${infeasible.length || (data.summary && data.summary.out_of_range) ? `<label class="small"><input type="checkbox"
      id="allow-out" style="width:auto"> ${t("planner.allow_out")}</label>` : ""}
    <button id="adopt">${t("planner.adopt")}</button>` : ""}`);
  if ($("#adopt")) $("#adopt").addEventListener("click", adopt);
}

// Why an area cannot be divided within the bounds, from the engine's reason code and figures.
function infeasibleText(item) {
  const names = item.neighbours || [];
  const where = names.length ? t("infeasible.where", { names: names.join("、") }) : t("infeasible.where_unnamed");
  const vars = { where, n: num(item.households), min: bounds.min, max: bounds.max };
  // An exact search either proved no connected split exists or ran out of room: say which.
  const key = item.reason === "no_contiguous_split" && !item.proven ? "infeasible.no_contiguous_split_unproven"
    : `infeasible.${item.reason}`;
  const text = t(key) === key ? t("infeasible.other", vars) : t(key, vars);
  const opts = {
    building_too_large: [t("infeasible.opt.allow_one", vars), t("infeasible.opt.record")],
    below_minimum: [t("infeasible.opt.allow_one", vars)],
    no_contiguous_split: [t("infeasible.opt.accept"), t("infeasible.opt.split")],
    between_bounds: [t("infeasible.opt.allow_one", vars), t("infeasible.opt.allow_two",
      { n: num(Math.floor((item.households || 0) / 2)) })],
  }[item.reason] || [];
  opts.push(...names.map((name) => t("infeasible.opt.cross", { name })));
  return opts.length ? `${text}。${t("infeasible.options", { list: opts.join("；") })}` : text;
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
    const id = plan.id;
    clearPlan();
    adopted = { id, n: data.units.length };
    say(t("planner.adopted", adopted));
    html($("#plan"), `<p id="adopted">${t("planner.adopted", adopted)}</p>`);
    await loadUnits();
    await loadDrafts();
  } catch (exc) {
    fail(exc);
  }
}
let adopted = null;

// --- editing: redraw a boundary, move buildings ----------------------------------------------------

// A finding of the boundary check in words: its kind, the units and the area it concerns.
function findingText(f) {
  const units = (f.units || []).map(unitName).join("、") || "—";
  const area = f.area_m2 ? t("check.area", { a: num(Math.round(f.area_m2)) }) : "";
  const key = `check.${f.kind}`;
  return t(t(key) === key ? "check.other" : key, { units, parent: unitName(f.parent_code || ""), area });
}

function unitName(code) {
  const all = [...(grids ? grids.features : []), ...(communities ? communities.features : [])];
  const f = all.find((x) => x.properties.code === code);
  return f ? `${f.properties.name}` : code;
}

function showEditResult(result, draw = true) {
  // The API reports the findings an edit created and those it resolved: show the new problems.
  const findings = (result.findings && result.findings.created) || [];
  if (draw) {
    show("findings", L.layerGroup(findings.filter((f) => f.location).map((f) =>
      L.circleMarker(toMap(f.location[0], f.location[1]), { radius: 9, color: "#dc3545", fillOpacity: 0.6 })
        .bindTooltip(esc(findingText(f))))));
  }
  return `<table class="list" id="edit-units"><tr><th scope="col">${t("code")}</th><th scope="col" class="num">${
    t("households")}</th><th scope="col"></th></tr>
    ${(result.units || []).map((u) => `<tr><td>${esc(u.name || u.code)}</td><td class="num">${
      u.households_before !== null && u.households_before !== u.households ? `${num(u.households_before)} → ` : ""}${
      num(u.households)}</td><td>${u.in_range === false ? `<span class="badge over">${t("edit.out_of_range")}</span>`
      : ""}</td></tr>`).join("")}
    </table><h3>${t("planner.findings")}</h3><ul id="findings">${findings.length ? findings.map((f) =>
      `<li data-kind="${esc(f.kind)}">${esc(findingText(f))}</li>`).join("") : `<li>${t("planner.no_findings")}</li>`}</ul>`;
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
      lastEdit = { code, box: "edit-result", result: data, prefix: () => `<p>${t("planner.saved", { v: data.version })}</p>` };
      html($("#edit-result"), `${lastEdit.prefix()}${showEditResult(data)}`);
      await loadUnits();
      selected.version = data.version;
    } catch (exc) {
      fail(exc);
    }
  });
}

// Whether two grids share a stretch of boundary (as the API's move requires; a corner touch is not enough):
// at least two vertices of one lie within about a metre of the other's outline.
function borders(a, b) {
  const rings = (g) => (g.type === "Polygon" ? g.coordinates : g.coordinates.flat());
  const ra = rings(a.geometry), rb = rings(b.geometry);
  const lat = (a.geometry.type === "Polygon" ? a.geometry.coordinates[0][0] : a.geometry.coordinates[0][0][0])[1];
  const kx = Math.cos(lat * Math.PI / 180) * 111320, ky = 110540, tol = 1.0;
  const near = (p, ringsOf) => ringsOf.some((ring) => ring.some((q, i) => {
    if (i === 0) return false;
    const [x1, y1] = [ring[i - 1][0] * kx, ring[i - 1][1] * ky], [x2, y2] = [q[0] * kx, q[1] * ky];
    const [px, py] = [p[0] * kx, p[1] * ky];
    const dx = x2 - x1, dy = y2 - y1, len = dx * dx + dy * dy;
    const k = len ? Math.max(0, Math.min(1, ((px - x1) * dx + (py - y1) * dy) / len)) : 0;
    return Math.hypot(px - (x1 + k * dx), py - (y1 + k * dy)) <= tol;
  }));
  let hits = 0;
  for (const ring of rb) for (const p of ring) if (near(p, ra) && ++hits >= 2) return true;
  hits = 0;
  for (const ring of ra) for (const p of ring) if (near(p, rb) && ++hits >= 2) return true;
  return false;
}

async function startMove() {
  clear("pick");
  clear("homes");
  const code = selected.code;
  const community = selected.feature.properties.community_code;
  const [{ data: buildings }, { data: siblings }] = await Promise.all([
    api("/buildings", { params: { grid_code: code, limit: 5000 } }),
    api("/grids", { params: { community_code: community, limit: 500 } })]);
  clear("homes"); // loaded for the grid meanwhile: the picking layer stands for them now
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
  const others = siblings.features.filter((f) => f.properties.code !== code && borders(selected.feature, f));
  html($("#edit-box"), `<p class="hint">${t("planner.move_hint")}</p><p id="move-count">${t("planner.selected", { n: 0 })}</p>
    <p class="small" id="move-neighbours">${t(others.length ? "planner.neighbours_only" : "planner.no_neighbours")}</p>
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
      lastEdit = { code, box: "move-result", result: data };
      html($("#move-result"), showEditResult(data));
      await loadUnits();
      const mine = (data.units || []).find((u) => u.code === code);
      if (mine) selected.version = mine.version;
    } catch (exc) {
      fail(exc);
    }
  });
}

// Words of the panel's fixed parts: data-t names the i18n key, drawn again on the language toggle.
function labelPanel() {
  for (const el of document.querySelectorAll("#panel [data-t]")) el.textContent = t(el.dataset.t);
}

function refreshText() {
  $("#view-title").textContent = t("planner.title");
  labelPanel();
  renderSummary();
  renderDrafts();
  renderPlan();
  if (adopted && !plan && $("#adopted")) $("#adopted").textContent = t("planner.adopted", adopted);
  if (gridLayer) {
    gridLayer.eachLayer((layer) => layer.setTooltipContent(`${esc(layer.feature.properties.name)}<br>${t("households")} ${
      num(layer.feature.properties.households)}`));
  }
  if (shownUnit && shownUnit.kind === "grid") renderGridPanel();
  else if (shownUnit && shownUnit.kind === "community") {
    const card = $("#community-card");
    if (card && card.redraw) card.redraw();
  } else if ($("#unit .hint")) $("#unit .hint").textContent = t("planner.click_unit");
  if (!shownUnit) return;
  renderQuality();
  renderBuilding();
}

export async function start(context) {
  ({ me, config } = context);
  bounds = config.grid_bounds;
  $("#view-title").textContent = t("planner.title");
  const { data: districts } = await api("/districts");
  district = districts.items.find((d) => d.code === me.district_code) || districts.items[0];
  map = createMap("map", config, district.bbox, { units: false, me, onUnit: showAny });
  legend(map, () => boundsLegend(bounds));
  html($("#panel"), `
    <div id="district-summary"></div>
    ${mayEdit() ? `<h2 data-t="planner.suggest"></h2>
    <label><span data-t="planner.community"></span><select id="community"></select></label>
    <div class="row"><label style="flex:1"><span data-t="planner.try_label"></span>
      <input id="seed" type="number" value="0" min="0"></label></div>
    <div class="row"><button id="suggest" data-t="planner.suggest"></button>
      <button id="another" class="secondary" data-t="planner.another_try"></button></div>
    <p class="small" data-t="planner.try_hint"></p>
    <div id="job-progress" class="progress" hidden><div></div></div><div id="job-stage" class="small"></div>`
    : `<select id="community" hidden></select>`}
    <div id="plan"></div>
    <h2 data-t="planner.plans"></h2>
    <div id="drafts"><p class="small" data-t="loading"></p></div>
    <div id="unit"><p class="hint">${t("planner.click_unit")}</p></div>`);
  labelPanel();
  if (mayEdit()) {
    $("#suggest").addEventListener("click", () => suggest());
    $("#another").addEventListener("click", () => suggest({ another: true }));
    // A new community or try: the plan on show no longer answers it.
    $("#community").addEventListener("change", () => { say(""); clearPlan(); });
  }
  await loadUnits();
  await loadDrafts();
  return { map, refreshText };
}
