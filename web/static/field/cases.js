// Cases in the field app: the list of my grids' cases (new ones appear without a reload), one case with its
// steps, photos and every action the API says the user may take now (GET /incidents/{id} allowed_actions), each
// with its form; and the report form. Every write goes through the outbox (one Idempotency-Key per record).
import { api } from "../api.js";
import { lang, t } from "../i18n.js";
import { actionWord, sourceWord, statusWord } from "../i18n/cases.js";
import { addOverlay, fromMap, toMap } from "../map.js";
import { $, esc, formatTime, say } from "../ui.js";
import * as outbox from "./outbox.js";

const CLOSED = new Set(["rejected", "closed", "evaluated"]);
const POLL_MS = 10000;
const NOTE_REQUIRED = new Set(["reject", "return", "request_extension", "deny_extension", "park", "reopen", "urge",
                               "supervise", "hand_over"]);
const PHOTO_STEPS = new Set(["accept", "feedback", "verify", "reopen", "quick_fix", "report_in", "close", "return"]);
let known = null; // ids seen, to mark new cases
let current = null; // the case shown
let openOnly = true;

function categoryName(ctx, code, fallback) {
  const c = (ctx.config.incident_categories || []).find((x) => x.code === code);
  if (!c) return fallback || "—";
  return lang() === "en" ? `${c.category_en} · ${c.subcategory_en}` : `${c.category} · ${c.subcategory}`;
}

function deadline(item) {
  if (!item.due_at) return "";
  const late = item.overdue === true || (item.overdue === undefined && new Date(item.due_at) < new Date());
  const soon = !late && new Date(item.due_at) - new Date() < 4 * 3600e3;
  return `<span class="badge ${late ? "overdue" : soon ? "soon" : ""}" data-due="${esc(item.due_at)}">${
    esc(formatTime(item.due_at))}${late ? ` · ${t("field.case.overdue")}` : soon ? ` · ${t("field.case.due_soon")}` : ""}</span>`;
}

async function loadCases(ctx) {
  const items = [];
  for (const code of ctx.me.grids || []) {
    const { data } = await api("/incidents", { params: { grid_code: code, limit: 100 } });
    items.push(...(data.items || []));
  }
  if (!(ctx.me.grids || []).length) {
    const { data } = await api("/incidents", { params: { limit: 100 } });
    items.push(...(data.items || []));
  }
  const seen = new Map(items.map((i) => [i.id, i]));
  return [...seen.values()];
}

export async function prefetch(ctx) {
  try {
    const items = await loadCases(ctx);
    await Promise.allSettled(items.filter((i) => !CLOSED.has(i.status)).slice(0, 60)
      .map((i) => api(`/incidents/${i.id}`)));
  } catch (_) { /* offline already: what is kept is kept */ }
  try { await api("/departments"); } catch (_) { /* departments are C's; the summon form asks for ids without */ }
}

let caseLayer = null;
function drawCases(ctx, items) {
  const markers = items.filter((i) => i.geometry && !CLOSED.has(i.status)).map((i) => L.circleMarker(
    toMap(...i.geometry.coordinates), { radius: 7, color: i.overdue ? "#b02a37" : "#e8590c", fillOpacity: 0.8 })
    .bindTooltip(`${i.id} ${esc(statusWord(i.status))}`).on("click", () => open(ctx, i.id)));
  caseLayer = addOverlay(ctx.map, "cases", L.layerGroup(markers));
}

function row(ctx, i, fresh) {
  return `<button type="button" class="case-row${fresh ? " new" : ""}" data-case="${i.id}">
    <span class="small">#${i.id}</span> ${fresh ? `<span class="badge soon">${t("field.cases.new")}</span>` : ""}
    <span class="status" data-status="${esc(i.status)}">${esc(statusWord(i.status))}</span><br>
    ${esc(categoryName(ctx, i.category_code, i.subcategory || i.category))}
    ${i.description ? `<br><span class="small">${esc(i.description.slice(0, 80))}</span>` : ""}
    <br>${deadline(i)}</button>`;
}

