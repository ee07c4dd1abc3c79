// Admin pages: users with their roles and grids (GET/POST/PATCH /users, PUT /users/{id}/grids), and the audit
// log with filters (GET /audit). Every change goes through the API, which writes its own audit row; edits send
// the version read (If-Match), so a change made meanwhile by someone else is refused, not overwritten.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { word } from "./i18n/workbench.js";
import { $, esc, formatTime, html, say } from "./ui.js";

// gis/roles.py ROLES, in its order (tests/web/test_admin.py checks that the two agree).
export const ROLE_CODES = ["admin", "district_planner", "facility_planner", "grid_leader", "grid_worker", "viewer",
                           "supervisor", "department_staff", "street_officer", "community_officer", "unit_contact"];
const GRID_ROLES = new Set(["grid_leader", "grid_worker"]);
const AUDIT_PAGE = 50;
export const AUDIT_ENTITIES = ["app_user", "resident", "household", "incident", "incident_photo", "patrol", "visit",
                               "plan", "building", "facility", "party_org", "grid_contact", "community_code",
                               "department", "need", "volunteer", "ledger_resource", "ledger_project"];

let me, view;
const state = { users: [], grids: [], editing: null, assigning: null, audit: [], auditFilters: {}, auditMore: false,
                gridFilter: "" };

const role = (code) => word(t, "role.", code);
const need = (field) => say(t("adm.need", { field }), { error: true });

async function loadUsers() {
  const { data } = await api("/users");
  state.users = data;
}

async function loadGrids() {
  const { data } = await api("/grids", { params: { district_code: me.district_code, limit: 1000 } });
  state.grids = data.features.map((f) => f.properties).sort((a, b) => a.code.localeCompare(b.code));
}

// --- users --------------------------------------------------------------------------------------------

function roleOptions(selected) {
  return ROLE_CODES.map((code) => `<option value="${code}"${code === selected ? " selected" : ""}>${esc(role(code))}</option>`)
    .join("");
}

function gridPicker(id, chosen) {
  const filter = state.gridFilter.trim().toLowerCase();
  const rows = state.grids.filter((g) => chosen.has(g.code) || !filter || g.code.includes(filter)
    || (g.name || "").toLowerCase().includes(filter));
  return `<label>${t("adm.grid_filter")}<input type="search" id="${id}-filter" value="${esc(state.gridFilter)}"
      autocomplete="off"></label>
    <div class="grid-picker" id="${id}" role="group" aria-label="${esc(t("adm.col.grids"))}">${rows.map((g) => `<label>
      <input type="checkbox" value="${esc(g.code)}"${chosen.has(g.code) ? " checked" : ""}> ${esc(g.name)}
      <span class="small">${esc(g.code)}</span></label>`).join("")}</div>`;
}

function chosenGrids(id) {
  return [...document.querySelectorAll(`#${id} input:checked`)].map((i) => i.value);
}

