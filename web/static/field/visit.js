// Household visits (入户走访) in the field app: the households of my grids due a visit (GET /visits/due, kept for
// offline), what was found, and optionally a case filed with it; queued as POST /visits in the outbox.
import { api } from "../api.js";
import { lang, t } from "../i18n.js";
import { PURPOSE_WORDS, TAG_WORDS } from "../i18n/field.js";
import { $, esc, formatTime, say } from "../ui.js";
import * as outbox from "./outbox.js";

async function dueList(ctx) {
  const items = [];
  let error = null;
  for (const grid of ctx.me.grids || []) {
    try {
      const { data } = await api("/visits/due", { params: { grid } });
      items.push(...(data.items || data || []));
    } catch (exc) {
      error = exc;
    }
  }
  return { items, error };
}

export async function prefetch(ctx) { await dueList(ctx); }

const word = (table, code) => (table[code] ? table[code][lang() === "en" ? 1 : 0] : table.other[lang() === "en" ? 1 : 0]);
const day = (iso) => (iso ? formatTime(iso, { date: true }).slice(0, 10) : "");

export async function render(panel, ctx) {
  panel.innerHTML = `<p>${t("loading")}</p>`;
  const { items, error } = await dueList(ctx);
  if (ctx.tab !== "visit") return;
  const cats = (ctx.config.incident_categories || []).filter((c) => c.class === "event");
  panel.innerHTML = `<h2>${t("field.visit.title")}</h2>
    <form id="visit-form">
    <label for="visit-household">${t("field.visit.due_list")}</label>
    ${error ? `<p class="error small">${esc(t("field.visit.unavailable", { msg: ctx.errorText(error) }))}</p>` : ""}
    <select id="visit-household"><option value="">—</option>${items.map((h) => `<option value="${h.household_id}">${
      esc(h.head_name || "")} · ${esc(word(TAG_WORDS, h.tag || "other"))} · ${
      h.overdue_days > 0 ? esc(t("field.visit.overdue", { n: h.overdue_days })) : esc(t("field.visit.due", { date: h.due_date }))} · ${
      h.last_visit ? esc(t("field.visit.last", { date: day(h.last_visit) })) : esc(t("field.visit.never"))}</option>`).join("")}</select>
    ${items.length ? "" : `<p class="small">${t("field.visit.none_due")}</p>`}
    <label for="visit-household-id">${t("field.visit.household_id")}</label>
    <input id="visit-household-id" type="number" min="1" inputmode="numeric">
    <label for="visit-purpose">${t("field.visit.purpose")}</label>
    <select id="visit-purpose">${Object.keys(PURPOSE_WORDS).map((p) => `<option value="${p}">${esc(word(PURPOSE_WORDS, p))}</option>`).join("")}</select>
    <label for="visit-findings">${t("field.visit.findings")}</label><textarea id="visit-findings" rows="3"></textarea>
    <label class="small"><input type="checkbox" id="visit-follow-up"> ${t("field.visit.follow_up")}</label>
    <div id="visit-case" hidden>
      <label for="visit-case-category">${t("field.report.category")}</label>
      <select id="visit-case-category">${cats.map((c) => `<option value="${esc(c.code)}">${esc(lang() === "en"
        ? `${c.category_en} · ${c.subcategory_en}` : `${c.category} · ${c.subcategory}`)}</option>`).join("")}</select>
      <label for="visit-case-description">${t("field.report.description")}</label><textarea id="visit-case-description" rows="2"></textarea>
    </div>
    <p class="error small" id="visit-error" role="alert"></p>
    <button type="submit" id="visit-submit">${t("field.visit.submit")}</button></form>`;
  $("#visit-follow-up").addEventListener("change", (e) => { $("#visit-case").hidden = !e.target.checked; });
  $("#visit-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const household = Number($("#visit-household-id").value || $("#visit-household").value);
    if (!household) {
      $("#visit-error").textContent = t("field.visit.choose");
      return;
    }
    const body = { household_id: household, visited_at: new Date().toISOString(), purpose: $("#visit-purpose").value,
                   findings: $("#visit-findings").value.trim() };
    if ($("#visit-follow-up").checked) {
      body.follow_up = { category: $("#visit-case-category").value, description: $("#visit-case-description").value.trim() };
    }
    $("#visit-submit").disabled = true;
    await outbox.enqueue({ kind: "visit", path: "/visits", json: body, label: `${household} · ${word(PURPOSE_WORDS, body.purpose)}`,
                           meta: { household } });
    say(t("field.visit.queued"));
    await outbox.flush();
    render(panel, ctx);
  });
}