export async function render(panel, ctx, { silent = false } = {}) {
  if (current !== null) return renderCase(panel, ctx, current, { silent });
  if (!silent) panel.innerHTML = `<p>${t("loading")}</p>`;
  const queued = (await outbox.records()).filter((r) => r.kind === "incident");
  let items = [];
  let failure = "";
  try {
    items = await loadCases(ctx);
  } catch (exc) {
    failure = `<p class="error small">${esc(ctx.errorText(exc))}</p>`;
  }
  if (ctx.tab !== "cases" || current !== null) return;
  const fresh = new Set(known ? items.filter((i) => !known.has(i.id)).map((i) => i.id) : []);
  known = new Set([...(known || []), ...items.map((i) => i.id)]);
  if (fresh.size && silent) say(t("field.cases.updated", { n: fresh.size }));
  items.sort((a, b) => (CLOSED.has(a.status) - CLOSED.has(b.status)) || String(a.due_at || "9").localeCompare(String(b.due_at || "9"))
    || b.id - a.id);
  const shown = openOnly ? items.filter((i) => !CLOSED.has(i.status)) : items;
  drawCases(ctx, items);
  panel.innerHTML = `<h2>${t("field.cases.title")}</h2>
    <label class="small"><input type="checkbox" id="cases-open-only" ${openOnly ? "checked" : ""}> ${t("field.cases.open_only")}</label>
    ${failure}
    <div id="queued-reports">${queued.map((r) => `<div class="case-row" data-queued="${r.id}"><span class="badge queued">${
      t(`field.outbox.state.${r.state === "pending" ? "pending" : r.state}`)}</span> ${t("field.case.queued_title")}<br>${
      esc(categoryName(ctx, r.json.category_code))} ${r.json.description ? `<br><span class="small">${esc(r.json.description)}</span>` : ""}</div>`).join("")}</div>
    <div id="case-list">${shown.length ? shown.map((i) => row(ctx, i, fresh.has(i.id))).join("") : `<p>${t("field.cases.none")}</p>`}</div>`;
  $("#cases-open-only").addEventListener("change", (e) => { openOnly = e.target.checked; render(panel, ctx); });
  panel.querySelectorAll("[data-case]").forEach((b) => b.addEventListener("click", () => open(ctx, Number(b.dataset.case))));
  document.body.dataset.cases = String(items.length);
}

export function startPolling(ctx) {
  setInterval(() => {
    if (document.hidden || !ctx.online || ctx.tab !== "cases") return;
    render($("#field-panel"), ctx, { silent: true }).catch(() => {});
  }, POLL_MS);
}

export function open(ctx, id) {
  current = id;
  return ctx.selectTab("cases");
}

// --- one case ---------------------------------------------------------------------------------

async function photoImages(box, photos) {
  for (const p of photos) {
    try {
      const headers = {};
      const token = sessionStorage.getItem("wangge.token");
      if (token) headers.Authorization = `Bearer ${token}`;
      const reason = sessionStorage.getItem("wangge.reason");
      if (reason) headers["X-Access-Reason"] = encodeURIComponent(reason);
      const response = await fetch(p.href, { headers });
      if (!response.ok) continue;
      const img = document.createElement("img");
      img.src = URL.createObjectURL(await response.blob());
      img.alt = `${t("field.case.photos")} ${p.id}`;
      img.dataset.photo = String(p.id);
      box.appendChild(img);
    } catch (_) { /* offline: the photo is shown when online */ }
  }
}

