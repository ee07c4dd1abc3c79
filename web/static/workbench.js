// The grid leader's workbench (工作台): what waits for them in their grids (grouped by the step they take, with
// dispatch and verification shortcuts), overdue and due-soon cases with 督办/催办 and whatever else the API allows,
// this week's patrols and this month's visits per grid, and the 三率 per grid; every grid row finds the grid on
// the map. Admins see the whole district. Actions go through POST /incidents/{id}/actions with If-Match.
import { api } from "./api.js";
import { lang, t } from "./i18n.js";
import { ACTION_WORDS, word } from "./i18n/workbench.js";
import { createMap, geoOptions, toMap } from "./map.js";
import { ensureReason } from "./reason.js";
import { $, esc, fail, formatTime, html, num, say } from "./ui.js";

const CLOSED = new Set(["rejected", "closed", "evaluated"]);
// What the leader does next, by status: the to-do groups, in the order a leader works through them.
const GROUPS = [
  ["register", ["reported"]],
  ["dispatch", ["registered", "returned"]],
  ["extension", ["extension_requested"]],
  ["verify", ["feedback", "quick_fixed"]],
  ["close", ["verification"]],
  ["escalated", ["escalated", "referred"]],
  ["handling", ["dispatched", "handling", "extended", "parked"]],
];
// The step a to-do group's row button takes (the card then shows every other step the API allows).
const NEXT = { register: "register", dispatch: "dispatch", verify: "verify", close: "close" };
const GRID_STYLE = { color: "#1d3f66", weight: 2, fillColor: "#6ea8fe", fillOpacity: 0.08 };
const GRID_SELECTED = { color: "#d63384", weight: 4, fillColor: "#d63384", fillOpacity: 0.2 };

let map, me, gridLayer, caseLayer;
const state = {
  grids: new Map(), // code → properties
  todo: [], overdue: [], dueSoon: [], details: new Map(), patrols: null, visits: null, visitsError: null,
  due: null, dueGrid: null, rates: null, ratesError: null, patrolsError: null, shortcut: null, openCase: null,
  acting: null, selectedGrid: null, staff: new Map(),
};

const pct = (x) => (x === null || x === undefined ? "—" : t("common.percent", { p: (x * 100).toFixed(1) }));
const status = (code) => word(t, "wb.status.", code);
const action = (code) => word(t, "wb.action.", code);
const gridName = (code) => (state.grids.get(code) || {}).name || code || "—";
const month = () => new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit" })
  .format(new Date()).slice(0, 7);
// A calendar date ("2026-12-07") is a day in Beijing already: shown as it is, not as a UTC midnight.
const day = (value) => (/^\d{4}-\d{2}-\d{2}$/.test(value || "") ? value : formatTime(value));
const hours = (s) => Math.abs(s / 3600).toFixed(1);
const mine = (code) => me.role === "admin" || me.grids.includes(code);
// The field app (F's /app/field) has every step's form with photos; the workbench's card has the leader's steps.
const caseHref = (id) => `/app/field#case=${id}`;

function categoryOf(c) {
  return lang() === "en" && c.category_code ? `${c.subcategory || c.category} (${c.category_code})`
    : (c.subcategory || c.category || "—");
}

// --- data -------------------------------------------------------------------------------------------

async function loadGrids() {
  const params = { district_code: me.district_code, limit: 1000 };
  const { data } = await api("/grids", { params });
  const features = data.features.filter((f) => mine(f.id ?? f.properties.code));
  for (const f of features) state.grids.set(f.properties.code, f.properties);
  gridLayer = L.geoJSON({ type: "FeatureCollection", features }, geoOptions({
    style: () => GRID_STYLE,
    onEachFeature: (f, layer) => {
      layer.bindTooltip(`${esc(f.properties.name)} ${esc(f.properties.code)}`, { className: "grid-label" });
      layer.on("click", () => selectGrid(f.properties.code, { from: "map" }));
    },
  })).addTo(map);
  if (features.length) map.fitBounds(gridLayer.getBounds(), { padding: [10, 10] });
}

