// The district dashboard (区情看板) for planners, viewers and admins: headline figures, each with a chart drawn
// by ECharts (npm, served from /app/vendor/echarts), and every chart filtering the map: click a bar and the map
// shows the grids behind it. The figures come from the routes that own them (GET /stats/grids, /coverage/runs,
// /stats/case-status, /patrols/weekly); the page only counts and draws. Each chart's data is also a table whose
// rows filter the map too, so the keyboard and screen readers reach the same thing.
import { api } from "./api.js";
import { lang, t } from "./i18n.js";
import { word } from "./i18n/workbench.js";
import { createMap, geoOptions } from "./map.js";
import { $, esc, fail, html, num, say } from "./ui.js";

const GRID_STYLE = { color: "#1d3f66", weight: 1, fillColor: "#9ec5fe", fillOpacity: 0.15, opacity: 0.6 };
const GRID_DIM = { color: "#999", weight: 0.5, fillOpacity: 0.02, opacity: 0.3 };
const GRID_HIT = { color: "#d63384", weight: 3, fillColor: "#d63384", fillOpacity: 0.35, opacity: 1 };
const BAND_COLOURS = { under: "#6ea8fe", ok: "#75b798", over: "#e35d6a" };

let map, me, config, gridLayer;
const charts = {};
const data = { grids: [], stats: new Map(), communities: new Map(), coverage: [], cases: null, patrols: null,
               errors: {} };
let filter = null; // { key, label, codes: Set }

// --- ECharts, loaded once from our own copy -------------------------------------------------------

function loadECharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/app/vendor/echarts/echarts.min.js";
    script.onload = () => resolve(window.echarts);
    script.onerror = () => reject(new Error(t("libs.missing")));
    document.head.append(script);
  });
}

// --- data -------------------------------------------------------------------------------------------

async function attempt(name, load) {
  try {
    await load();
  } catch (exc) {
    data.errors[name] = exc.message;
  }
}

async function loadAll(district) {
  const params = { district_code: district, limit: 1000 };
  await Promise.all([
    attempt("grids", async () => {
      const [{ data: grids }, { data: stats }, { data: communities }] = await Promise.all([
        api("/grids", { params }), api("/stats/grids", { params: { district_code: district } }),
        api("/communities", { params })]);
      data.grids = grids.features;
      for (const s of stats.items) data.stats.set(s.grid_code, s);
      for (const c of communities.features) data.communities.set(c.properties.code, c.properties.name);
    }),
    attempt("coverage", async () => {
      const { data: runs } = await api("/coverage/runs", { params: { district_code: district, limit: 100 } });
      // The newest finished run that holds each type (runs come newest first).
      const newest = new Map();
      for (const run of runs.items.filter((r) => r.status === "done" && r.district_code === district)) {
        for (const type of run.type_codes) if (!newest.has(type)) newest.set(type, run.id);
      }
      const details = new Map();
      for (const id of new Set(newest.values())) details.set(id, (await api(`/coverage/runs/${id}`)).data);
      data.coverage = [...newest].map(([type, id]) => ({ type, run: id, ...details.get(id).types[type] }))
        .filter((c) => c.district);
    }),
    attempt("cases", async () => {
      data.cases = (await api("/stats/case-status", { params: { district_code: district } })).data;
    }),
    attempt("patrols", async () => {
      data.patrols = (await api("/patrols/weekly", { params: { district_code: district } })).data;
    }),
  ]);
}

// --- the figures behind each chart: label, value and the grids a click shows --------------------

function bandOf(households) {
  const { min, max } = config.grid_bounds;
  return households < min ? "under" : households > max ? "over" : "ok";
}

function bandSeries() {
  const rows = ["under", "ok", "over"].map((band) => ({ key: band, label: t(`dash.band.${band}`), codes: [] }));
  for (const s of data.stats.values()) rows.find((r) => r.key === bandOf(s.households)).codes.push(s.grid_code);
  return rows.map((r) => ({ ...r, value: r.codes.length, filter: t("dash.filter.band", { band: r.label }) }));
}

