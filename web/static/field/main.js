// The field app (网格员现场): a phone-first page for grid workers and leaders that keeps working through a shift
// without a network. The service worker (/app/sw.js) keeps the pages, the worker's grid data and its map tiles;
// everything the worker records goes through the outbox (IndexedDB, one Idempotency-Key per record) and is sent
// in order when the network returns. Tabs: cases (the list, one case with every step the user may take now),
// report, household visit, patrol recording, and the outbox with its conflicts.
import { api, clearToken, getToken } from "../api.js";
import { installToggle, lang, t } from "../i18n.js";
import "../i18n/cases.js";
import "../i18n/field.js";
import { addOverlay, createMap, toMap } from "../map.js";
import { ensureReason, installReason, setReasonDefault, showReason } from "../reason.js";
import { $, esc, formatTime, say } from "../ui.js";
import * as outbox from "./outbox.js";
import * as cases from "./cases.js";
import * as patrol from "./patrol.js";
import * as visit from "./visit.js";

const TABS = { cases, report: cases.report, visit, patrol, outbox: null };
const ctx = { me: null, config: null, map: null, grids: [], position: null, tab: "cases", online: navigator.onLine };

// A refusal or failure in words: the code's word, the server's message after it.
export function errorText(error) {
  if (!error) return "";
  const status = error.status;
  const body = error.body || error;
  const code = (body && (body.error || body.code)) || (status === 409 ? "conflict" : null);
  // The refusal's own reason (who may take this step, and why not now) says more than its kind.
  const reason = body && body.details && body.details.reason;
  const reasoned = reason && t(`field.reason.${reason}`) !== `field.reason.${reason}`;
  const known = reasoned || (code && t(`field.error.${code}`) !== `field.error.${code}`);
  const what = reasoned ? t(`field.reason.${reason}`) : known ? t(`field.error.${code}`) : t("field.error.other");
  let msg = (body && body.message) || error.message || "";
  // One language at a time: a message the server gives in both ("中文 · English") is cut to the page's half;
  // an English-only message is left out of the Chinese page when the code already says what happened.
  const halves = msg.split(" · ");
  if (halves.length === 2) msg = lang() === "en" ? halves[1] : halves[0];
  else if (lang() !== "en" && known) msg = "";
  return msg && code !== "offline" ? t("field.error.detail", { what, msg }) : what;
}
ctx.errorText = errorText;

function setNet(online) {
  ctx.online = online;
  const el = $("#net-status");
  el.textContent = online ? t("field.online") : t("field.offline");
  el.classList.toggle("offline", !online);
  document.body.dataset.online = online ? "1" : "0";
}

async function showCount() {
  const all = await outbox.records();
  const badge = $("#outbox-count");
  badge.textContent = all.length ? String(all.length) : "";
  badge.classList.toggle("overdue", all.some((r) => r.state === "conflict" || r.state === "error"));
  document.body.dataset.outbox = String(all.length);
}

export function selectTab(name, options = {}) {
  ctx.tab = name;
  for (const b of document.querySelectorAll(".tabs [data-tab]")) {
    b.setAttribute("aria-selected", String(b.dataset.tab === name));
  }
  $("#field-panel").setAttribute("aria-labelledby", `tab-${name}`);
  return render(options);
}
ctx.selectTab = selectTab;

async function render(options = {}) {
  const panel = $("#field-panel");
  if (ctx.tab === "outbox") return renderOutbox(panel);
  if (ctx.tab === "report") return cases.report.render(panel, ctx, options);
  return TABS[ctx.tab].render(panel, ctx, options);
}
ctx.render = render;

// --- the outbox tab ---------------------------------------------------------------------------

