// The field app's outbox: every record a worker makes (a case report, a case step, a photo, a household visit, a
// patrol track) goes into IndexedDB first and is sent from there, in the order it was made, each under its own
// Idempotency-Key. A send whose answer is lost is sent again under the same key and the server answers with the
// first result instead of writing again (api/idempotency.py), so each record reaches the database exactly once.
//
// A record that needs another's server id (a photo of a case reported offline) waits for it and takes the id
// when that one is sent. A refusal is kept with its answer for the worker: 409 (the case changed meanwhile) as a
// conflict to resolve, other 4xx as an error to correct or drop; nothing after a refused case report is sent
// in its name. IndexedDB through the idb library (npm, served from /app/vendor/idb).
import { openDB } from "/app/vendor/idb/index.js";
import { getToken } from "../api.js";
import { getReason } from "../reason.js";

const DB_NAME = "wangge-field";
let dbPromise = null;
export function db() {
  if (!dbPromise) {
    dbPromise = openDB(DB_NAME, 1, {
      upgrade(d) {
        d.createObjectStore("outbox", { keyPath: "id" });
        d.createObjectStore("track", { keyPath: "n", autoIncrement: true });
        d.createObjectStore("kv");
      },
    });
  }
  return dbPromise;
}

export const uid = () => (crypto.randomUUID ? crypto.randomUUID()
  : "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) => {
    const r = (Math.random() * 16) | 0;
    return (c === "x" ? r : (r & 0x3) | 0x8).toString(16);
  }));

// Records belong to the user who made them: another user signing in on the same phone neither sees nor sends them.
let user = null;
export function setUser(id) { user = id; }

const listeners = new Set();
export function onChange(fn) { listeners.add(fn); }
function changed(detail) { for (const fn of listeners) { try { fn(detail); } catch (exc) { console.error(exc); } } }

/**
 * Queue a request. kind: incident | action | photo | visit | patrol. path may hold "{incident}" when
 * dependsOn names a queued case report whose id it needs. json: a JSON body; or form: {fields, file, filename}.
 */
export async function enqueue({ kind, method = "POST", path, json = null, form = null, ifMatch = null,
                                dependsOn = null, label = "", meta = {} }) {
  const record = { id: uid(), key: uid(), user, kind, method, path, json, form, ifMatch, dependsOn, label, meta,
                   state: "pending", createdAt: new Date().toISOString(), attempts: 0, error: null, result: null };
  await (await db()).put("outbox", record);
  changed({ type: "queued", record });
  flush();
  return record;
}

export async function records() {
  const all = (await (await db()).getAll("outbox")).filter((r) => r.user === user);
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export async function drop(id) {
  const d = await db();
  const all = await d.getAll("outbox");
  // What waits for a dropped case report can never be sent: it goes with it.
  const gone = new Set([id]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const r of all) if (r.dependsOn && gone.has(r.dependsOn) && !gone.has(r.id)) { gone.add(r.id); grew = true; }
  }
  for (const g of gone) await d.delete("outbox", g);
  changed({ type: "dropped", ids: [...gone] });
}

// Send a refused record again as a new request (new key): the worker changed it or the case was reloaded.
export async function retry(id, changes = {}) {
  const d = await db();
  const record = await d.get("outbox", id);
  if (!record) return;
  Object.assign(record, changes, { key: uid(), state: "pending", error: null });
  await d.put("outbox", record);
  changed({ type: "retry", record });
  flush();
}

async function send(record) {
  const headers = { "Idempotency-Key": record.key };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const reason = getReason();
  if (reason) headers["X-Access-Reason"] = encodeURIComponent(reason);
  if (record.ifMatch !== null && record.ifMatch !== undefined) headers["If-Match"] = `"${record.ifMatch}"`;
  let body;
  if (record.json !== null) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(record.json);
  } else if (record.form) {
    body = new FormData();
    for (const [k, v] of Object.entries(record.form.fields || {})) if (v !== null && v !== undefined) body.append(k, v);
    if (record.form.file) body.append("file", record.form.file, record.form.filename || "file");
  }
  return fetch(record.path, { method: record.method, headers, body });
}

let running = null;
let again = false; // something was queued while a send was running: look once more before stopping
let stopped = false; // signed out, or the token is refused: wait for a sign-in

export function flush() {
  if (running) {
    again = true;
    return running;
  }
  running = (async () => {
    do {
      again = false;
      await drain();
    } while (again && !stopped);
  })().finally(() => { running = null; });
  return running;
}

export function resume() { stopped = false; return flush(); }

// Records waiting for a case report that has been sent take its server id.
async function resolveDependants(d) {
  for (const r of await d.getAll("outbox")) {
    if (!r.dependsOn) continue;
    const serverId = await d.get("kv", `sent:${r.dependsOn}`);
    if (serverId === undefined) continue;
    r.dependsOn = null;
    r.path = r.path.replace("{incident}", String(serverId));
    r.meta = { ...(r.meta || {}), incident: serverId };
    await d.put("outbox", r);
  }
}

async function drain() {
  if (stopped || !getToken() || user === null) return;
  const d = await db();
  for (;;) {
    await resolveDependants(d);
    const all = (await d.getAll("outbox")).filter((r) => r.user === user)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    // A record still naming the report it depends on waits: that report is queued, refused or dropped.
    const next = all.find((r) => r.state === "pending" && !r.dependsOn);
    if (!next) return;
    let response;
    try {
      next.attempts += 1;
      response = await send(next);
    } catch (exc) {
      changed({ type: "offline" });
      return; // no network: everything stays queued, in order, with its key
    }
    let data = null;
    const type = response.headers.get("content-type") || "";
    try { data = type.includes("json") ? await response.json() : await response.text(); } catch (_) { data = null; }
    if (response.ok) {
      const serverId = data && (data.incident ? data.incident.id : data.patrol ? data.patrol.id : data.id);
      // Kept before the record goes: a photo queued while its case report was on the way finds the id here.
      if (next.kind === "incident") await d.put("kv", serverId, `sent:${next.id}`);
      await d.delete("outbox", next.id);
      await resolveDependants(d);
      changed({ type: "sent", record: next, data, replayed: response.headers.get("Idempotent-Replayed") === "true" });
      continue;
    }
    if (response.status === 401) {
      stopped = true;
      changed({ type: "signin", record: next });
      return;
    }
    if (response.status >= 500 || response.status === 429 || response.status === 408
        || (response.status === 409 && data && data.error === "idempotency_key_in_progress")) {
      changed({ type: "later", record: next });
      return; // the server's trouble or a first send still running: try again later, same key
    }
    next.state = response.status === 409 ? "conflict" : "error";
    next.error = { status: response.status, code: data && data.error, message: (data && data.message) || String(data || ""),
                   details: data && data.details };
    await d.put("outbox", next);
    changed({ type: next.state, record: next });
  }
}

export async function pendingCount() {
  return (await records()).length;
}

// Patrol points survive a reload or a crash of the page: kept as they come.
export async function addPoint(point) { await (await db()).add("track", point); }
export async function points() { return (await db()).getAll("track"); }
export async function clearPoints() { await (await db()).clear("track"); }
export async function getValue(key) { return (await db()).get("kv", key); }
export async function setValue(key, value) { return (await db()).put("kv", value, key); }
