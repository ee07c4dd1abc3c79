// The community ledgers page (三张清单): a community's needs, resources and projects with their figures, a map of the
// needs (status dots, a heat view weighted by the people affected), which needs have no resource within a 500 m walk,
// printable on A4 and exported as XLSX or CSV. Everything comes from the API with the signed-in user's token, so the
// user's scope decides what is listed (grid staff their grids, a unit its own resources and claimed projects).
import { api, getToken } from "./api.js";
import { installToggle, lang, t } from "./i18n.js";
import "./i18n/ledgers.js";
import { askReason, getReason, setReasonDefault, showReason } from "./reason.js";
import { $, esc, formatTime, num } from "./ui.js";

const RADIUS = 500;
const STATUS_COLOURS = { open: "#d62728", matched: "#ff7f0e", in_progress: "#1f77b4", closed: "#2ca02c",
                         rejected: "#7f7f7f" };
let state = null;
let map = null;
let layers = {};

// Used by main.js for the unit_contact role: their home is this page.
export async function start() {
  location.href = "/app/ledgers";
  return {};
}

const word = (prefix, code) => (code ? t(prefix + code) : "—");
const kindName = (code, zh, en) => (t("need.kind." + code) !== "need.kind." + code ? t("need.kind." + code)
                                                                                    : (lang() === "en" ? en : zh) || code);

function say(text, error = false) {
  const box = $("#message");
  box.hidden = !text;
  box.textContent = text || "";
  box.classList.toggle("error", error);
}

function figures() {
  const f = state.lists.figures || {};
  const claims = `${num(f.unit_claims || 0)} / ${num(f.party_member_claims || 0)}`;
  const cells = [
    ["ledgers.fig.needs", num(f.needs || 0), "fig-needs"],
    ["ledgers.fig.open", num(f.needs_open || 0), "fig-open"],
    ["ledgers.fig.met", num(f.needs_met || 0), "fig-met"],
    ["ledgers.fig.unserved", num(state.reach.needs_without_resource), "fig-unserved"],
    ["ledgers.fig.resources", num(state.lists.resources.length), "fig-resources"],
    ["ledgers.fig.projects_done", num((f.projects_by_status || {}).done || 0), "fig-projects-done"],
    ["ledgers.fig.claims", claims, "fig-claims"],
    ["ledgers.fig.hours", num(f.volunteer_hours || 0), "fig-hours"],
  ];
  $("#figures").innerHTML = cells.map(([key, value, id]) =>
    `<div class="figure"><b id="${id}">${esc(value)}</b>${esc(t(key, { r: RADIUS }))}</div>`).join("");
}

function table(el, headers, rows) {
  const head = `<thead><tr>${headers.map((h) => `<th>${esc(t(h))}</th>`).join("")}</tr></thead>`;
  const body = rows.length ? rows.join("")
    : `<tr><td colspan="${headers.length}">${esc(t("ledgers.none"))}</td></tr>`;
  el.innerHTML = head + `<tbody>${body}</tbody>`;
}

function needsTable() {
  const reach = Object.fromEntries(state.reach.items.map((i) => [i.need_id, i]));
  const rows = state.lists.needs.map((n) => {
    const r = reach[n.id];
    let where = "—";
    let cls = "";
    if (r) {
      cls = r.resources.length ? "" : "none";
      where = r.resources.length
        ? r.resources.slice(0, 2).map((x) => t("ledgers.nearest", { name: x.name, d: Math.round(x.distance_m) })).join("；")
        : t("reach.reason." + r.reason, { r: RADIUS });
    }
    const outcome = n.outcome ? word("need.outcome.", n.outcome) : "";
    const status = word("need.status.", n.status) + (outcome ? (lang() === "en" ? ` (${outcome})` : `（${outcome}）`) : "");
    return `<tr data-need="${n.id}"><td>${n.id}</td><td>${esc(kindName(n.kind_code, n.kind_zh, n.kind_en))}</td>` +
      `<td>${esc(n.title)}</td><td>${esc(n.grid_code || "—")}</td>` +
      `<td>${num(n.affected_households)} / ${num(n.affected_people)}</td><td>${esc(word("need.source.", n.source))}</td>` +
      `<td class="status">${esc(status)}</td><td class="reach ${cls}">${esc(where)}</td>` +
      `<td>${esc(formatTime(n.created_at))}</td></tr>`;
  });
  table($("#needs-table"), ["ledgers.col.id", "ledgers.col.kind", "ledgers.col.title", "ledgers.col.grid",
                            "ledgers.col.affected", "ledgers.col.source", "ledgers.col.status", "ledgers.col.reach",
                            "ledgers.col.recorded"], rows);
}