function recordLine(r, all) {
  const waiting = r.dependsOn && all.some((o) => o.id === r.dependsOn);
  const state = r.state === "pending" && waiting ? "waiting" : r.state;
  const when = formatTime(r.createdAt);
  const buttons = [];
  if (r.state === "conflict" && r.kind === "action") {
    buttons.push(`<button type="button" data-resolve="reload" data-id="${r.id}">${t("field.outbox.reload")}</button>`);
    buttons.push(`<button type="button" class="secondary" data-resolve="rebase" data-id="${r.id}">${t("field.outbox.rebase")}</button>`);
  }
  if (r.state === "error" || (r.state === "conflict" && r.kind !== "action")) {
    buttons.push(`<button type="button" class="secondary" data-resolve="retry" data-id="${r.id}">${t("field.outbox.retry")}</button>`);
  }
  if (r.state !== "pending") {
    buttons.push(`<button type="button" class="secondary" data-resolve="drop" data-id="${r.id}">${t("field.outbox.drop")}</button>`);
  }
  return `<div class="outbox-row ${r.state}" data-record="${r.id}" data-kind="${r.kind}" data-state="${state}">
    <strong>${t(`field.outbox.kind.${r.kind}`)}</strong> ${esc(r.label || "")}
    <div class="small">${t("field.outbox.made", { at: when })} · <span class="record-state">${t(`field.outbox.state.${state}`)}</span></div>
    ${r.error ? `<p class="error small record-error">${esc(errorText(r.error))}</p>` : ""}
    ${buttons.join("")}</div>`;
}

async function renderOutbox(panel) {
  const all = await outbox.records();
  panel.innerHTML = `<h2>${t("field.outbox.title")}</h2>
    <button type="button" id="outbox-send" ${ctx.online ? "" : "disabled"}>${t("field.outbox.send_now")}</button>
    <div id="outbox-list">${all.length ? all.map((r) => recordLine(r, all)).join("")
      : `<p id="outbox-empty">${t("field.outbox.none")}</p>`}</div>`;
  $("#outbox-send").addEventListener("click", () => outbox.resume());
  panel.querySelectorAll("[data-resolve]").forEach((b) => b.addEventListener("click", () => resolve(b.dataset.resolve,
                                                                                                    b.dataset.id)));
}

async function resolve(how, id) {
  const record = (await outbox.records()).find((r) => r.id === id);
  if (!record) return;
  if (how === "drop") {
    await outbox.drop(id);
  } else if (how === "retry") {
    await outbox.retry(id);
  } else if (how === "reload" || how === "rebase") {
    const caseId = record.meta && record.meta.incident;
    if (how === "reload") {
      await outbox.drop(id);
      if (caseId) return cases.open(ctx, caseId);
    } else {
      try {
        const { data } = await api(`/incidents/${caseId}`);
        if (!(data.allowed_actions || []).includes(record.json.action)) {
          say(t("field.case.no_actions"), { error: true });
          return cases.open(ctx, caseId);
        }
        await outbox.retry(id, { ifMatch: data.version });
        say(t("field.outbox.rebased", { v: data.version }));
      } catch (exc) {
        say(errorText(exc), { error: true });
      }
    }
  }
  if (ctx.tab === "outbox") render();
}

// --- what the outbox reports ----------------------------------------------------------------

function onOutbox(event) {
  showCount();
  if (event.type === "offline") setNet(false);
  if (event.type === "sent") {
    setNet(true);
    document.body.dataset.sent = String(Number(document.body.dataset.sent || 0) + 1);
    const r = event.record, data = event.data || {};
    if (r.kind === "incident") {
      const i = data.incident || data;
      say(t("field.report.sent", { id: i.id, grid: i.grid_code || "—" }));
    } else if (r.kind === "visit") {
      say(data.case_id ? t("field.visit.sent_case", { id: data.id, case: data.case_id }) : t("field.visit.sent", { id: data.id }));
    } else if (r.kind === "patrol") {
      const p = data.patrol || data;
      say(t("field.patrol.sent", { id: p.id, kept: (data.report && data.report.kept_points) ?? p.point_count ?? "—" }));
    }
    cases.onSent(ctx, r, data);
  }
  if (event.type === "conflict" || event.type === "error") {
    say(`${t(`field.outbox.kind.${event.record.kind}`)}: ${errorText(event.record.error)}`, { error: true });
  }
  if (event.type === "signin") {
    $("#message").hidden = false;
    $("#message").classList.add("error");
    $("#message").innerHTML = `${esc(t("field.signin_again"))} <a href="/app/login">${esc(t("field.signin"))}</a>`;
  }
  if (ctx.tab === "outbox") render();
}

