// Calls to the HTTP API with the signed-in user's token (kept in sessionStorage: gone with the tab) and the
// reason personal records are read (reason.js), asked for when the API wants one it was not given.
import { t } from "./i18n.js";
import { askReason, clearReason, getReason } from "./reason.js";

const KEY = "wangge.token";

export const getToken = () => sessionStorage.getItem(KEY);
export const setToken = (value) => sessionStorage.setItem(KEY, value);
// The reason goes with the sign-in: the next user of the tab states their own.
export const clearToken = () => {
  sessionStorage.removeItem(KEY);
  clearReason();
};

export class ApiError extends Error {
  constructor(status, body, path) {
    const message = (body && body.message) || (typeof body === "string" ? body : "") || `HTTP ${status}`;
    super(status === 404 && body && body.detail === "Not Found" ? t("not.available", { path }) : message);
    this.status = status;
    this.body = body;
    this.path = path;
  }
}

export async function api(path, options = {}, asked = false) {
  const { method = "GET", body, headers = {}, params } = options;
  const h = { ...headers };
  const token = getToken();
  if (token) h.Authorization = `Bearer ${token}`;
  // Header values are ASCII: the (Chinese) reason goes percent-encoded, as the API reads it.
  const reason = getReason();
  if (reason) h["X-Access-Reason"] = encodeURIComponent(reason);
  let payload;
  if (body instanceof URLSearchParams) payload = body;
  else if (body !== undefined) {
    h["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let url = path;
  if (params) {
    const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""));
    url += (url.includes("?") ? "&" : "?") + q;
  }
  const response = await fetch(url, { method, headers: h, body: payload });
  if (response.status === 401 && !path.startsWith("/auth/token")) {
    clearToken();
    location.href = "/app/login";
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    // Personal records and no reason in force yet (a view that did not ask first): ask, then try once more.
    if (response.status === 428 && data && data.error === "access_reason_required" && !asked) {
      await askReason();
      return api(path, options, true);
    }
    // A route that is not there yet answers FastAPI's own 404/405: say the feature is not available.
    if (response.status === 405 || (response.status === 404 && data && data.detail)) {
      throw new ApiError(404, { message: t("not.available", { path }) }, path);
    }
    throw new ApiError(response.status, data, path);
  }
  return { data, status: response.status, headers: response.headers };
}

export function etagVersion(headers) {
  const tag = headers.get("ETag");
  return tag ? Number(tag.replace(/^W\//, "").replaceAll('"', "")) : null;
}