async function loadCases() {
  const open = [];
  const codes = me.role === "admin" ? [null] : me.grids;
  for (const code of codes) {
    const { data } = await api("/incidents", { params: { grid_code: code, limit: 500 } });
    open.push(...(data.items || []).filter((c) => !CLOSED.has(c.status)));
  }
  state.todo = open;
  const { data: late } = await api("/incidents/overdue");
  state.overdue = late.overdue || [];
  state.dueSoon = late.due_soon || [];
  // The overdue cases' allowed actions (督办, 催办, …) come with each case; few cases, read once each.
  const ids = [...state.overdue, ...state.dueSoon].map((c) => c.id).slice(0, 40);
  await Promise.all(ids.map((id) => loadDetail(id).catch(() => null)));
}

async function loadDetail(id) {
  const { data, headers } = await api(`/incidents/${id}`);
  const tag = headers.get("ETag");
  data.etag = tag || `"${data.version}"`;
  state.details.set(id, data);
  return data;
}

async function loadPatrols() {
  try {
    const { data } = await api("/patrols/weekly", { params: { district_code: me.district_code } });
    state.patrols = data;
  } catch (exc) {
    state.patrolsError = exc.message;
  }
}

async function loadVisits() {
  try {
    const { data } = await api("/stats/visits", { params: { month: month() } });
    state.visits = data;
  } catch (exc) {
    state.visitsError = exc.message;
  }
}

async function loadRates() {
  try {
    const { data } = await api("/stats/cases", { params: { period: month(), level: "grid" } });
    state.rates = data;
  } catch (exc) {
    state.ratesError = exc.message;
  }
}

async function loadDue(code) {
  state.dueGrid = code;
  try {
    const { data } = await api("/visits/due", { params: { grid: code } });
    state.due = { items: data.items || data.households || (Array.isArray(data) ? data : []) };
  } catch (exc) {
    state.due = { error: exc.message };
  }
  renderVisits();
}

// --- map ----------------------------------------------------------------------------------------------

function drawCases() {
  if (caseLayer) map.removeLayer(caseLayer);
  const late = new Set(state.overdue.map((c) => c.id));
  caseLayer = L.layerGroup(state.todo.filter((c) => c.geometry).map((c) => {
    const [lon, lat] = c.geometry.coordinates;
    return L.circleMarker(toMap(lon, lat), { radius: 7, weight: 2, color: late.has(c.id) ? "#dc3545" : "#fd7e14",
                                             fillOpacity: 0.8 })
      .bindTooltip(`${esc(t("wb.case", { id: c.id }))} · ${esc(categoryOf(c))} · ${esc(status(c.status))}`)
      .on("click", () => openCase(c.id));
  })).addTo(map);
}

// A grid row or grid on the map: zoom to it and mark it (the map element carries the code for the keyboard
// user's screen reader and for tests).
function selectGrid(code, { from = "table" } = {}) {
  state.selectedGrid = code;
  if (gridLayer) {
    gridLayer.eachLayer((layer) => {
      const hit = layer.feature.properties.code === code;
      layer.setStyle(hit ? GRID_SELECTED : GRID_STYLE);
      if (hit) {
        layer.bringToFront();
        if (from !== "map") map.fitBounds(layer.getBounds(), { padding: [30, 30], maxZoom: 17 });
      }
    });
  }
  $("#map").dataset.highlight = code;
  for (const row of document.querySelectorAll("#panel tr[data-grid]")) {
    row.classList.toggle("selected", row.dataset.grid === code);
  }
  const chosen = $("#wb-selected");
  if (chosen) chosen.textContent = `${t("common.grid")}：${gridName(code)} ${code}`;
}

function zoomToCase(c) {
  if (!c || !c.geometry) return;
  const [lon, lat] = c.geometry.coordinates;
  map.setView(toMap(lon, lat), Math.max(map.getZoom(), 17));
}

// --- rendering ------------------------------------------------------------------------------------

function actionButtons(id, actions) {
  if (!actions || !actions.length) return `<span class="small">${t("wb.case.no_actions")}</span>`;
  return actions.map((a) => `<button type="button" class="secondary" data-act="${esc(a)}" data-case="${id}"
    aria-label="${esc(`${action(a)} · ${t("wb.case", { id })}`)}">${esc(action(a))}</button>`).join("");
}