function resourcesTable() {
  const rows = state.lists.resources.map((r) => {
    const serves = r.kind_codes.length ? r.kind_codes.map((k) => kindName(k, k, k)).join("、") : t("ledgers.any_kind");
    const contact = [r.contact_name, r.contact_phone].filter(Boolean).join(" ") || "—";
    const provider = word("resource.provider.", r.provider_kind) + (r.unit_name ? `：${r.unit_name}` : "");
    return `<tr data-resource="${r.id}"><td>${r.id}</td><td>${esc(r.name)}</td><td>${esc(provider)}</td>` +
      `<td>${esc(serves)}</td><td>${esc(r.available || "—")}</td><td>${r.capacity ?? "—"}</td>` +
      `<td>${esc(contact)}</td></tr>`;
  });
  table($("#resources-table"), ["ledgers.col.id", "ledgers.col.name", "ledgers.col.provider", "ledgers.col.serves",
                                "ledgers.col.available", "ledgers.col.capacity", "ledgers.col.contact"], rows);
}

function projectsTable() {
  const rows = state.lists.projects.map((p) => `<tr data-project="${p.id}"><td>${p.id}</td><td>${esc(p.title)}</td>` +
    `<td>${esc(kindName(p.kind_code, p.kind_code, p.kind_code))}</td>` +
    `<td class="status">${esc(word("project.status.", p.status))}</td>` +
    `<td>${esc(p.starts_on || "—")} ~ ${esc(p.ends_on || "—")}</td><td>${num(p.units)} / ${num(p.party_members)}</td>` +
    `<td>${num(p.volunteers)} / ${num(p.hours)}</td><td>${esc(p.resources || "—")}</td>` +
    `<td>${esc(p.outcome || "—")}</td></tr>`);
  table($("#projects-table"), ["ledgers.col.id", "ledgers.col.project", "ledgers.col.kind", "ledgers.col.status",
                               "ledgers.col.dates", "ledgers.col.claims", "ledgers.col.volunteers",
                               "ledgers.col.resources_used", "ledgers.col.outcome"], rows);
}

function drawMap() {
  if (!window.L) return;
  if (!map) {
    // No basemap: offline networks draw the community outline and the needs on plain paper.
    map = L.map("needs-map", { zoomControl: true, attributionControl: false, preferCanvas: true });
    $("#heat-toggle").addEventListener("change", (event) => {
      if (!layers.heat) return;
      if (event.target.checked) layers.heat.addTo(map);
      else map.removeLayer(layers.heat);
    });
  }
  for (const layer of Object.values(layers)) if (layer && map.hasLayer(layer)) map.removeLayer(layer);
  layers = {};
  const bounds = L.latLngBounds([]);
  if (state.outline) {
    layers.outline = L.geoJSON(state.outline, { style: { color: "#c00", weight: 2, fill: false } }).addTo(map);
    bounds.extend(layers.outline.getBounds());
  }
  const features = state.layer.features;
  layers.needs = L.geoJSON(state.layer, {
    pointToLayer: (f, latlng) => L.circleMarker(latlng, {
      radius: 5 + Math.min(8, Math.sqrt(f.properties.affected_people || 1)), weight: 1, color: "#333",
      fillColor: STATUS_COLOURS[f.properties.status] || "#999", fillOpacity: 0.85,
    }).bindTooltip(`${kindName(f.properties.kind_code, f.properties.name_zh, f.properties.name_en)} · ` +
                   `${word("need.status.", f.properties.status)}`),
  }).addTo(map);
  if (features.length) bounds.extend(layers.needs.getBounds());
  // Resources as blue squares; each open need joined to its nearest resource within the walk (dashed).
  const resources = state.lists.resources.filter((r) => r.active !== false);
  layers.resources = L.layerGroup(resources.map((r) => L.marker([r.lat, r.lon], {
    icon: L.divIcon({ className: "resource-icon", iconSize: [10, 10] }), keyboard: false,
  }).bindTooltip(`${r.name} · ${word("resource.provider.", r.provider_kind)}`))).addTo(map);
  const at = Object.fromEntries(state.lists.resources.map((r) => [r.id, [r.lat, r.lon]]));
  const lines = state.reach.items.filter((i) => i.resources.length && at[i.resources[0].resource_id])
    .map((i) => L.polyline([[i.lat, i.lon], at[i.resources[0].resource_id]],
                           { color: "#1f77b4", weight: 1.5, dashArray: "4 4" })
      .bindTooltip(t("ledgers.nearest", { name: i.resources[0].name, d: Math.round(i.resources[0].distance_m) })));
  layers.reach = L.layerGroup(lines).addTo(map);
  for (const r of resources) bounds.extend([r.lat, r.lon]);
  document.body.dataset.resourcesOnMap = String(resources.length);
  document.body.dataset.reachLines = String(lines.length);
  if (L.heatLayer) {
    const points = features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0],
                                        Math.max(1, f.properties.affected_people || 1)]);
    layers.heat = L.heatLayer(points, { radius: 25, blur: 15, max: Math.max(1, ...points.map((p) => p[2])) });
    if ($("#heat-toggle").checked) layers.heat.addTo(map);
  }
  if (bounds.isValid()) map.fitBounds(bounds.pad(0.1));
  else map.setView([32.04, 118.78], 14);
  $("#map-legend").textContent = t("ledgers.legend");
  document.body.dataset.needsOnMap = String(features.length);
}

