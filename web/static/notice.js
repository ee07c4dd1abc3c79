// The print button of a grid notice (no inline handler: the page's CSP runs scripts from files only).
document.querySelector("#print")?.addEventListener("click", () => window.print());
