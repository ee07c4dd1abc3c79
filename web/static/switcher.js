// The views a role may switch between (?view=… in the address, so each is a bookmarkable page load) and the
// header links between them. main.js's VIEWS sends these roles here; grid workers keep their one view.
import { t } from "./i18n.js";
import "./i18n/workbench.js";

const TABS = {
  admin: [["users", "./admin.js"], ["audit", "./admin.js"], ["dashboard", "./dashboard.js"],
          ["workbench", "./workbench.js"], ["planner", "./planner.js"]],
  district_planner: [["planner", "./planner.js"], ["dashboard", "./dashboard.js"]],
  facility_planner: [["facility", "./facility.js"], ["dashboard", "./dashboard.js"]],
  grid_leader: [["workbench", "./workbench.js"], ["grids", "./worker.js"], ["field", "/app/field"]],
  viewer: [["dashboard", "./dashboard.js"], ["browse", "./planner.js"]],
};

// A path of its own ("/app/field") is another page: a link, never a view of this one.
const isPage = (path) => path.startsWith("/");

export function currentView(role) {
  const tabs = (TABS[role] || []).filter(([, path]) => !isPage(path));
  const wanted = new URLSearchParams(location.search).get("view");
  return (tabs.find(([name]) => name === wanted) || tabs[0] || [null])[0];
}

function installNav(role, current) {
  const tabs = TABS[role] || [];
  if (tabs.length < 2 || document.getElementById("view-nav")) return;
  const nav = document.createElement("nav");
  nav.id = "view-nav";
  nav.className = "view-nav";
  nav.setAttribute("aria-label", t("nav.label"));
  nav.dataset.i18nLabel = "nav.label";
  for (const [name, path] of tabs) {
    const a = document.createElement("a");
    a.href = isPage(path) ? path : `/app/?view=${name}`;
    a.dataset.i18n = `nav.${name}`;
    a.dataset.view = name;
    a.textContent = t(`nav.${name}`);
    if (name === current) a.setAttribute("aria-current", "page");
    nav.append(a);
  }
  const title = document.getElementById("view-title");
  title.after(nav);
  if (!document.querySelector("link[href$='workbench.css']")) {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = "/app/static/workbench.css";
    document.head.append(css);
  }
}

export async function start(context) {
  const role = context.me.role;
  const current = currentView(role);
  const [, path] = (TABS[role] || []).find(([name]) => name === current) || [null, "./planner.js"];
  installNav(role, current);
  const module = await import(path);
  const view = await module.start({ ...context, view: current });
  return {
    ...(view || {}),
    refreshText() {
      const nav = document.getElementById("view-nav");
      if (nav) nav.setAttribute("aria-label", t("nav.label"));
      if (view && view.refreshText) view.refreshText();
    },
  };
}