function dueCell(c) {
  const sla = c.sla;
  if (sla && sla.remaining_seconds !== null && sla.remaining_seconds !== undefined) {
    const late = sla.remaining_seconds < 0;
    return `${esc(formatTime(sla.due_at))}<br><span class="badge ${late ? "overdue" : "soon"}">${esc(
      t(late ? "wb.overdue.badge" : "wb.due_soon.badge", { h: hours(sla.remaining_seconds) }))}</span>`;
  }
  if (!c.due_at) return "—";
  const late = c.overdue ?? new Date(c.due_at) < new Date();
  return `${esc(formatTime(c.due_at))}${late ? ` <span class="badge overdue">${t("wb.overdue.kind.overdue")}</span>` : ""}`;
}

function caseButton(c) {
  return `<button type="button" class="link" data-open="${c.id}">${esc(t("wb.case", { id: c.id }))}</button>`;
}

function renderOverdue() {
  const rows = [...state.overdue.map((c) => ["overdue", c]), ...state.dueSoon.map((c) => ["due_soon", c])];
  const body = rows.map(([kind, c]) => {
    const detail = state.details.get(c.id);
    return `<tr data-grid="${esc(c.grid_code)}" data-case-row="${c.id}" data-kind="${kind}">
      <td>${caseButton(c)}<br><span class="small">${esc(categoryOf(c))}</span></td>
      <td>${esc(gridName(c.grid_code))}</td>
      <td>${esc(status(c.status))}<br><span class="small">${esc(word(t, "wb.stage.", c.sla && c.sla.stage))}</span>${
        c.urged ? `<br><span class="badge soon" data-urged="${c.urged}">${esc(t("wb.urged", { n: c.urged }))}</span>` : ""}${
        c.supervised ? `<br><span class="badge overdue" data-supervised="${c.supervised}">${
          esc(t("wb.supervised", { n: c.supervised }))}</span>` : ""}</td>
      <td>${dueCell(c)}</td>
      <td>${actionButtons(c.id, detail ? detail.allowed_actions : [])}</td></tr>`;
  }).join("");
  html($("#wb-overdue"), `<h3 id="wb-overdue-title">${t("wb.overdue")}</h3>${rows.length ? `
    <table class="list" id="overdue-list" aria-labelledby="wb-overdue-title"><thead><tr>
      <th scope="col">${t("wb.col.case")}</th><th scope="col">${t("wb.col.grid")}</th>
      <th scope="col">${t("wb.col.status")}</th><th scope="col">${t("wb.col.due")}</th>
      <th scope="col">${t("wb.col.actions")}</th></tr></thead><tbody>${body}</tbody></table>`
    : `<p class="small" id="overdue-none">${t("wb.overdue.none")}</p>`}`);
}

function renderTodo() {
  const groups = GROUPS.map(([name, statuses]) => [name, state.todo.filter((c) => statuses.includes(c.status))])
    .filter(([, cases]) => cases.length);
  const shortcuts = groups.map(([name, cases]) => `<button type="button" class="secondary" data-shortcut="${name}"
    aria-pressed="${state.shortcut === name}">${t(`wb.group.${name}`)} (${cases.length})</button>`).join("");
  const shown = groups.filter(([name]) => !state.shortcut || state.shortcut === name);
  const tables = shown.map(([name, cases]) => `<table class="list" data-group="${name}">
    <caption>${t(`wb.group.${name}`)}</caption><thead><tr><th scope="col">${t("wb.col.case")}</th>
    <th scope="col">${t("wb.col.grid")}</th><th scope="col">${t("wb.col.status")}</th>
    <th scope="col">${t("wb.col.due")}</th><th scope="col">${t("wb.col.actions")}</th></tr></thead><tbody>${
      cases.map((c) => `<tr data-grid="${esc(c.grid_code)}" data-case-row="${c.id}"><td>${caseButton(c)}<br>
      <span class="small">${esc(categoryOf(c))}</span></td><td>${esc(gridName(c.grid_code))}</td>
      <td>${esc(status(c.status))}</td><td>${dueCell(c)}</td><td>${NEXT[name] ? actionButtons(c.id, [NEXT[name]])
        : caseButton(c)}</td></tr>`).join("")}
    </tbody></table>`).join("");
  html($("#wb-todo"), `<h3>${t("wb.todo")}</h3>${groups.length ? `<p class="small">${t("wb.todo_hint")}</p>
    <div class="shortcuts" role="group" aria-label="${esc(t("wb.todo"))}">${shortcuts}</div>${tables}`
    : `<p class="small">${t("wb.todo.none")}</p>`}`);
}