function render() {
  if (!state) return;
  const c = state.lists.community;
  $("#community-name").textContent = `${c.name}（${c.code}）`;
  $("#issuer").textContent = [c.district_name, c.street_name].filter(Boolean).join(" ") || c.street_code || "";
  $("#generated-at").textContent = formatTime(state.lists.generated_at);
  figures();
  needsTable();
  resourcesTable();
  projectsTable();
  drawMap();
}

async function load(code) {
  say("");
  const [lists, reach, layer] = await Promise.all([
    api(`/ledgers/communities/${code}/lists`),
    api("/ledgers/needs/reach", { params: { community_code: code, district_code: code.slice(0, 6), radius_m: RADIUS } }),
    api("/ledgers/needs/layer", { params: { community_code: code } }),
  ]);
  let outline = null;
  try {
    outline = (await api(`/communities/${code}`)).data;
  } catch (exc) {
    outline = null; // the lists stand without the outline
  }
  state = { lists: lists.data, reach: reach.data, layer: layer.data, outline };
  render();
  document.body.dataset.ready = "1";
}

async function download(params) {
  const code = $("#community-select").value;
  // A download is not an api() call (the body is a file): the reason goes along as api.js sends it.
  const reason = getReason() || (await askReason());
  const response = await fetch(`/ledgers/communities/${code}/export?` + new URLSearchParams(params), {
    headers: { Authorization: `Bearer ${getToken()}`, "X-Access-Reason": encodeURIComponent(reason) } });
  if (!response.ok) throw new Error((await response.json()).message);
  const file = (response.headers.get("content-disposition") || "").match(/filename="([^"]+)"/)?.[1] || "ledgers";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = file;
  document.body.appendChild(link);
  link.click();
  link.remove();
  say(t("ledgers.exported", { file }));
}

async function init() {
  if (!getToken()) {
    location.href = "/app/login";
    return;
  }
  installToggle(render);
  showReason();
  const me = (await api("/auth/me")).data;
  setReasonDefault(["grid_leader", "grid_worker"].includes(me.role) ? "reason.default.worker" : "reason.default.planner");
  const communities = (await api("/communities", { params: me.district_code ? { district_code: me.district_code } : {} }))
    .data.features.map((f) => f.properties);
  const select = $("#community-select");
  select.innerHTML = communities.map((c) => `<option value="${esc(c.code)}">${esc(c.name)}（${esc(c.code)}）</option>`)
    .join("");
  const wanted = new URLSearchParams(location.search).get("community");
  if (wanted) select.value = wanted;
  if (!select.value) {
    say(t("ledgers.no_community"), true);
    return;
  }
  select.addEventListener("change", () => {
    history.replaceState(null, "", `?community=${select.value}`);
    load(select.value).catch((exc) => say(exc.message, true));
  });
  $("#print-button").addEventListener("click", () => window.print());
  $("#export-xlsx").addEventListener("click", () => download({ format: "xlsx" }).catch((exc) => say(exc.message, true)));
  $("#export-csv").addEventListener("click", () => download({ format: "csv", list: "needs" })
    .catch((exc) => say(exc.message, true)));
  await load(select.value);
}

// A failure is worded from its code where the page knows it; the page is ready either way.
function failed(exc) {
  const reason = exc && exc.body && exc.body.details && exc.body.details.reason;
  const key = `ledgers.error.${reason}`;
  say(reason && t(key) !== key ? t(key) : exc.message, true);
}

if (document.body.dataset.page === "ledgers") {
  init().catch(failed).finally(() => { document.body.dataset.ready = "1"; });
}
