// crackscope web page: upload photos, call /api/map, show the results. Plain JS, no external assets.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of [].concat(children)) if (child) node.append(child);
  return node;
}

function showFormError(message) {
  const box = $("#form-error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function loadInfo() {
  try {
    const res = await fetch("/api/info");
    if (!res.ok) throw new Error(`server answered ${res.status}`);
    const info = await res.json();
    const select = $("#method");
    select.replaceChildren(...info.methods.map((m) => el("option", { value: m, text: m })));
    select.value = info.default_method;
    $("#run-info").textContent =
      `model ${info.model} · run ${info.run} · maps: preset ${info.preset} · threshold ${info.threshold.toFixed(2)}` +
      ` · up to ${(info.max_upload_bytes / 1048576).toFixed(0)} MB and ${(info.max_pixels / 1e6).toFixed(0)} MP per photo`;
  } catch (err) {
    $("#run-info").textContent = "model info unavailable";
    showFormError(`Could not reach the server: ${err.message}`);
  }
}

function formatValue(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (Array.isArray(value)) return value.map(formatValue).join(", ");
  return String(value);
}

function measurementsTable(rows) {
  if (!rows.length) return el("p", { class: "muted", text: "No cracks found in the mask." });
  const columns = Object.keys(rows[0]);
  const head = el("tr", {}, columns.map((c) => el("th", { scope: "col", text: c.replaceAll("_", " ") })));
  const body = rows.map((row) => el("tr", {}, columns.map((c) => el("td", { text: formatValue(row[c]) }))));
  return el("div", { class: "table-wrap" }, el("table", { class: "measurements" }, [
    el("thead", {}, head), el("tbody", {}, body),
  ]));
}

function figure(src, caption, cls) {
  return el("figure", { class: cls }, [el("img", { src, alt: caption }), el("figcaption", { text: caption })]);
}

function renderResult(card, data) {
  const cracked = data.label === "cracked";
  // Restorer (UP-CrackNet) runs give no photo-level probability: the verdict is "any crack pixel".
  const known = data.probability !== null && data.probability !== undefined;
  const pct = known ? ` ${(100 * data.probability).toFixed(1)}%` : "";
  const badge = el("span", { class: `badge ${data.label}`, "data-probability": known ? data.probability : "" }, [
    document.createTextNode(cracked ? `Crack${pct}` : `No crack${pct}`),
    el("small", { text: known ? `threshold ${(100 * data.threshold).toFixed(0)}%` : "restoration error" }),
  ]);
  const meta = el("div", { class: "meta", text:
    `${data.width}×${data.height} px · ${data.method} · ${data.n_cracks} crack(s) · ` +
    `${data.crack_pixels} crack pixels` + (data.mm_per_px ? ` · ${data.mm_per_px} mm/px` : "") });
  const head = card.querySelector(".card-head");
  head.replaceChildren(el("div", {}, [el("h2", { text: data.filename }), meta]), badge);

  const figures = el("div", { class: "figures" }, [
    figure(data.original, "Photo", "fig-original"),
    figure(data.heatmap_overlay, "Heatmap overlay", "fig-heatmap"),
    figure(data.mask, "Crack mask", "fig-mask"),
    figure(data.overlay, "Numbered cracks", "fig-overlay"),
  ]);
  const stem = data.filename.replace(/\.[^.]+$/, "");
  const csvUrl = URL.createObjectURL(new Blob([data.csv], { type: "text/csv" }));
  const actions = el("div", { class: "actions" }, [
    el("a", { class: "download", href: csvUrl, download: `${stem}_cracks.csv`, text: "Download measurements (CSV)" }),
  ]);
  card.querySelector(".card-body").replaceChildren(figures, measurementsTable(data.measurements), actions);
}

function renderError(card, filename, message) {
  card.classList.add("failed");
  card.querySelector(".card-head").replaceChildren(el("h2", { text: filename }));
  card.querySelector(".card-body").replaceChildren(el("div", { class: "error", role: "alert", text: message }));
}

async function analyse(batch, file, method, scale) {
  const card = el("article", { class: "card result" }, [
    el("div", { class: "card-head" }, [el("h2", { text: file.name }),
      el("span", { class: "muted" }, [el("span", { class: "spinner" }), document.createTextNode("  analysing…")])]),
    el("div", { class: "card-body" }),
  ]);
  batch.append(card);
  const form = new FormData();
  form.append("file", file, file.name);
  if (method) form.append("method", method);
  if (scale) form.append("mm_per_px", scale);
  try {
    const res = await fetch("/api/map", { method: "POST", body: form });
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) {
      const detail = data && data.detail ? data.detail : `server answered ${res.status}`;
      renderError(card, file.name, typeof detail === "string" ? detail : JSON.stringify(detail));
      return;
    }
    renderResult(card, data);
  } catch (err) {
    renderError(card, file.name, `Request failed: ${err.message}`);
  }
}

async function onSubmit(event) {
  event.preventDefault();
  showFormError("");
  const files = Array.from($("#file-input").files);
  if (!files.length) { showFormError("Choose at least one photo first."); return; }
  const scale = $("#mm-per-px").value.trim();
  if (scale && !(Number(scale) > 0)) { showFormError("The scale must be a positive number of mm per pixel."); return; }
  const button = $("#analyse");
  button.disabled = true;
  try {
    // Newest batch on top, photos in the order chosen; one after another (the server runs one model
    // call at a time anyway).
    const batch = el("div", { class: "batch" });
    $("#results").prepend(batch);
    for (const file of files) await analyse(batch, file, $("#method").value, scale);
  } finally {
    button.disabled = false;
  }
}

function setupDropZone() {
  const zone = $("#drop-zone");
  const input = $("#file-input");
  const names = $("#file-names");
  const showNames = () => {
    const files = Array.from(input.files);
    names.textContent = files.length ? files.map((f) => f.name).join(", ") : "PNG, JPEG, BMP, TIFF or WebP";
  };
  input.addEventListener("change", showNames);
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => {
    e.preventDefault(); zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (e) => {
    e.preventDefault(); zone.classList.remove("dragging");
  }));
  zone.addEventListener("drop", (e) => {
    if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; showNames(); }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupDropZone();
  $("#upload-form").addEventListener("submit", onSubmit);
  loadInfo();
});