function renderCase() {
  const box = $("#wb-case");
  const c = state.openCase && state.details.get(state.openCase);
  if (!c) {
    html(box, "");
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const events = (c.events || []).map((e) => `<tr><td>${esc(formatTime(e.at))}</td><td>${esc(action(e.action))}</td>
    <td>${esc(status(e.to_status))}</td><td>${esc(e.note || "")}</td></tr>`).join("");
  const acting = state.acting && state.acting.id === c.id ? actForm(c, state.acting.action) : "";
  html(box, `<div class="case-card" role="region" aria-labelledby="case-title">
    <h3 id="case-title">${esc(t("wb.case.title", { id: c.id, what: categoryOf(c) }))}</h3>
    <table class="kv"><tr><th>${t("wb.col.status")}</th><td id="case-status">${esc(status(c.status))}</td></tr>
      <tr><th>${t("wb.col.grid")}</th><td>${esc(gridName(c.grid_code))}</td></tr>
      <tr><th>${t("wb.case.reported_at")}</th><td>${esc(formatTime(c.reported_at))}</td></tr>
      <tr><th>${t("wb.col.due")}</th><td>${dueCell(c)}</td></tr>
      <tr><th>${t("wb.case.description")}</th><td>${esc(c.description || "—")}</td></tr></table>
    <div class="row" id="case-actions">${actionButtons(c.id, c.allowed_actions)}</div>${acting}
    <details><summary>${t("wb.case.history")} (${(c.events || []).length})</summary>
      <table class="list"><thead><tr><th scope="col">${t("adm.col.at")}</th><th scope="col">${t("adm.col.action")}</th>
      <th scope="col">${t("wb.col.status")}</th><th scope="col">${t("wb.note")}</th></tr></thead><tbody>${events}</tbody>
      </table></details>
    <div class="row"><a href="${caseHref(c.id)}">${t("wb.case.field_page")}</a>
      <button type="button" class="secondary" id="case-close">${t("wb.case.close_card")}</button></div></div>`);
}

function actForm(c, code) {
  let handler = "";
  if (code === "dispatch" || code === "report_in") {
    const staff = state.staff.get(c.grid_code) || [];
    handler = staff.length
      ? `<label>${t("wb.handler")}<select id="act-handler">${staff.map((s) => `<option value="${s.user_id}">${
        esc(s.display_name || s.username)} · ${esc(word(t, "role.", s.role))}</option>`).join("")}</select></label>`
      : `<label>${t("wb.handler_id")}<input id="act-handler" type="number" min="1" inputmode="numeric"></label>`;
  }
  return `<form class="act-form" id="act-form" data-action="${esc(code)}" data-case="${c.id}">
    ${handler}<label><span id="act-note-label">${esc(t("wb.note_for", { action: action(code), id: c.id }))}</span>
    <textarea id="act-note" rows="2" aria-labelledby="act-note-label" placeholder="${esc(t("wb.note_hint"))}"></textarea>
    </label><div class="row"><button type="submit" id="act-submit">${esc(action(code))}</button>
    <button type="button" class="secondary" id="act-cancel">${t("adm.cancel")}</button></div></form>`;
}

function gridRowsFrom(items) {
  return items.filter((r) => mine(r.grid_code || r.code));
}

function renderPatrols() {
  const box = $("#wb-patrols");
  if (state.patrolsError) return html(box, `<h3>${t("wb.patrols")}</h3><p class="error">${esc(state.patrolsError)}</p>`);
  if (!state.patrols) return html(box, `<h3>${t("wb.patrols")}</h3><p>${t("loading")}</p>`);
  const rows = gridRowsFrom(state.patrols.grids || []);
  const patrolled = rows.filter((r) => !r.missed).length;
  const covered = rows.reduce((s, r) => s + (r.households_covered || 0), 0);
  const total = rows.reduce((s, r) => s + (r.households_total || 0), 0);
  html(box, `<h3 id="wb-patrols-title">${t("wb.patrols")}</h3>
    <p id="patrol-week">${esc(t("wb.patrols.week", { week: state.patrols.week, patrolled, grids: rows.length,
                                                      p: total ? ((100 * covered) / total).toFixed(1) : "0.0" }))}</p>
    <table class="list" id="patrol-grids" aria-labelledby="wb-patrols-title"><thead><tr>
      <th scope="col">${t("wb.col.grid")}</th><th scope="col" class="num">${t("wb.col.patrols")}</th>
      <th scope="col" class="num">${t("wb.col.household_share")}</th><th scope="col">${t("wb.col.state")}</th></tr></thead>
    <tbody>${rows.map((r) => `<tr data-grid="${esc(r.grid_code)}" tabindex="0">
      <td>${esc(r.grid_name || gridName(r.grid_code))}</td><td class="num">${num(r.patrols)}</td>
      <td class="num">${pct(r.household_share)}</td><td><span class="badge ${r.missed ? "overdue" : "ok"}">${
        t(r.missed ? "wb.patrols.missed" : "wb.patrols.ok")}</span></td></tr>`).join("")}</tbody></table>`);
}

function visitRow(r) {
  const due = r.households_due ?? r.due ?? 0;
  const visited = r.households_visited ?? r.visited ?? 0;
  const share = r.coverage_share ?? r.visited_share ?? r.share ?? (due ? visited / due : null);
  const walked = r.walked_past ?? r.households_walked_past ?? r.patrol_walked_past ?? r.patrol_households;
  return { code: r.grid_code || r.code, name: r.grid_name || r.name, due, visited, share, walked };
}

function renderVisits() {
  const box = $("#wb-visits");
  if (state.visitsError) {
    return html(box, `<h3>${t("wb.visits")}</h3><p class="error" id="visits-unavailable">${esc(state.visitsError)}</p>`);
  }
  if (!state.visits) return html(box, `<h3>${t("wb.visits")}</h3><p>${t("loading")}</p>`);
  const items = state.visits.grids || state.visits.items || [];
  const rows = gridRowsFrom(items).map(visitRow);
  let due = "";
  if (state.dueGrid) {
    const d = state.due;
    const list = !d ? `<p>${t("loading")}</p>` : d.error ? `<p class="error">${esc(d.error)}</p>`
      : !d.items.length ? `<p class="small">${t("wb.visits.none_due")}</p>`
        : `<table class="list" id="visits-due"><thead><tr><th scope="col">${t("wb.col.household")}</th>
          <th scope="col">${t("wb.col.group")}</th><th scope="col">${t("wb.col.last_visit")}</th>
          <th scope="col">${t("wb.col.due_date")}</th><th scope="col" class="num">${t("wb.col.overdue_days")}</th></tr>
          </thead><tbody>${d.items.map((h) => `<tr><td>${esc(h.head_name || h.name || "—")}</td><td>${esc(word(t,
            "wb.visits.group.", h.group || h.tag || h.group_code))}</td><td>${esc(day(h.last_visit ||
            h.last_visited_at))}</td><td>${esc(day(h.due_date || h.due_at))}</td>
            <td class="num">${num(h.overdue_days)}</td></tr>`).join("")}</tbody></table>`;
    due = `<h3>${esc(t("wb.visits.due"))}: ${esc(gridName(state.dueGrid))}</h3>${list}`;
  }
  html(box, `<h3 id="wb-visits-title">${t("wb.visits")}</h3><p class="small">${t("wb.visits.pick")}</p>
    <table class="list" id="visit-grids" aria-labelledby="wb-visits-title"><thead><tr>
      <th scope="col">${t("wb.col.grid")}</th><th scope="col" class="num">${t("wb.col.households_due")}</th>
      <th scope="col" class="num">${t("wb.col.visited")}</th><th scope="col" class="num">${t("wb.col.coverage")}</th>
      <th scope="col" class="num">${t("wb.col.walked_past")}</th></tr></thead>
    <tbody>${rows.map((r) => `<tr data-grid="${esc(r.code)}" data-visits="${esc(r.code)}" tabindex="0">
      <td>${esc(r.name || gridName(r.code))}</td><td class="num">${num(r.due)}</td><td class="num">${num(r.visited)}</td>
      <td class="num">${pct(r.share)}</td><td class="num">${num(r.walked)}</td></tr>`).join("")}</tbody></table>${due}`);
}

function renderRates() {
  const box = $("#wb-rates");
  if (state.ratesError) return html(box, `<h3>${t("wb.rates")}</h3><p class="error">${esc(state.ratesError)}</p>`);
  if (!state.rates) return html(box, `<h3>${t("wb.rates")}</h3><p>${t("loading")}</p>`);
  const levels = state.rates.levels || {};
  const rows = (levels.grid || []).filter((r) => mine(r.code));
  const line = (r, name, attrs) => `<tr ${attrs}><td>${esc(name)}</td><td class="num">${num(r.reports)}</td>
    <td class="num">${pct(r.response_rate)}</td><td class="num">${pct(r.resolution_rate)}</td>
    <td class="num">${pct(r.on_time_closure_rate)}</td><td class="num">${pct(r.satisfaction_rate)}</td></tr>`;
  const total = me.role === "admin" && levels.total && levels.total[0]
    ? line(levels.total[0], t("wb.rates.total"), 'class="total"') : "";
  html(box, `<h3 id="wb-rates-title">${t("wb.rates")}</h3><p class="small">${t("wb.rates.period")}: ${esc(month())}</p>
    ${rows.length ? `<table class="list" id="rate-grids" aria-labelledby="wb-rates-title"><thead><tr>
      <th scope="col">${t("wb.col.grid")}</th><th scope="col" class="num">${t("wb.col.cases")}</th>
      <th scope="col" class="num">${t("wb.col.response_rate")}</th><th scope="col" class="num">${t("wb.col.resolution_rate")}</th>
      <th scope="col" class="num">${t("wb.col.on_time_rate")}</th><th scope="col" class="num">${
        t("wb.col.satisfaction_rate")}</th></tr></thead>
    <tbody>${rows.map((r) => line(r, gridName(r.code), `data-grid="${esc(r.code)}" tabindex="0"`)).join("")}${total}</tbody>
    </table>` : `<p class="small">${t("wb.rates.none")}</p>`}`);
}

function render() {
  $("#view-title").textContent = t("wb.title");
  $("#wb-heading").textContent = t("wb.title");
  $("#wb-heading + p").textContent = t("wb.map_hint");
  renderCase();
  renderOverdue();
  renderTodo();
  renderPatrols();
  renderVisits();
  renderRates();
  if (state.selectedGrid) selectGrid(state.selectedGrid, { from: "map" });
}

// --- acting -------------------------------------------------------------------------------------------

async function loadStaff(code) {
  if (!code || state.staff.has(code)) return;
  try {
    const { data } = await api(`/grids/${code}/staff`);
    state.staff.set(code, data.items);
  } catch (_) {
    state.staff.set(code, []); // the form then asks for the handler's user id
  }
}

async function openCase(id, { act = null } = {}) {
  try {
    const c = await loadDetail(id);
    state.openCase = id;
    // A step the case no longer allows (someone took it meanwhile) opens the card without the form.
    if (act && !(c.allowed_actions || []).includes(act)) act = null;
    state.acting = act ? { id, action: act } : null;
    if (act === "dispatch" || act === "report_in") await loadStaff(c.grid_code);
    renderCase();
    zoomToCase(c);
    if (c.grid_code) selectGrid(c.grid_code, { from: "map" });
    const focus = act ? $("#act-note") : $("#case-title");
    if (focus) {
      if (!act) focus.tabIndex = -1;
      focus.focus();
    }
  } catch (exc) {
    fail(exc);
  }
}

async function submitAction(form) {
  const id = Number(form.dataset.case);
  const code = form.dataset.action;
  const c = state.details.get(id);
  const body = { action: code };
  const note = $("#act-note").value.trim();
  if (note) body.note = note;
  const handler = $("#act-handler");
  if (handler) {
    const value = Number(handler.value);
    if (!value) return say(t("adm.need", { field: t("wb.handler") }), { error: true });
    body.handler_id = value;
  }
  $("#act-submit").disabled = true;
  try {
    await api(`/incidents/${id}/actions`, { method: "POST", body, headers: { "If-Match": c.etag } });
    state.acting = null;
    await refresh();
    await openCase(id);
    say(t("wb.done", { action: action(code), id })); // once the lists and the card show the new state
  } catch (exc) {
    if (exc.status === 409 || exc.status === 412) {
      await loadDetail(id);
      renderCase();
      say(t("wb.conflict", { id }), { error: true });
    } else {
      say(t("common.error", { msg: exc.message }), { error: true });
      const button = $("#act-submit");
      if (button) button.disabled = false;
    }
  }
}

async function refresh() {
  await loadCases();
  drawCases();
  renderOverdue();
  renderTodo();
  loadRates().then(renderRates);
}

function wire() {
  const panel = $("#panel");
  panel.addEventListener("click", (e) => {
    const act = e.target.closest("[data-act]");
    if (act) return void openCase(Number(act.dataset.case), { act: act.dataset.act });
    const open = e.target.closest("[data-open]");
    if (open) return void openCase(Number(open.dataset.open));
    const shortcut = e.target.closest("[data-shortcut]");
    if (shortcut) {
      state.shortcut = state.shortcut === shortcut.dataset.shortcut ? null : shortcut.dataset.shortcut;
      return void renderTodo();
    }
    if (e.target.closest("#case-close")) {
      state.openCase = null;
      state.acting = null;
      return void renderCase();
    }
    if (e.target.closest("#act-cancel")) {
      state.acting = null;
      return void renderCase();
    }
    const visits = e.target.closest("[data-visits]");
    if (visits) loadDue(visits.dataset.visits);
    const row = e.target.closest("tr[data-grid]");
    if (row && row.dataset.grid && !e.target.closest("button, a")) selectGrid(row.dataset.grid);
  });
  panel.addEventListener("keydown", (e) => {
    const row = e.target.closest("tr[data-grid][tabindex]");
    if (row && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      row.click();
    }
  });
  panel.addEventListener("submit", (e) => {
    if (e.target.id !== "act-form") return;
    e.preventDefault();
    submitAction(e.target);
  });
}

export async function start(context) {
  ({ me } = context);
  document.body.classList.add("wide-panel");
  $("#view-title").textContent = t("wb.title");
  // Case descriptions and the households due a visit are personal records: ask why once, before the first read.
  await ensureReason();
  const { data: districts } = await api("/districts");
  const district = districts.items.find((d) => d.code === me.district_code) || districts.items[0];
  if (!me.district_code) me = { ...me, district_code: district.code };
  map = createMap("map", context.config, district.bbox);
  html($("#panel"), `<h2 id="wb-heading">${t("wb.title")}</h2><p class="small">${t("wb.map_hint")}</p>
    <p class="map-filter" id="wb-selected" role="status"></p>
    <section id="wb-case" hidden aria-live="polite"></section><section id="wb-overdue"></section>
    <section id="wb-todo"></section><section id="wb-patrols"></section><section id="wb-visits"></section>
    <section id="wb-rates"></section>`);
  wire();
  await loadGrids();
  await Promise.all([loadCases(), loadPatrols(), loadVisits(), loadRates()]);
  drawCases();
  render();
  return { map, refreshText: render };
}

// Every action the API may offer has words (the lists above render whatever allowed_actions say).
export const KNOWN_ACTIONS = Object.keys(ACTION_WORDS);
