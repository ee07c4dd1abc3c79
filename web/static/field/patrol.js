// Patrol recording in the browser: the Geolocation API's watchPosition between start and stop, each fix kept in
// IndexedDB as it comes (a reload or a dead battery loses nothing recorded), fixes less accurate than the limit
// left out and counted, and on stop the track queued as a GeoJSON LineString with its times and accuracies, the
// format POST /patrols takes (gis.patrols.tracks), sent by the outbox under its own Idempotency-Key.
import { t } from "../i18n.js";
import { addOverlay, toMap } from "../map.js";
import { $, esc, say } from "../ui.js";
import * as outbox from "./outbox.js";

const DEFAULT_MAX_ACCURACY_M = 30; // tighter than the server's 50 m: a fix this poor cannot tell a street side
let watch = null;
let line = null;
let state = null; // {recording, grid, maxAccuracy, dropped, startedAt}

function metres(pts) {
  let d = 0;
  for (let i = 1; i < pts.length; i++) {
    const [a, b] = [pts[i - 1], pts[i]];
    const k = Math.PI / 180;
    const x = (b.lon - a.lon) * k * Math.cos(((a.lat + b.lat) / 2) * k), y = (b.lat - a.lat) * k;
    d += Math.hypot(x, y) * 6371008.8;
  }
  return d;
}

async function load() {
  if (!state) state = (await outbox.getValue("patrol")) || { recording: false, dropped: 0, maxAccuracy: DEFAULT_MAX_ACCURACY_M };
  return state;
}

async function save() { await outbox.setValue("patrol", state); }

async function draw(ctx) {
  const pts = await outbox.points();
  const latlngs = pts.map((p) => toMap(p.lon, p.lat));
  if (!line) line = addOverlay(ctx.map, "patrol_track", L.polyline(latlngs, { color: "#198754", weight: 4 }));
  else line.setLatLngs(latlngs);
  const status = $("#patrol-status");
  if (status) {
    status.textContent = state.recording ? t("field.patrol.recording", { n: pts.length, m: Math.round(metres(pts)) })
      : t("field.patrol.idle");
    status.dataset.points = String(pts.length);
  }
  const dropped = $("#patrol-dropped");
  if (dropped) {
    dropped.textContent = state.dropped ? t("field.patrol.dropped", { n: state.dropped, max: state.maxAccuracy }) : "";
    dropped.dataset.dropped = String(state.dropped || 0);
  }
}

let poll = null;
let lastFix = null;

async function onFix(ctx, p) {
  const fix = { lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy,
                at: new Date(p.timestamp || Date.now()).toISOString() };
  // The same fix again (a watch repeats the last fix on resume; the poll below asks while standing still): one fix.
  if (lastFix && lastFix.lon === fix.lon && lastFix.lat === fix.lat && lastFix.accuracy === fix.accuracy) return;
  lastFix = fix;
  ctx.showPosition(fix);
  if (!state.recording) return;
  if (!(fix.accuracy <= state.maxAccuracy)) {
    state.dropped += 1;
    await save();
  } else {
    await outbox.addPoint(fix);
  }
  draw(ctx);
}

function watchPositions(ctx) {
  if (watch !== null || !navigator.geolocation) return;
  const failed = (err) => say(t("field.patrol.denied", { msg: err.message }), { error: true });
  const options = { enableHighAccuracy: true, maximumAge: 0, timeout: 30000 };
  watch = navigator.geolocation.watchPosition((p) => onFix(ctx, p), failed, options);
  // Some phones hold watchPosition back while the screen is dim; asking every few seconds keeps the track going.
  poll = setInterval(() => navigator.geolocation.getCurrentPosition((p) => onFix(ctx, p), () => {}, options), 2000);
}

function stopWatching() {
  if (watch !== null) navigator.geolocation.clearWatch(watch);
  if (poll !== null) clearInterval(poll);
  watch = null;
  poll = null;
  lastFix = null;
}

async function stop(ctx) {
  const pts = await outbox.points();
  if (pts.length < 2) {
    say(t("field.patrol.too_short"), { error: true });
    return;
  }
  const feature = { type: "Feature", geometry: { type: "LineString", coordinates: pts.map((p) => [p.lon, p.lat]) },
                    properties: { name: `patrol ${pts[0].at}`, coordTimes: pts.map((p) => p.at),
                                  accuracies: pts.map((p) => p.accuracy) } };
  const file = new Blob([JSON.stringify(feature)], { type: "application/geo+json" });
  await outbox.enqueue({ kind: "patrol", path: "/patrols", label: `${pts.length} · ${state.grid || ""}`,
                         form: { fields: { grid_code: state.grid || null }, file, filename: "patrol.geojson" },
                         meta: { points: pts.length } });
  say(t("field.patrol.queued", { n: pts.length }));
  state = { recording: false, dropped: 0, maxAccuracy: state.maxAccuracy };
  await save();
  await outbox.clearPoints();
  stopWatching();
  await draw(ctx);
  render($("#field-panel"), ctx);
}

export async function prefetch() { await load(); }

export async function render(panel, ctx) {
  await load();
  const grids = ctx.me.grids || [];
  panel.innerHTML = `<h2>${t("field.patrol.title")}</h2>
    <p id="patrol-status" role="status"></p><p class="small" id="patrol-dropped"></p>
    <label for="patrol-grid">${t("field.patrol.grid")}</label>
    <select id="patrol-grid" ${state.recording ? "disabled" : ""}>${grids.map((g) => `<option value="${g}" ${
      state.grid === g ? "selected" : ""}>${esc(g)}</option>`).join("")}</select>
    <label for="patrol-accuracy">${t("field.patrol.accuracy")}</label>
    <input id="patrol-accuracy" type="number" min="5" max="50" value="${state.maxAccuracy}" ${state.recording ? "disabled" : ""}>
    ${state.recording ? `<button type="button" id="patrol-stop">${t("field.patrol.stop")}</button>
      <button type="button" class="secondary" id="patrol-discard">${t("field.patrol.discard")}</button>`
      : `<button type="button" id="patrol-start">${t("field.patrol.start")}</button>`}`;
  if (state.recording) {
    watchPositions(ctx);
    $("#patrol-stop").addEventListener("click", () => stop(ctx));
    $("#patrol-discard").addEventListener("click", async () => {
      state = { recording: false, dropped: 0, maxAccuracy: state.maxAccuracy };
      await save();
      await outbox.clearPoints();
      stopWatching();
      await draw(ctx);
      render(panel, ctx);
    });
  } else {
    $("#patrol-start").addEventListener("click", async () => {
      if (!navigator.geolocation) {
        say(t("field.no_geolocation"), { error: true });
        return;
      }
      await outbox.clearPoints();
      state = { recording: true, dropped: 0, grid: $("#patrol-grid").value || null, startedAt: new Date().toISOString(),
                maxAccuracy: Math.min(50, Math.max(5, Number($("#patrol-accuracy").value) || DEFAULT_MAX_ACCURACY_M)) };
      await save();
      render(panel, ctx);
    });
  }
  await draw(ctx);
}