function householdSeries() {
  const byCommunity = new Map();
  for (const s of data.stats.values()) {
    const row = byCommunity.get(s.community_code) || { key: s.community_code, codes: [], recorded: 0, estimated: 0,
      label: data.communities.get(s.community_code) || s.community_code };
    const dq = s.data_quality || {};
    row.recorded += dq.households_recorded || 0;
    row.estimated += dq.households_estimated || 0;
    row.codes.push(s.grid_code);
    byCommunity.set(s.community_code, row);
  }
  return [...byCommunity.values()].sort((a, b) => a.key.localeCompare(b.key))
    .map((r) => ({ ...r, filter: t("dash.filter.community", { name: r.label }) }));
}

function typeName(c) {
  return lang() === "en" ? c.name_en || c.type : c.name_zh || c.type;
}

function coverageSeries() {
  return data.coverage.map((c) => ({
    key: c.type, label: typeName(c), value: Math.round(1000 * (c.district.households_covered_share || 0)) / 10,
    codes: (c.grids || []).filter((g) => (g.households_covered_share ?? 0) < 1).map((g) => g.grid_code),
    filter: t("dash.filter.coverage", { type: typeName(c) }),
  }));
}

function caseSeries() {
  if (!data.cases) return [];
  return Object.entries(data.cases.statuses).map(([code, n]) => ({
    key: code, label: word(t, "wb.status.", code), value: n,
    codes: data.cases.grids.filter((g) => g.statuses[code]).map((g) => g.grid_code),
    filter: t("dash.filter.status", { status: word(t, "wb.status.", code) }),
  }));
}

function patrolSeries() {
  if (!data.patrols) return [];
  const grids = data.patrols.grids || [];
  return [["patrolled", false], ["missed", true]].map(([key, missed]) => {
    const codes = grids.filter((g) => Boolean(g.missed) === missed).map((g) => g.grid_code);
    return { key, label: t(`dash.${key}`), value: codes.length, codes, filter: t("dash.filter.patrol", {
      state: t(`dash.${key}`) }) };
  });
}

// --- the map filter -----------------------------------------------------------------------------------

function applyFilter(next) {
  filter = next && next.codes.length ? { ...next, codes: new Set(next.codes) } : next ? { ...next, codes: new Set() } : null;
  const element = $("#map");
  const hits = [];
  gridLayer.eachLayer((layer) => {
    const code = layer.feature.properties.code;
    const hit = filter && filter.codes.has(code);
    layer.setStyle(!filter ? GRID_STYLE : hit ? GRID_HIT : GRID_DIM);
    if (hit) {
      layer.bringToFront();
      hits.push(layer);
    }
  });
  if (hits.length) map.fitBounds(L.featureGroup(hits).getBounds(), { padding: [20, 20], maxZoom: 17 });
  element.dataset.filter = filter ? filter.key : "";
  element.dataset.filterCount = filter ? String(filter.codes.size) : "";
  element.dataset.filterGrids = filter ? [...filter.codes].sort().join(",") : "";
  renderFilter();
}

function renderFilter() {
  const box = $("#dash-filter");
  if (!filter) {
    html(box, "");
    box.hidden = true;
    return;
  }
  box.hidden = false;
  html(box, `<span id="filter-text">${esc(t("common.map_filter", { what: filter.label, n: filter.codes.size }))}</span>
    <button type="button" class="link" id="filter-clear">${t("common.clear_filter")}</button>`);
}

// --- charts -------------------------------------------------------------------------------------------