async function renderCase(panel, ctx, id, { silent = false } = {}) {
  if (!silent) panel.innerHTML = `<p>${t("loading")}</p>`;
  let c;
  try {
    ({ data: c } = await api(`/incidents/${id}`));
  } catch (exc) {
    panel.innerHTML = `<button type="button" class="secondary" id="case-back">${t("field.case.back")}</button>
      <p class="error">${esc(t("field.case.load_failed", { msg: ctx.errorText(exc) }))}</p>`;
    $("#case-back").addEventListener("click", () => { current = null; render(panel, ctx); });
    return;
  }
  if (silent && panel.querySelector(".step-form")) return; // never wipe a form being filled in
  if (current !== id || ctx.tab !== "cases") return;
  const queued = (await outbox.records()).filter((r) => r.meta && r.meta.incident === id && r.kind === "action");
  const allowed = c.allowed_actions || [];
  const events = (c.events || []).map((e) => `<li><strong>${esc(actionWord(e.action))}</strong> · ${esc(formatTime(e.at))}
    <span class="small">${esc(t("role." + e.actor_role))}${e.to_status ? ` → ${esc(statusWord(e.to_status))}` : ""}</span>
    ${e.satisfaction ? `<span class="small"> ${t("field.case.satisfaction", { n: e.satisfaction })}</span>` : ""}
    ${e.note ? `<br><span class="small">${esc(e.note)}</span>` : ""}</li>`).join("");
  panel.innerHTML = `<button type="button" class="secondary" id="case-back">${t("field.case.back")}</button>
    <h2 id="case-title">${t("field.case.title", { id: c.id })}</h2>
    ${ctx.online ? "" : `<p class="small">${t("field.case.offline_copy")}</p>`}
    <table class="kv">
      <tr><th>${t("field.case.status")}</th><td id="case-status" data-status="${esc(c.status)}">${esc(statusWord(c.status))}</td></tr>
      <tr><th>${t("field.case.category")}</th><td>${esc(categoryName(ctx, c.category_code, c.subcategory))}</td></tr>
      <tr><th>${t("field.case.description")}</th><td>${esc(c.description || "—")}</td></tr>
      <tr><th>${t("field.case.grid")}</th><td>${esc(c.grid_code || "—")}</td></tr>
      <tr><th>${t("field.case.source")}</th><td>${esc(sourceWord(c.source))} · ${esc(t(`case.urgency.${c.urgency}`))}</td></tr>
      <tr><th>${t("field.case.reported_at")}</th><td id="case-reported-at">${esc(formatTime(c.reported_at))}</td></tr>
      <tr><th>${t("field.case.due_at")}</th><td id="case-due">${deadline(c) || "—"}</td></tr>
    </table>
    <h3>${t("field.case.actions")}</h3>
    <div id="case-actions">${queued.length ? `<p class="small" id="case-pending">${t("field.case.pending_step")}</p>`
      : allowed.length ? allowed.map((a) => `<button type="button" data-action="${esc(a)}">${esc(actionWord(a))}</button>`).join("")
        : `<p class="small">${t("field.case.no_actions")}</p>`}</div>
    <div id="step-box"></div>
    <h3>${t("field.case.photos")}</h3><div class="photos" id="case-photos">${(c.photos || []).length ? "" : `<p class="small">${t("field.case.no_photos")}</p>`}</div>
    <h3>${t("field.case.history")}</h3><ol class="timeline" id="case-events">${events}</ol>`;
  $("#case-back").addEventListener("click", () => { current = null; render(panel, ctx); });
  panel.querySelectorAll("[data-action]").forEach((b) => b.addEventListener("click", () => stepForm(ctx, c, b.dataset.action)));
  if (c.geometry) ctx.map.setView(toMap(...c.geometry.coordinates), Math.max(ctx.map.getZoom(), 16));
  photoImages($("#case-photos"), c.photos || []);
  document.body.dataset.caseVersion = String(c.version);
}

