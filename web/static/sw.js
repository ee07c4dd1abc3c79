// The field app's service worker: the pages, scripts and libraries, the worker's grid data and map tiles kept in
// the Cache API so that a shift goes on without a network. Writes are not its business: the page queues them in
// IndexedDB and sends each under an Idempotency-Key (field/outbox.js), because only the page holds the sign-in.
//
// Everything is network first (a fresh answer when there is a network, so an upgrade or a colleague's change is
// seen at once) and falls back to the last good copy when the network is gone or too slow. Only GETs of the app
// and of the API paths the field app reads are kept; personal data stays in the browser profile of the signed-in
// worker and is deleted with "sign out" (the page posts "clear").
const VERSION = "field-v1";
const SHELL = `${VERSION}-shell`;
const DATA = `${VERSION}-data`;
const TILES = `${VERSION}-tiles`;
const NETWORK_WAIT_MS = 6000; // a phone with one bar of signal: the cached copy after this long

const SHELL_FILES = [
  "/app/field", "/app/manifest.webmanifest", "/app/config.json", "/app/login",
  "/app/static/app.css", "/app/static/field/field.css", "/app/static/field/main.js", "/app/static/field/outbox.js",
  "/app/static/field/cases.js", "/app/static/field/patrol.js", "/app/static/field/visit.js",
  "/app/static/i18n.js", "/app/static/i18n/cases.js", "/app/static/i18n/field.js", "/app/static/api.js",
  "/app/static/ui.js", "/app/static/map.js", "/app/static/gcj02.js", "/app/static/reason.js",
  "/app/static/login.html", "/app/static/login.js",
  "/app/static/icons/field-192.png", "/app/static/icons/field-512.png",
  "/app/vendor/leaflet/leaflet.js", "/app/vendor/leaflet/leaflet.css",
  "/app/vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js", "/app/vendor/idb/index.js",
];
// API reads the field app makes; anything else passes straight through and is never stored.
const DATA_PATHS = [/^\/auth\/me$/, /^\/incidents(\/\d+)?$/, /^\/incidents\/overdue$/, /^\/grids(\/\d+)?$/,
                    /^\/communities$/, /^\/districts$/, /^\/buildings$/, /^\/visits(\/due)?$/, /^\/households$/,
                    /^\/departments$/, /^\/patrols\/coverage$/, /^\/stats\/grids$/, /^\/units\/\d+$/];

self.addEventListener("install", (event) => {
  // One missing file must not stop the rest being kept (each on its own).
  event.waitUntil(caches.open(SHELL).then((cache) => Promise.all(SHELL_FILES.map((url) =>
    cache.add(new Request(url, { cache: "reload" })).catch(() => null)))).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => !k.startsWith(VERSION))
    .map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});

self.addEventListener("message", (event) => {
  if (event.data === "clear") {
    event.waitUntil(Promise.all([caches.delete(DATA), caches.delete(TILES)]));
  }
});

function offlineAnswer(url) {
  const body = JSON.stringify({ error: "offline", message: "offline: no stored copy of " + url.pathname,
                                details: { path: url.pathname } });
  return new Response(body, { status: 503, headers: { "Content-Type": "application/json", "Retry-After": "30" } });
}

async function networkFirst(request, cacheName, key) {
  const cache = await caches.open(cacheName);
  const network = fetch(request).then((response) => {
    if (response.ok && response.type !== "opaqueredirect") cache.put(key, response.clone());
    return response;
  });
  network.catch(() => null); // answered from the cache meanwhile: a late failure is nobody's error
  let timer;
  const slow = new Promise((resolve) => { timer = setTimeout(resolve, NETWORK_WAIT_MS, null); });
  try {
    const first = await Promise.race([network, slow]);
    if (first) return first;
    const kept = await cache.match(key);
    return kept || await network;
  } catch (exc) {
    const kept = await cache.match(key);
    if (kept) return kept;
    throw exc;
  } finally {
    clearTimeout(timer);
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (request.mode === "navigate" && path.startsWith("/app/field")) {
    event.respondWith(networkFirst(request, SHELL, "/app/field").catch(() => offlineAnswer(url)));
  } else if (path.startsWith("/app/static/") || path.startsWith("/app/vendor/") || path === "/app/config.json"
             || path === "/app/manifest.webmanifest" || path === "/app/login") {
    event.respondWith(networkFirst(request, SHELL, url.pathname).catch(() => offlineAnswer(url)));
  } else if (path.startsWith("/tiles/")) {
    event.respondWith(fromField(event).then((field) => (field
      ? networkFirst(request, TILES, url.href).catch(() => new Response(null, { status: 204 })) : fetch(request))));
  } else if (DATA_PATHS.some((re) => re.test(path))) {
    event.respondWith(fromField(event).then((field) => (field
      ? networkFirst(request, DATA, url.href).catch(() => offlineAnswer(url)) : fetch(request))));
  }
});

// Data and tiles are kept for the field app only: the other pages under /app/ (planner, workbench) read
// through the worker as if it were not there, so nothing they show is left in the browser.
async function fromField(event) {
  const client = event.clientId ? await self.clients.get(event.clientId) : null;
  return Boolean(client && new URL(client.url).pathname.startsWith("/app/field"));
}