// --- map: my grids, locate me, offline tiles --------------------------------------------------

function bboxOf(features) {
  let b = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c) => {
    if (typeof c[0] === "number") {
      b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])];
    } else c.forEach(walk);
  };
  features.forEach((f) => walk(f.geometry.coordinates));
  return Number.isFinite(b[0]) ? b : null;
}

function locateControl(map) {
  const control = L.control({ position: "topleft" });
  control.onAdd = () => {
    const div = L.DomUtil.create("div", "leaflet-bar locate-control");
    div.innerHTML = `<a href="#" role="button" id="locate-me" title="${esc(t("field.locate"))}">${esc(t("field.locate"))}</a>`;
    L.DomEvent.disableClickPropagation(div);
    div.querySelector("a").addEventListener("click", (e) => {
      e.preventDefault();
      locate().catch(() => {});
    });
    return div;
  };
  control.addTo(map);
}

let meMarker = null, meCircle = null;
export function showPosition(pos) {
  ctx.position = pos;
  const at = toMap(pos.lon, pos.lat);
  if (!meMarker) {
    meCircle = L.circle(at, { radius: pos.accuracy || 10, color: "#2f6fb0", weight: 1, fillOpacity: 0.15 });
    meMarker = L.circleMarker(at, { radius: 7, color: "#fff", weight: 2, fillColor: "#2f6fb0", fillOpacity: 1 });
    addOverlay(ctx.map, "my_position", L.layerGroup([meCircle, meMarker]));
  } else {
    meMarker.setLatLng(at);
    meCircle.setLatLng(at).setRadius(pos.accuracy || 10);
  }
}
ctx.showPosition = showPosition;

export function locate() {
  if (!navigator.geolocation) {
    say(t("field.no_geolocation"), { error: true });
    return Promise.reject(new Error("no geolocation"));
  }
  say(t("field.locating"));
  return new Promise((resolve, reject) => {
    navigator.geolocation.getCurrentPosition((p) => {
      const pos = { lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy };
      showPosition(pos);
      ctx.map.setView(toMap(pos.lon, pos.lat), Math.max(ctx.map.getZoom(), 17));
      say(t("field.located", { m: Math.round(pos.accuracy) }));
      document.body.dataset.located = "1";
      resolve(pos);
    }, (err) => {
      say(t("field.locate_failed", { msg: err.message }), { error: true });
      reject(err);
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 5000 });
  });
}
ctx.locate = locate;

// Slippy-map tile numbers of a lon/lat box at zoom z.
function tileRange(b, z) {
  const n = 2 ** z;
  const x = (lon) => Math.floor((lon + 180) / 360 * n);
  const y = (lat) => Math.floor((1 - Math.log(Math.tan(lat * Math.PI / 180) + 1 / Math.cos(lat * Math.PI / 180)) / Math.PI) / 2 * n);
  return { x0: x(b[0]), x1: x(b[2]), y0: y(b[3]), y1: y(b[1]) };
}

