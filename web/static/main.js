// After sign-in: who am I, then the view of my role.
import { api, clearToken, getToken } from "./api.js";
import { installToggle, t } from "./i18n.js";
import { installReason, setReasonDefault, showReason } from "./reason.js";
import { $, fail, say } from "./ui.js";

const VIEWS = {
  admin: "./switcher.js",  // the views in switcher.js TABS (?view=)
  district_planner: "./switcher.js",  // the views in switcher.js TABS (?view=)
  facility_planner: "./switcher.js",  // the views in switcher.js TABS (?view=)
  grid_leader: "./switcher.js",  // the views in switcher.js TABS (?view=)
  grid_worker: "./worker.js",
  viewer: "./switcher.js",  // the views in switcher.js TABS (?view=)
  unit_contact: "./ledgers.js",  // a resident unit's user: the community ledgers page (issue 22)
  supervisor: "./field_page.js",  // case lists with the steps each may take (issue 18)
  department_staff: "./field_page.js",
  street_officer: "./field_page.js",
  community_officer: "./field_page.js",
};
// What each view most often reads personal records for: the reason offered when it first asks.
const REASON_DEFAULTS = {
  admin: "reason.default.planner",
  district_planner: "reason.default.planner",
  facility_planner: "reason.default.facility",
  grid_leader: "reason.default.worker",
  grid_worker: "reason.default.worker",
  viewer: "reason.default.planner",
};

async function start() {
  if (!getToken()) {
    location.href = "/app/login";
    return;
  }
  if (typeof L === "undefined" || !L.vectorGrid) {
    say(t("libs.missing"), { error: true });
    return;
  }
  let view;
  installToggle(() => {
    showReason();
    if (view && view.refreshText) view.refreshText();
  });
  installReason();
  $("#logout").addEventListener("click", () => {
    clearToken();
    location.href = "/app/login";
  });
  try {
    const [{ data: me }, { data: config }] = await Promise.all([api("/auth/me"), api("/app/config.json")]);
    $("#who").textContent = `${me.display_name || me.username} · ${t("role." + me.role)}`;
    document.body.dataset.role = me.role;
    setReasonDefault(REASON_DEFAULTS[me.role] || "reason.default.planner");
    const module = await import(VIEWS[me.role] || "./planner.js");
    view = await module.start({ me, config });
    document.body.dataset.ready = "1";
  } catch (exc) {
    fail(exc);
  }
}

start();