function usersTable() {
  return `<table class="list" id="user-list"><caption>${t("adm.users")}</caption><thead><tr>
    <th scope="col">${t("adm.col.username")}</th><th scope="col">${t("adm.col.display_name")}</th>
    <th scope="col">${t("adm.col.role")}</th><th scope="col">${t("adm.col.grids")}</th>
    <th scope="col">${t("adm.col.active")}</th><th scope="col">${t("adm.col.created")}</th>
    <th scope="col">${t("adm.col.edit")}</th></tr></thead><tbody>${state.users.map((u) => `<tr data-user="${u.id}">
      <td>${esc(u.username)}</td><td>${esc(u.display_name || "")}</td><td>${esc(role(u.role))}</td>
      <td>${u.grids.length ? esc(u.grids.map((code) => (state.grids.find((g) => g.code === code) || {}).name || code)
        .join("、")) : "—"}</td>
      <td>${t(u.is_active ? "common.yes" : "common.no")}</td><td>${esc(formatTime(u.created_at))}</td>
      <td><button type="button" class="secondary" data-edit="${u.id}" aria-label="${esc(t("adm.edit", {
        name: u.username }))}">${t("adm.edit_button")}</button>${GRID_ROLES.has(u.role) ? ` <button type="button"
        class="secondary" data-assign="${u.id}" aria-label="${esc(t("adm.grids_for", { name: u.username }))}">${
        t("adm.col.grids")}</button>` : ""}</td></tr>`).join("")}</tbody></table>`;
}

function newUserForm() {
  return `<details id="new-user-box"${state.newOpen ? " open" : ""}><summary>${t("adm.new")}</summary>
    <form id="new-user" class="filters" autocomplete="off">
      <label>${t("adm.col.username")}<input id="new-username" name="username" required maxlength="100"></label>
      <label>${t("adm.col.display_name")}<input id="new-display-name" name="display_name"></label>
      <label>${t("adm.col.role")}<select id="new-role" name="role">${roleOptions("grid_worker")}</select></label>
      <label>${t("adm.password")}<input id="new-password" name="password" type="password" required
        autocomplete="new-password"></label>
      <label>${t("adm.phone")}<input id="new-phone" name="phone" inputmode="tel"></label>
    </form>
    <div id="new-grids-box">${gridPicker("new-grids", new Set(state.newGrids || []))}</div>
    <div class="row"><button type="submit" form="new-user" id="new-create">${t("adm.create")}</button></div></details>`;
}

function editForm() {
  const u = state.users.find((x) => x.id === state.editing);
  if (!u) return "";
  return `<form id="edit-user" class="case-card" data-user="${u.id}" aria-labelledby="edit-title">
    <h3 id="edit-title">${esc(t("adm.edit", { name: u.username }))}</h3>
    <label>${t("adm.col.display_name")}<input id="edit-display-name" value="${esc(u.display_name || "")}"></label>
    <label>${t("adm.col.role")}<select id="edit-role">${roleOptions(u.role)}</select></label>
    <label>${t("adm.phone")}<input id="edit-phone" inputmode="tel"></label>
    <label>${t("adm.password_new")}<input id="edit-password" type="password" autocomplete="new-password"></label>
    <label class="row"><input type="checkbox" id="edit-active" style="width:auto"${u.is_active ? " checked" : ""}>
      ${t("adm.active")}</label>
    <div class="row"><button type="submit" id="edit-save">${t("adm.save")}</button>
      <button type="button" class="secondary" data-cancel>${t("adm.cancel")}</button></div></form>`;
}

function assignForm() {
  const u = state.users.find((x) => x.id === state.assigning);
  if (!u) return "";
  return `<form id="assign-grids" class="case-card" data-user="${u.id}" aria-labelledby="assign-title">
    <h3 id="assign-title">${esc(t("adm.grids_for", { name: u.display_name || u.username }))}</h3>
    ${gridPicker("assign-picker", new Set(state.assignChosen || u.grids))}
    <div class="row"><button type="submit" id="assign-save">${t("adm.grids_save")}</button>
      <button type="button" class="secondary" data-cancel>${t("adm.cancel")}</button></div></form>`;
}

function renderUsers() {
  $("#view-title").textContent = t("adm.users");
  html($("#panel"), `<h2 id="admin-heading">${t("adm.users")}</h2>${newUserForm()}<div id="user-forms">${
    editForm()}${assignForm()}</div>${usersTable()}`);
  toggleNewGrids();
}

function toggleNewGrids() {
  const box = $("#new-grids-box");
  if (box) box.hidden = !GRID_ROLES.has($("#new-role").value);
}

async function createUser() {
  const username = $("#new-username").value.trim();
  const password = $("#new-password").value;
  if (!username) return need(t("adm.col.username"));
  if (!password) return need(t("adm.password"));
  const body = { username, password, role: $("#new-role").value, district_code: me.district_code || undefined,
                 display_name: $("#new-display-name").value.trim() || undefined,
                 phone: $("#new-phone").value.trim() || undefined,
                 grids: GRID_ROLES.has($("#new-role").value) ? chosenGrids("new-grids") : [] };
  try {
    await api("/users", { method: "POST", body });
    state.newOpen = false;
    state.newGrids = [];
    await loadUsers();
    renderUsers();
    say(t("adm.created", { name: username }));
  } catch (exc) {
    say(t("common.error", { msg: exc.message }), { error: true });
  }
}

async function saveUser(id) {
  const u = state.users.find((x) => x.id === id);
  // Only what changed: the audit row then names exactly the fields the admin touched.
  const form = { display_name: $("#edit-display-name").value.trim(), role: $("#edit-role").value,
                 is_active: $("#edit-active").checked };
  const changes = Object.fromEntries(Object.entries(form).filter(([key, value]) => value !== (u[key] ?? "")));
  const phone = $("#edit-phone").value.trim();
  if (phone) changes.phone = phone;
  const password = $("#edit-password").value;
  if (password) changes.password = password;
  try {
    await api(`/users/${id}`, { method: "PATCH", body: changes, headers: { "If-Match": `"${u.version}"` } });
    state.editing = null;
    await loadUsers();
    renderUsers();
    say(t("adm.saved", { name: u.username }));
  } catch (exc) {
    if (exc.status === 409 || exc.status === 412) {
      await loadUsers();
      renderUsers();
      say(t("adm.error.conflict"), { error: true });
    } else {
      say(t("common.error", { msg: exc.message }), { error: true });
    }
  }
}

async function assignGrids(id) {
  const u = state.users.find((x) => x.id === id);
  const grids = chosenGrids("assign-picker");
  try {
    await api(`/users/${id}/grids`, { method: "PUT", body: { grids } });
    state.assigning = null;
    state.assignChosen = null;
    await loadUsers();
    renderUsers();
    say(t("adm.grids_saved", { name: u.display_name || u.username, n: grids.length }));
  } catch (exc) {
    say(t("common.error", { msg: exc.message }), { error: true });
  }
}

// --- audit log ------------------------------------------------------------------------------------------

function auditFilters() {
  const f = state.auditFilters;
  const users = state.users.map((u) => `<option value="${u.id}"${String(u.id) === f.user_id ? " selected" : ""}>${
    esc(u.display_name || u.username)} (${esc(u.username)})</option>`).join("");
  const entities = AUDIT_ENTITIES.map((e) => `<option value="${e}"${e === f.entity ? " selected" : ""}>${
    esc(word(t, "adm.audit.entity.", e))}</option>`).join("");
  return `<form id="audit-filters" class="filters">
    <label>${t("adm.audit.user")}<select id="audit-user"><option value="">${t("common.all")}</option>${users}</select></label>
    <label>${t("adm.audit.entity")}<select id="audit-entity"><option value="">${t("common.all")}</option>${entities}</select>
    </label>
    <label>${t("adm.audit.entity_id")}<input id="audit-entity-id" value="${esc(f.entity_id || "")}"></label>
    <label>${t("adm.audit.since")}<input id="audit-since" type="date" value="${esc(f.since || "")}"></label>
    <div><button type="submit" id="audit-apply">${t("adm.audit.filter")}</button></div></form>`;
}

// What an entry's detail says, in words: the grids assigned, the fields changed, the role given, how many read.
function auditDetail(detail) {
  if (!detail || typeof detail !== "object") return "";
  const parts = [];
  if (Array.isArray(detail.grids)) {
    parts.push(t("adm.detail.grids", { grids: detail.grids.map((code) => (state.grids.find((g) => g.code === code)
      || {}).name || code).join("、") || t("common.none") }));
  }
  if (detail.role) parts.push(t("adm.detail.role", { role: role(detail.role) }));
  if (Array.isArray(detail.fields) && !Array.isArray(detail.ids)) {
    parts.push(t("adm.detail.fields", { fields: detail.fields.map((f) => word(t, "adm.field.", f)).join("、") }));
  }
  if (Array.isArray(detail.ids)) parts.push(t("adm.detail.ids", { n: detail.ids.length }));
  return parts.join("；");
}

function auditTable() {
  if (!state.audit.length) return `<p id="audit-none">${t("adm.audit.none")}</p>`;
  return `<table class="list" id="audit-list"><caption>${t("adm.audit")}</caption><thead><tr>
    <th scope="col">${t("adm.col.at")}</th><th scope="col">${t("adm.audit.user")}</th>
    <th scope="col">${t("adm.col.action")}</th><th scope="col">${t("adm.col.entity")}</th>
    <th scope="col">${t("adm.col.detail")}</th><th scope="col">${t("adm.col.reason")}</th>
    <th scope="col">${t("adm.col.ip")}</th></tr></thead>
    <tbody>${state.audit.map((r) => `<tr data-audit="${r.id}" data-entity="${esc(r.entity)}"><td>${
      esc(formatTime(r.at, { seconds: true }))}</td><td>${esc(r.username || "—")}</td>
      <td>${esc(word(t, "adm.audit.action.", r.action))}</td>
      <td>${esc(word(t, "adm.audit.entity.", r.entity))}${r.entity_id ? ` ${esc(r.entity_id)}` : ""}</td>
      <td>${esc(auditDetail(r.detail))}</td><td>${esc(r.reason || "")}</td><td>${esc(r.client_ip || "")}</td></tr>`)
      .join("")}</tbody></table>
    ${state.auditMore ? `<button type="button" class="secondary" id="audit-more">${t("adm.audit.more")}</button>` : ""}`;
}

function renderAudit() {
  $("#view-title").textContent = t("adm.audit");
  html($("#panel"), `<h2 id="admin-heading">${t("adm.audit")}</h2>${auditFilters()}<div id="audit-rows">${
    auditTable()}</div>`);
}

async function loadAudit({ more = false } = {}) {
  const f = state.auditFilters;
  // The date picked is a Beijing day: from its midnight in Asia/Shanghai.
  const params = { user_id: f.user_id, entity: f.entity, entity_id: f.entity_id,
                   since: f.since ? `${f.since}T00:00:00+08:00` : undefined, limit: AUDIT_PAGE,
                   offset: more ? state.audit.length : 0 };
  try {
    const { data } = await api("/audit", { params });
    state.audit = more ? [...state.audit, ...data.items] : data.items;
    state.auditMore = data.items.length === AUDIT_PAGE;
    html($("#audit-rows"), auditTable());
  } catch (exc) {
    say(t("common.error", { msg: exc.message }), { error: true });
  }
}

// --- wiring -------------------------------------------------------------------------------------------

function render() {
  if (view === "audit") {
    renderAudit();
  } else {
    renderUsers();
  }
}

function wire() {
  const panel = $("#panel");
  panel.addEventListener("click", (e) => {
    const edit = e.target.closest("[data-edit]");
    if (edit) {
      state.editing = Number(edit.dataset.edit);
      state.assigning = null;
      renderUsers();
      $("#edit-display-name").focus();
      return;
    }
    const assign = e.target.closest("[data-assign]");
    if (assign) {
      state.assigning = Number(assign.dataset.assign);
      state.assignChosen = null;
      state.editing = null;
      state.gridFilter = "";
      renderUsers();
      $("#assign-picker-filter").focus();
      return;
    }
    if (e.target.closest("[data-cancel]")) {
      state.editing = null;
      state.assigning = null;
      renderUsers();
      return;
    }
    if (e.target.closest("#audit-more")) loadAudit({ more: true });
  });
  panel.addEventListener("toggle", (e) => {
    if (e.target.id === "new-user-box") state.newOpen = e.target.open;
  }, true);
  panel.addEventListener("change", (e) => {
    if (e.target.id === "new-role") toggleNewGrids();
    // Keep the ticks across re-renders of the filtered list.
    if (e.target.closest("#new-grids")) state.newGrids = chosenGrids("new-grids");
    if (e.target.closest("#assign-picker")) state.assignChosen = chosenGrids("assign-picker");
  });
  panel.addEventListener("input", (e) => {
    const id = e.target.id;
    if (id !== "new-grids-filter" && id !== "assign-picker-filter") return;
    state.gridFilter = e.target.value;
    const picker = id === "new-grids-filter" ? "new-grids" : "assign-picker";
    const chosen = new Set(picker === "new-grids" ? state.newGrids || [] : state.assignChosen
      || state.users.find((u) => u.id === state.assigning).grids);
    const box = $(`#${picker}`);
    const fresh = document.createElement("div");
    fresh.innerHTML = gridPicker(picker, chosen);
    box.replaceWith(fresh.querySelector(".grid-picker"));
  });
  panel.addEventListener("submit", (e) => {
    e.preventDefault();
    if (e.target.id === "new-user") createUser();
    else if (e.target.id === "edit-user") saveUser(Number(e.target.dataset.user));
    else if (e.target.id === "assign-grids") assignGrids(Number(e.target.dataset.user));
    else if (e.target.id === "audit-filters") {
      state.auditFilters = { user_id: $("#audit-user").value, entity: $("#audit-entity").value,
                             entity_id: $("#audit-entity-id").value.trim(), since: $("#audit-since").value };
      loadAudit();
    }
  });
}

export async function start(context) {
  ({ me, view } = context);
  document.body.classList.add("full-page");
  await Promise.all([loadUsers(), loadGrids()]);
  render();
  wire();
  if (view === "audit") await loadAudit();
  return { refreshText: render };
}
