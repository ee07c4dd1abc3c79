// Why personal records are read (X-Access-Reason, kept in the audit log with every read): asked once per browser
// session with the view's default, kept in sessionStorage (gone with the tab), sent by api.js with every request,
// changed from the header bar. The API answers 428 to a read of personal records without one.
import { t } from "./i18n.js";

const KEY = "wangge.reason";
export const MAX_REASON = 200; // api/deps.py MAX_ACCESS_REASON

let defaultKey = "reason.default.planner";
let pending = null;
let settle = null;

export const getReason = () => sessionStorage.getItem(KEY);
export const clearReason = () => sessionStorage.removeItem(KEY);

export function setReasonDefault(key) {
  defaultKey = key;
}

// The header bar's button: the reason in force, in the current language; hidden until there is one.
export function showReason() {
  const button = document.getElementById("reason-change");
  if (!button) return;
  const reason = getReason();
  button.hidden = !reason;
  button.textContent = reason ? t("reason.current", { reason }) : "";
  button.title = t("reason.change");
}

function finish(outcome) {
  const dialog = document.getElementById("reason-dialog");
  if (dialog.open) dialog.close();
  const done = settle;
  settle = null;
  pending = null;
  done(outcome);
}

function install() {
  const dialog = document.getElementById("reason-dialog");
  if (dialog.dataset.installed) return dialog;
  dialog.dataset.installed = "1";
  const input = document.getElementById("reason-input");
  input.maxLength = MAX_REASON;
  document.getElementById("reason-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      document.getElementById("reason-error").textContent = t("reason.empty");
      return;
    }
    sessionStorage.setItem(KEY, value);
    showReason();
    finish({ reason: value });
  });
  const decline = () => finish({ reason: getReason() });
  document.getElementById("reason-cancel").addEventListener("click", decline);
  dialog.addEventListener("cancel", (event) => { // Esc: the same as Cancel
    event.preventDefault();
    decline();
  });
  document.getElementById("reason-change").addEventListener("click", () => askReason().catch(() => {}));
  return dialog;
}

// Ask (or ask again) for the reason; resolves with it, rejects when the user declines and none is in force.
export function askReason() {
  if (pending) return pending;
  const dialog = install();
  const input = document.getElementById("reason-input");
  input.value = getReason() || t(defaultKey);
  document.getElementById("reason-error").textContent = "";
  pending = new Promise((resolve, reject) => {
    settle = ({ reason }) => (reason ? resolve(reason) : reject(new Error(t("reason.declined"))));
  });
  dialog.showModal();
  input.select();
  return pending;
}

// The dialog and the header bar's button, once the page has them (index.html).
export function installReason() {
  install();
  showReason();
}

// The reason in force, asking first when this browser session has none yet.
export async function ensureReason() {
  return getReason() || askReason();
}
