import { api, setToken } from "./api.js";
import { installToggle, t } from "./i18n.js";

installToggle();
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const form = new URLSearchParams({
    username: document.getElementById("username").value.trim(),
    password: document.getElementById("password").value,
  });
  try {
    const { data } = await api("/auth/token", { method: "POST", body: form });
    setToken(data.access_token);
    location.href = "/app/";
  } catch (exc) {
    error.textContent = t("login.failed", { msg: exc.message });
  }
});