async function stepForm(ctx, c, action) {
  const box = $("#step-box");
  const name = actionWord(action);
  let extra = "";
  if (action === "dispatch") {
    const options = [];
    if (c.reported_by) options.push([c.reported_by, t("field.step.handler_reporter", { id: c.reported_by })]);
    if (c.handler_id && c.handler_id !== c.reported_by) options.push([c.handler_id, t("field.step.handler_current", { id: c.handler_id })]);
    if (ctx.me.id && !options.some(([v]) => v === ctx.me.id)) options.push([ctx.me.id, t("field.step.handler_me")]);
    extra += `<label for="step-handler">${t("field.step.handler")}</label><select id="step-handler">${options.map(([v, l]) =>
      `<option value="${v}">${esc(l)}</option>`).join("")}<option value="">${t("field.step.handler_id")}</option></select>
      <input id="step-handler-id" type="number" min="1" hidden aria-label="${esc(t("field.step.handler_id"))}">`;
  }
  if (action === "evaluate") {
    extra += `<label for="step-satisfaction">${t("field.step.satisfaction")}</label><select id="step-satisfaction">${
      [5, 4, 3, 2, 1].map((n) => `<option value="${n}">${n}</option>`).join("")}</select>`;
  }
  if (action === "summon") {
    let departments = [];
    try { departments = (await api("/departments")).data.items || []; } catch (_) { departments = []; }
    extra += `<label for="step-departments">${t("field.step.departments")}</label><select id="step-departments" multiple size="4">${
      departments.map((d) => `<option value="${d.id}">${esc(d.name)}</option>`).join("")}</select>
      <label for="step-hours">${t("field.step.report_in_hours")}</label><input id="step-hours" type="number" min="1" value="24">`;
  }
  if (action === "verify" || action === "feedback" || action === "accept") {
    extra += `<label class="small"><input type="checkbox" id="step-position" ${navigator.geolocation ? "checked" : ""}> ${
      t("field.step.use_position")}</label>`;
  }
  const photo = PHOTO_STEPS.has(action) ? `<label for="step-photo">${t("field.step.photo")}</label>
    <input id="step-photo" type="file" accept="image/*" capture="environment">` : "";
  box.innerHTML = `<form class="step-form" id="step-form" data-step="${esc(action)}"><strong>${esc(name)}</strong>
    ${extra}
    <label for="step-note">${t("field.step.note")}</label><textarea id="step-note" rows="2"></textarea>
    ${photo}
    <p class="error small" id="step-error" role="alert"></p>
    <button type="submit" id="step-submit">${esc(t("field.step.submit", { action: name }))}</button>
    <button type="button" class="secondary" id="step-cancel">${t("field.step.cancel")}</button></form>`;
  const handler = $("#step-handler");
  if (handler) handler.addEventListener("change", () => { $("#step-handler-id").hidden = handler.value !== ""; });
  $("#step-cancel").addEventListener("click", () => { box.innerHTML = ""; });
  $("#step-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const note = $("#step-note").value.trim();
    if (NOTE_REQUIRED.has(action) && !note) {
      $("#step-error").textContent = t("field.step.note_required");
      return;
    }
    const body = { action };
    if (note) body.note = note;
    if (handler) body.handler_id = Number(handler.value || $("#step-handler-id").value);
    if ($("#step-satisfaction")) body.satisfaction = Number($("#step-satisfaction").value);
    if ($("#step-departments")) {
      body.departments = [...$("#step-departments").selectedOptions].map((o) => Number(o.value));
      body.report_in_hours = Number($("#step-hours").value);
    }
    if ($("#step-position") && $("#step-position").checked) {
      try {
        const pos = await ctx.locate();
        body.position = [pos.lon, pos.lat];
      } catch (_) { /* no position: sent without; the server judges whether one is needed */ }
    }
    const file = $("#step-photo") && $("#step-photo").files[0];
    $("#step-submit").disabled = true;
    const record = await outbox.enqueue({ kind: "action", path: `/incidents/${c.id}/actions`, json: body,
                                          ifMatch: c.version, label: `#${c.id} ${name}`, meta: { incident: c.id, action } });
    if (file) await queuePhoto(c.id, file, null, `#${c.id}`);
    say(t("field.step.queued", { action: name }));
    pendingStep = record.id;
    await outbox.flush();
    if (current === c.id) renderCase($("#field-panel"), ctx, c.id);
  });
}
let pendingStep = null;

// A phone photo is several megabytes: sent as a JPEG of at most 1600 px (the server keeps no metadata anyway).
async function shrink(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
    if (scale === 1 && file.size < 1.5e6) return file;
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return await new Promise((resolve) => canvas.toBlob((b) => resolve(b || file), "image/jpeg", 0.85));
  } catch (_) {
    return file; // a format the browser cannot draw: the server says whether it takes it
  }
}

