// Small DOM helpers shared by the views.
import { lang, t } from "./i18n.js";

export const $ = (sel, root = document) => root.querySelector(sel);

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                                          "'": "&#39;" })[c]);
}

export function html(el, markup) {
  el.innerHTML = markup;
  return el;
}

export function say(text, { error = false } = {}) {
  const box = $("#message");
  box.hidden = !text;
  box.textContent = text || "";
  box.classList.toggle("error", error);
}

export function fail(exc) {
  say(exc.message || String(exc), { error: true });
}

export const num = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("zh-CN"));

export function boundsClass(households, bounds) {
  if (households < bounds.min) return "under";
  if (households > bounds.max) return "over";
  return "ok";
}

export const BOUNDS_COLOURS = { under: "#6ea8fe", ok: "#75b798", over: "#e35d6a" };

export function boundsLegend(bounds) {
  const row = (cls, key) => `<div><i style="background:${BOUNDS_COLOURS[cls]}"></i>${t(key, bounds)}</div>`;
  return `<strong>${t("legend.households", bounds)}</strong>${row("under", "legend.under")}${row("ok", "legend.ok")}` +
         `${row("over", "legend.over")}`;
}

// Poll a background job until it ends, reporting progress; never blocks the page.
export async function waitForJob(api, href, onProgress) {
  for (;;) {
    const { data } = await api(href);
    onProgress(data);
    if (data.status === "done") return data;
    if (data.status === "failed" || data.status === "error" || data.error) {
      const err = new Error((data.error && data.error.message) || "job failed");
      throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

// Every time a person reads is Beijing time, whatever the browser's zone: the API sends ISO 8601 with an offset
// and grid staff read clock times of Asia/Shanghai. One formatter per language, built once.
const TIME_FORMATS = {};
export function formatTime(iso, { date = true, seconds = false } = {}) {
  if (iso === null || iso === undefined || iso === "") return "—";
  const when = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(when.getTime())) return String(iso);
  const locale = lang() === "en" ? "en-GB" : "zh-CN";
  const key = `${locale}|${date}|${seconds}`;
  if (!TIME_FORMATS[key]) {
    const opts = { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (date) Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit" });
    if (seconds) opts.second = "2-digit";
    TIME_FORMATS[key] = new Intl.DateTimeFormat(locale, opts);
  }
  return TIME_FORMATS[key].format(when);
}