// Through the service worker once it controls the page: what the worker needs offline is read once more, so
// that it is kept (the first visit's reads happened before the worker was installed).
async function prepareOffline() {
  if (!("serviceWorker" in navigator)) {
    say(t("field.no_sw"));
    return;
  }
  await navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" });
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }));
  }
  document.body.dataset.offlineReady = "0";
  // Every script, style and image this page loaded before the worker was in charge (other areas' modules that
  // map.js imports included), fetched once more so that the worker keeps them.
  const files = new Set(performance.getEntriesByType("resource").map((e) => new URL(e.name, location.href))
    .filter((u) => u.origin === location.origin && /^\/app\/(static|vendor)\//.test(u.pathname)).map((u) => u.href));
  await Promise.allSettled([...files].map((u) => fetch(u)));
  const reads = [api("/auth/me"), api("/app/config.json"), api("/districts")];
  const district = ctx.me.district_code;
  if (district) {
    const params = { district_code: district, limit: 5000 };
    reads.push(api("/communities", { params }), api("/grids", { params }));
  }
  for (const code of ctx.me.grids) {
    reads.push(api(`/grids/${code}`));
    reads.push(api("/buildings", { params: { grid_code: code, limit: 5000 } }));
  }
  await Promise.allSettled(reads);
  await cases.prefetch(ctx);
  await visit.prefetch(ctx);
  // The grid's tiles at the zooms a worker walks with (those not yet seen in this session too).
  const b = bboxOf(ctx.grids);
  if (b) {
    const base = Math.min(Math.max(ctx.map.getZoom(), 13), 16);
    const urls = [];
    for (let z = base; z <= Math.min(base + 2, 18); z++) {
      const r = tileRange(b, z);
      for (let x = r.x0; x <= r.x1; x++) {
        for (let y = r.y0; y <= r.y1; y++) {
          for (const layer of ["water", "walk_network", "buildings"]) urls.push(`/tiles/${layer}/${z}/${x}/${y}.mvt`);
        }
      }
    }
    const headers = { Authorization: `Bearer ${getToken()}` };
    for (let i = 0; i < urls.length; i += 6) {
      await Promise.allSettled(urls.slice(i, i + 6).map((u) => fetch(u, { headers })));
    }
    document.body.dataset.tiles = String(urls.length);
  }
  document.body.dataset.offlineReady = "1";
  say(t("field.ready"));
}

async function start() {
  if (!getToken()) {
    location.href = "/app/login";
    return;
  }
  installToggle(() => {
    showReason();
    setNet(ctx.online);
    $("#who").textContent = ctx.me ? `${ctx.me.display_name || ctx.me.username} · ${t("role." + ctx.me.role)}` : "";
    if (ctx.map && ctx.map.wangge) ctx.map.wangge.refreshText();
    render();
  });
  installReason();
  setReasonDefault("reason.default.worker");
  setNet(navigator.onLine);
  window.addEventListener("online", () => { setNet(true); outbox.resume(); });
  window.addEventListener("offline", () => setNet(false));
  $("#logout").addEventListener("click", async () => {
    clearToken();
    if (navigator.serviceWorker && navigator.serviceWorker.controller) navigator.serviceWorker.controller.postMessage("clear");
    location.href = "/app/login";
  });
  outbox.onChange(onOutbox);
  for (const b of document.querySelectorAll(".tabs [data-tab]")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  try {
    const [{ data: me }, { data: config }] = await Promise.all([api("/auth/me"), api("/app/config.json")]);
    ctx.me = me;
    ctx.config = config;
    outbox.setUser(me.id);
    $("#who").textContent = `${me.display_name || me.username} · ${t("role." + me.role)}`;
    document.body.dataset.role = me.role;
    // Cases, visits and tracks are personal records: ask why once, before the first is read.
    await ensureReason();
    for (const code of me.grids || []) {
      try {
        const { data } = await api(`/grids/${code}`);
        ctx.grids.push(data);
      } catch (exc) { /* a grid without a stored copy offline is left off the map */ }
    }
    const bbox = bboxOf(ctx.grids);
    ctx.map = createMap("map", config, bbox, { me, district: me.district_code });
    if (ctx.grids.length) {
      addOverlay(ctx.map, "my_grids", L.geoJSON({ type: "FeatureCollection", features: ctx.grids }, {
        coordsToLatLng: (c) => toMap(c[0], c[1]), style: { color: "#c00", weight: 3, fillOpacity: 0.03 }, interactive: false }));
    }
    locateControl(ctx.map);
    ctx.map.on("click", (e) => { if (ctx.tab === "report") cases.report.pick(ctx, e.latlng); });
    await selectTab("cases");
    showCount();
    cases.startPolling(ctx);
    document.body.dataset.ready = "1";
    outbox.flush();
    prepareOffline().catch((exc) => console.warn("offline preparation", exc));
  } catch (exc) {
    say(errorText(exc), { error: true });
  }
}

start();