const CHARTS = [
  { id: "bands", title: "dash.grids_in_range", axis: "dash.grid_count", series: bandSeries,
    colour: (r) => BAND_COLOURS[r.key] },
  { id: "households", title: "dash.households", axis: "dash.households_axis", series: householdSeries, stacked: true },
  { id: "coverage", title: "dash.coverage", axis: "dash.covered_share", series: coverageSeries, max: 100 },
  { id: "cases", title: "dash.cases", axis: "dash.case_count", series: caseSeries },
  { id: "patrols", title: "dash.patrols", axis: "dash.grid_count", series: patrolSeries,
    colour: (r) => (r.key === "missed" ? "#dc3545" : "#198754") },
];

function chartOption(spec, rows) {
  const base = {
    animation: false,
    grid: { left: 8, right: 16, top: spec.stacked ? 30 : 12, bottom: 8, containLabel: true },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    xAxis: { type: "category", data: rows.map((r) => r.label),
             axisLabel: { interval: 0, rotate: rows.length > 6 ? 40 : 0, fontSize: 11 } },
    yAxis: { type: "value", name: t(spec.axis), max: spec.max, minInterval: 1 },
  };
  if (spec.stacked) {
    return { ...base, legend: { top: 0, data: [t("dash.recorded"), t("dash.estimated")] },
      series: [
        { name: t("dash.recorded"), type: "bar", stack: "h", data: rows.map((r) => r.recorded),
          itemStyle: { color: "#198754" } },
        { name: t("dash.estimated"), type: "bar", stack: "h", data: rows.map((r) => r.estimated),
          itemStyle: { color: "#adb5bd" } }] };
  }
  return { ...base, series: [{ name: t(spec.title), type: "bar", barMaxWidth: 48,
    data: rows.map((r) => ({ value: r.value, itemStyle: spec.colour ? { color: spec.colour(r) } : undefined })),
    label: { show: true, position: "top", fontSize: 11 } }] };
}

function drawChart(spec) {
  const rows = spec.series();
  const element = $(`#chart-${spec.id}`);
  if (!charts[spec.id]) {
    charts[spec.id] = window.echarts.init(element, null, { renderer: "svg" });
    charts[spec.id].on("click", (params) => {
      const row = spec.rows[params.dataIndex];
      if (row) applyFilter({ key: `${spec.id}:${row.key}`, label: row.filter, codes: row.codes });
    });
  }
  spec.rows = rows;
  element.setAttribute("aria-label", `${t(spec.title)}: ${rows.map((r) => `${r.label} ${
    spec.stacked ? `${r.recorded}/${r.estimated}` : r.value}`).join("; ")}`);
  charts[spec.id].setOption(chartOption(spec, rows), true);
  const table = $(`#table-${spec.id}`);
  html(table, `<table class="list"><thead><tr><th scope="col">${t("dash.col.figure")}</th>
    <th scope="col" class="num">${t("dash.col.value")}</th><th scope="col">${t("common.show_on_map")}</th></tr></thead>
    <tbody>${rows.map((r, i) => `<tr><td>${esc(r.label)}</td><td class="num">${spec.stacked
      ? `${num(r.recorded)} / ${num(r.estimated)}` : num(r.value)}</td><td><button type="button" class="secondary"
      data-chart="${spec.id}" data-index="${i}">${t("common.show_on_map")}</button></td></tr>`).join("")}</tbody></table>`);
}

// --- headline figures -----------------------------------------------------------------------------

