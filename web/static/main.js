// After sign-in: who am I, then the view of my role.
import { api, clearToken, getToken } from "./api.js";
import { installToggle, t } from "./i18n.js";
import { $, fail, say } from "./ui.js";

const VIEWS = {
  admin: "./planner.js",
  district_planner: "./planner.js",
  facility_planner: "./facility.js",
  grid_leader: "./worker.js",
  grid_worker: "./worker.js",
  viewer: "./planner.js",
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
  installToggle(() => view && view.refreshText && view.refreshText());
  $("#logout").addEventListener("click", () => {
    clearToken();
    location.href = "/app/login";
  });
  try {
    const [{ data: me }, { data: config }] = await Promise.all([api("/auth/me"), api("/app/config.json")]);
    $("#who").textContent = `${me.display_name || me.username} · ${t("role." + me.role)}`;
    document.body.dataset.role = me.role;
    const module = await import(VIEWS[me.role] || "./planner.js");
    view = await module.start({ me, config });
    document.body.dataset.ready = "1";
  } catch (exc) {
    fail(exc);
  }
}

start();