async function base64(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

async function queuePhoto(incident, file, dependsOn, label) {
  const blob = await shrink(file);
  const filename = blob === file ? (file.name || "photo.jpg") : "photo.jpg";
  return outbox.enqueue({ kind: "photo", path: dependsOn ? "/incidents/{incident}/photos" : `/incidents/${incident}/photos`,
                          form: { fields: {}, file: blob, filename }, dependsOn, label,
                          meta: { incident } });
}

// What the outbox sent: the views that show it are drawn again.
export function onSent(ctx, record, data) {
  if (ctx.tab !== "cases") return;
  const panel = $("#field-panel");
  if (record.kind === "action" && current === record.meta.incident) {
    const i = data.incident || {};
    say(t("field.step.sent", { action: actionWord(record.meta.action), id: i.id, status: statusWord(i.status) }));
    renderCase(panel, ctx, current);
  } else if (record.kind === "photo" && current === record.meta.incident) {
    renderCase(panel, ctx, current);
  } else if (current === null) {
    render(panel, ctx, { silent: true });
  }
}

// --- report -----------------------------------------------------------------------------------

let picked = null, pickMarker = null;

function setPoint(ctx, lonlat, latlng) {
  picked = lonlat;
  const at = latlng || toMap(lonlat[0], lonlat[1]);
  if (pickMarker) pickMarker.setLatLng(at);
  else pickMarker = addOverlay(ctx.map, "report_point", L.circleMarker(at, { radius: 9, color: "#dc3545", weight: 3 }));
  const hint = $("#report-where");
  if (hint) {
    hint.textContent = `${lonlat[0].toFixed(6)}, ${lonlat[1].toFixed(6)}`;
    hint.dataset.picked = "1";
  }
}

export const report = {
  pick(ctx, latlng) { setPoint(ctx, fromMap(latlng), latlng); },
  async render(panel, ctx) {
    const cats = ctx.config.incident_categories || [];
    const group = (cls, label) => `<optgroup label="${esc(label)}">${cats.filter((c) => c.class === cls).map((c) =>
      `<option value="${esc(c.code)}">${esc(categoryName(ctx, c.code))}</option>`).join("")}</optgroup>`;
    panel.innerHTML = `<h2>${t("field.report.title")}</h2>
      <form id="report-form">
      <label>${t("field.report.where")}</label>
      <p class="small" id="report-where">${picked ? `${picked[0].toFixed(6)}, ${picked[1].toFixed(6)}` : t("field.report.where_hint")}</p>
      <button type="button" class="secondary" id="report-here">${t("field.report.use_position")}</button>
      <label for="report-category">${t("field.report.category")}</label>
      <select id="report-category">${group("event", lang() === "en" ? "Events" : "事件")}${group("component", lang() === "en" ? "Components" : "部件")}</select>
      <label for="report-description">${t("field.report.description")}</label><textarea id="report-description" rows="3"></textarea>
      <label class="small"><input type="checkbox" id="report-urgent"> ${t("field.report.urgent")}</label>
      <label for="report-photo">${t("field.report.photo")}</label>
      <input id="report-photo" type="file" accept="image/*" capture="environment">
      <label class="small"><input type="checkbox" id="report-quick-fix"> ${t("field.report.quick_fix")}</label>
      <div id="report-after" hidden><label for="report-photo-after">${t("field.report.photo_after")}</label>
        <input id="report-photo-after" type="file" accept="image/*" capture="environment"></div>
      <p class="error small" id="report-error" role="alert"></p>
      <button type="submit" id="report-submit">${t("field.report.submit")}</button></form>`;
    const quick = () => {
      const code = $("#report-category").value;
      const allowed = Boolean((cats.find((c) => c.code === code) || {}).quick_fix);
      $("#report-quick-fix").disabled = !allowed;
      if (!allowed) $("#report-quick-fix").checked = false;
      $("#report-after").hidden = !$("#report-quick-fix").checked;
    };
    $("#report-category").addEventListener("change", quick);
    $("#report-quick-fix").addEventListener("change", quick);
    quick();
    $("#report-here").addEventListener("click", async () => {
      try {
        const pos = await ctx.locate();
        setPoint(ctx, [pos.lon, pos.lat]);
      } catch (_) { /* said by locate */ }
    });
    $("#report-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!picked) {
        $("#report-error").textContent = t("field.report.pick_point");
        return;
      }
      const body = { point: picked, category_code: $("#report-category").value, source: "patrol",
                     urgency: $("#report-urgent").checked ? "urgent" : "normal" };
      const description = $("#report-description").value.trim();
      if (description) body.description = description;
      if (ctx.position) body.position = [ctx.position.lon, ctx.position.lat];
      const file = $("#report-photo").files[0];
      if ($("#report-quick-fix").checked) {
        // 随手办: fixed on the spot, the before and after photos go inside the report (one record, one key).
        const after = $("#report-photo-after").files[0];
        if (!file || !after) {
          $("#report-error").textContent = t("field.report.quick_fix_photos");
          return;
        }
        body.quick_fix = true;
        body.photos = [{ kind: "before", content_base64: await base64(await shrink(file)) },
                       { kind: "after", content_base64: await base64(await shrink(after)) }];
      }
      $("#report-submit").disabled = true;
      const record = await outbox.enqueue({ kind: "incident", path: "/incidents", json: body,
                                            label: categoryName(ctx, body.category_code), meta: {} });
      if (file && !body.quick_fix) await queuePhoto(null, file, record.id, categoryName(ctx, body.category_code));
      say(t("field.report.queued"));
      picked = null;
      if (pickMarker) { ctx.map.wangge.remove("report_point"); pickMarker = null; }
      await outbox.flush();
      ctx.selectTab("cases");
    });
  },
};