function figures() {
  const stats = [...data.stats.values()];
  const bands = bandSeries();
  const { min, max } = config.grid_bounds;
  const recorded = stats.reduce((s, g) => s + ((g.data_quality || {}).households_recorded || 0), 0);
  const estimated = stats.reduce((s, g) => s + ((g.data_quality || {}).households_estimated || 0), 0);
  const cards = [
    ["grids-in-range", "dash.grids_in_range", t("dash.grids_in_range_value", { ok: bands[1].value, n: stats.length,
      under: bands[0].value, over: bands[2].value, min, max })],
    ["households", "dash.households", t("dash.households_value", { r: num(recorded), e: num(estimated),
      p: recorded + estimated ? ((100 * recorded) / (recorded + estimated)).toFixed(1) : "0.0" })],
    ["coverage", "dash.coverage", data.coverage.length ? data.coverage.map((c) => `${typeName(c)} ${
      ((c.district.households_covered_share || 0) * 100).toFixed(1)}%`).join("；") : t("dash.coverage_none")],
    ["cases", "dash.cases", data.cases ? t("dash.cases_value", { n: num(data.cases.total), open: num(data.cases.open) })
      : data.errors.cases || "—"],
    ["patrols", "dash.patrols", data.patrols ? t("dash.patrols_value", { patrolled: data.patrols.summary.patrolled,
      grids: data.patrols.summary.grids }) : data.errors.patrols || "—"],
  ];
  return cards.map(([id, label, value]) => `<div class="figure" id="figure-${id}"><div class="label">${t(label)}</div>
    <div class="value">${esc(value)}</div></div>`).join("");
}

function render() {
  $("#view-title").textContent = t("dash.title");
  $("#dash-heading").textContent = t("dash.title");
  $("#dash-hint").textContent = t("dash.chart_hint");
  html($("#dash-figures"), figures());
  for (const spec of CHARTS) {
    $(`#chart-title-${spec.id}`).textContent = t(spec.title);
    const error = data.errors[spec.id === "bands" || spec.id === "households" ? "grids" : spec.id];
    $(`#error-${spec.id}`).textContent = error || "";
    drawChart(spec);
  }
  if (filter) {
    // The filter's words follow the language too: find its row again by key.
    const [chartId, key] = filter.key.split(":");
    const spec = CHARTS.find((c) => c.id === chartId);
    const row = spec && spec.rows.find((r) => r.key === key);
    if (row) filter.label = row.filter;
    renderFilter();
  }
}

function layout() {
  html($("#panel"), `<h2 id="dash-heading"></h2><p class="small" id="dash-hint"></p>
    <div id="dash-filter" class="map-filter" role="status" hidden></div>
    <div class="figures" id="dash-figures"></div>
    ${CHARTS.map((spec) => `<section aria-labelledby="chart-title-${spec.id}"><h3 id="chart-title-${spec.id}"></h3>
      <p class="error small" id="error-${spec.id}"></p>
      <div class="chart" id="chart-${spec.id}" role="img"${spec.id === "households" ? ' style="height:300px"' : ""}></div>
      <details><summary>${esc(t("dash.table"))}</summary><div id="table-${spec.id}"></div></details></section>`)
      .join("")}`);
  $("#panel").addEventListener("click", (e) => {
    if (e.target.closest("#filter-clear")) return void applyFilter(null);
    const button = e.target.closest("[data-chart]");
    if (!button) return;
    const spec = CHARTS.find((c) => c.id === button.dataset.chart);
    const row = spec.rows[Number(button.dataset.index)];
    applyFilter({ key: `${spec.id}:${row.key}`, label: row.filter, codes: row.codes });
  });
}

export async function start(context) {
  ({ me, config } = context);
  document.body.classList.add("wide-panel");
  $("#view-title").textContent = t("dash.title");
  try {
    await loadECharts();
  } catch (exc) {
    fail(exc);
    return {};
  }
  const { data: districts } = await api("/districts");
  const district = districts.items.find((d) => d.code === me.district_code) || districts.items[0];
  map = createMap("map", config, district.bbox);
  layout();
  await loadAll(district.code);
  gridLayer = L.geoJSON({ type: "FeatureCollection", features: data.grids }, geoOptions({
    style: () => GRID_STYLE,
    onEachFeature: (f, layer) => layer.bindTooltip(`${esc(f.properties.name)} ${esc(f.properties.code)}`),
  })).addTo(map);
  render();
  if (data.errors.grids) say(data.errors.grids, { error: true });
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  // Tests and the curious read the charts' figures from the instances.
  window.wanggeCharts = charts;
  return { map, refreshText: render };
}
