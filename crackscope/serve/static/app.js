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

// SVG markup goes through the HTML parser, which puts it in the SVG namespace; only numbers are interpolated.
function svgLayer(width, height) {
  const holder = document.createElement("div");
  holder.innerHTML = `<svg class="scale-line" viewBox="0 0 ${width} ${height}" preserveAspectRatio="none"></svg>`;
  return holder.firstElementChild;
}

function drawPoints(layer, points, radius) {
  const n = (v) => Number(v).toFixed(2);
  const dots = points.map(([x, y]) => `<circle cx="${n(x)}" cy="${n(y)}" r="${n(radius)}"></circle>`);
  const line = points.length === 2
    ? `<line x1="${n(points[0][0])}" y1="${n(points[0][1])}" x2="${n(points[1][0])}" y2="${n(points[1][1])}"></line>`
    : "";
  layer.innerHTML = line + dots.join("");
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
    $("#exposure-option").hidden = !info.exposure_available;
    $("#run-info").textContent =
      `model ${info.model} · run ${info.run} · maps: preset ${info.preset} · threshold ${info.threshold.toFixed(2)}` +
      ` · up to ${(info.max_upload_bytes / 1048576).toFixed(0)} MB and ${(info.max_pixels / 1e6).toFixed(0)} MP per photo`;
  } catch (err) {
    $("#run-info").textContent = "model info unavailable";
    showFormError(`Could not reach the server: ${err.message}`);
  }
}

// -- numbers ---------------------------------------------------------------------------------------------------
const fixed = (digits) => (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
const fmtLength = fixed(1);
const fmtWidth = fixed(2);
const fmtInt = (v) => (v === null || v === undefined ? "–" : String(Math.round(v)));
const fmtBox = (v) => (Array.isArray(v) ? v.join(", ") : "–");

// The headline of a batch from its photos' headlines, by the rule of crackscope.maps.measure.combine_summaries:
// counts and lengths add up, the largest width is the largest of all, the mean width is weighted by length;
// millimetres only when every photo has them.
function combineHeadlines(items) {
  const sum = (f) => items.reduce((acc, h) => acc + (h[f] || 0), 0);
  const max = (f) => items.reduce((acc, h) => Math.max(acc, h[f] || 0), 0);
  const weighted = (w, l) => items.reduce((acc, h) => acc + (h[w] || 0) * (h[l] || 0), 0);
  const lengthPx = sum("total_length_px");
  const out = {
    n_photos: sum("n_photos"), n_cracks: sum("n_cracks"), total_length_px: lengthPx,
    max_width_px: max("max_width_px"),
    mean_width_px: lengthPx > 0 ? weighted("mean_width_px", "total_length_px") / lengthPx : 0,
    total_length_mm: null, max_width_mm: null, mean_width_mm: null, unit: "px",
  };
  if (items.length && items.every((h) => h.total_length_mm !== null && h.total_length_mm !== undefined)) {
    const lengthMm = sum("total_length_mm");
    Object.assign(out, {
      total_length_mm: lengthMm, max_width_mm: max("max_width_mm"),
      mean_width_mm: lengthMm > 0 ? weighted("mean_width_mm", "total_length_mm") / lengthMm : 0, unit: "mm",
    });
  }
  return out;
}

function headlineBox(h, { batch = false } = {}) {
  const unit = h.unit === "mm" ? "mm" : "px";
  const pick = (name) => h[`${name}_${unit}`];
  const none = !h.n_cracks;
  const stat = (key, value, text, label) =>
    el("div", { class: "stat", "data-key": key, "data-value": value === null || value === undefined ? "" : value }, [
      el("b", { text }), el("span", { text: label }),
    ]);
  const stats = [
    stat("n_cracks", h.n_cracks, String(h.n_cracks), h.n_cracks === 1 ? "crack" : "cracks"),
    stat("total_length", pick("total_length"), `${fmtLength(pick("total_length"))} ${unit}`, "total length"),
    stat("max_width", none ? null : pick("max_width"), none ? "–" : `${fmtWidth(pick("max_width"))} ${unit}`, "max width"),
    stat("mean_width", none ? null : pick("mean_width"), none ? "–" : `${fmtWidth(pick("mean_width"))} ${unit}`,
      "mean width"),
  ];
  if (batch) stats.unshift(stat("n_photos", h.n_photos, String(h.n_photos), h.n_photos === 1 ? "photo" : "photos"));
  return el("div", { class: "headline", "data-unit": unit }, stats);
}

// -- measurements table ------------------------------------------------------------------------------------------
const PX_COLUMNS = [
  ["length_px", "length px", fmtLength], ["mean_width_px", "mean width px", fmtWidth],
  ["max_width_px", "max width px", fmtWidth], ["area_px", "area px", fmtInt],
];
const MM_COLUMNS = [
  ["length_mm", "length mm", fmtLength], ["mean_width_mm", "mean width mm", fmtWidth],
  ["max_width_mm", "max width mm", fmtWidth], ["area_mm2", "area mm²", fixed(2)],
];
const SHAPE_COLUMNS = [
  ["orientation_deg", "orientation °", fmtLength],
  ["bbox", "bbox (y0, x0, y1, x1) px", fmtBox],
];

function measurementsTable(rows, scaled) {
  if (!rows.length) return el("p", { class: "muted", text: "No cracks found in the mask." });
  // With a scale the millimetre columns come first: they are what an inspector reads.
  const columns = [["id", "#", fmtInt], ...(scaled ? MM_COLUMNS : []), ...PX_COLUMNS, ...SHAPE_COLUMNS];
  const head = el("tr", {}, columns.map(([key, label]) => {
    const th = el("th", { scope: "col", "data-key": key, text: label });
    if (key === "bbox") th.title = "bounding box: top row, left column, bottom row, right column (exclusive ends)";
    return th;
  }));
  const body = rows.map((row) => el("tr", {}, columns.map(([key, , f]) => el("td", { text: f(row[key]) }))));
  return el("div", { class: "table-wrap" }, el("table", { class: "measurements" }, [
    el("thead", {}, head), el("tbody", {}, body),
  ]));
}

// -- full-size view -----------------------------------------------------------------------------------------------
function openLightbox(src, caption) {
  const box = $("#lightbox");
  const img = box.querySelector("img");
  img.src = src;
  img.alt = caption;
  box.querySelector("figcaption").textContent = `${caption} (full size; click the image to fit it to the window)`;
  box.classList.remove("fit");
  if (!box.open) box.showModal();
}

function setupLightbox() {
  const box = $("#lightbox");
  box.querySelector(".close").addEventListener("click", () => box.close());
  box.querySelector("img").addEventListener("click", () => box.classList.toggle("fit"));
  box.addEventListener("click", (e) => { if (e.target === box) box.close(); });
}

const BROWSER_TYPES = ["image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp"];

function figure(src, caption, cls, fullSrc) {
  const img = el("img", { src, alt: caption, title: "click to open full size" });
  img.addEventListener("click", () => {
    if (!img.closest(".drawing")) openLightbox(fullSrc || src, caption);
  });
  return el("figure", { class: cls }, [el("div", { class: "frame" }, img), el("figcaption", { text: caption })]);
}

// -- scale from a line of known length ------------------------------------------------------------------------
function scaleTools(entry) {
  const data = entry.data;
  const status = el("span", { class: "scale-status" });
  if (data.mm_per_px) {
    status.textContent = `Scale ${Number(data.mm_per_px.toPrecision(4))} mm/px` + (entry.scaleNote ? ` (${entry.scaleNote})` : "");
  } else {
    status.textContent = "No scale: lengths and widths in pixels.";
  }
  const draw = el("button", { type: "button", class: "scale-draw", text: "Draw a scale line" });
  const hint = el("span", { class: "scale-hint muted", hidden: "" });
  const length = el("input", { type: "number", class: "scale-length", min: "0", step: "any", placeholder: "mm" });
  const apply = el("button", { type: "button", class: "scale-apply primary small", text: "Set scale" });
  const cancel = el("button", { type: "button", class: "scale-cancel", text: "Cancel" });
  const ask = el("span", { class: "scale-ask", hidden: "" }, [
    el("span", { class: "scale-pixels" }), el("label", {}, ["its length in mm ", length]), apply, cancel,
  ]);
  const bar = el("div", { class: "scale-tools" }, [status, draw, hint, ask]);

  const stop = () => {
    entry.card.classList.remove("drawing");
    entry.points = [];
    hint.hidden = true;
    ask.hidden = true;
    draw.disabled = false;
    entry.card.querySelectorAll(".scale-line").forEach((s) => s.replaceChildren());
  };
  draw.addEventListener("click", () => {
    entry.card.classList.add("drawing");
    entry.points = [];
    draw.disabled = true;
    hint.hidden = false;
    hint.textContent = "Click the two ends of something of known length on the photo.";
  });
  cancel.addEventListener("click", stop);
  const setScale = () => {
    const mm = Number(length.value);
    if (!(mm > 0)) { hint.hidden = false; hint.textContent = "Type the line's real length, a positive number of mm."; return; }
    const px = entry.linePx;
    entry.scale = mm / px;
    entry.scaleNote = `a line of ${px.toFixed(1)} px is ${mm} mm`;
    stop();
    analyse(entry);
  };
  apply.addEventListener("click", setScale);
  length.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); setScale(); } });
  entry.onLine = (px) => {
    entry.linePx = px;
    hint.hidden = true;
    ask.hidden = false;
    ask.querySelector(".scale-pixels").textContent = `Line: ${px.toFixed(1)} px of the photo;`;
    length.focus();
  };
  return bar;
}

// Clicks on the shown photo, in the photo's own pixels: the shown image is scaled (shrunk for display, enlarged
// when small, then fitted to the page), so each click is mapped through the image's on-screen size.
function setupDrawing(entry, figureNode) {
  const data = entry.data;
  const frame = figureNode.querySelector(".frame");
  const img = frame.querySelector("img");
  const layer = svgLayer(data.width, data.height);
  frame.append(layer);
  const onClick = (event) => {
    if (!entry.card.classList.contains("drawing")) return;
    const r = img.getBoundingClientRect();
    const x = ((event.clientX - r.left) * data.width) / r.width;
    const y = ((event.clientY - r.top) * data.height) / r.height;
    if (entry.points.length >= 2) entry.points = [];
    entry.points.push([x, y]);
    const [a, b] = entry.points;
    drawPoints(layer, entry.points, Math.max(data.width, data.height) / 150);
    if (b) {
      const px = Math.hypot(b[0] - a[0], b[1] - a[1]);
      if (px > 0) entry.onLine(px);
    }
  };
  img.addEventListener("click", onClick);
  layer.addEventListener("click", onClick);
}

// -- one photo -----------------------------------------------------------------------------------------------------
function verdictBadge(data) {
  const cracked = data.label === "cracked";
  // Restorer (UP-CrackNet) runs give no photo-level probability: the verdict is "any crack pixel".
  const known = data.probability !== null && data.probability !== undefined;
  return el("span", { class: `badge ${data.label}`, "data-probability": known ? data.probability : "" }, [
    el("span", { class: "verdict", text: cracked ? "Cracked" : "No crack" }),
    known ? el("span", { class: "probability", text: `· crack probability ${(100 * data.probability).toFixed(1)}%` })
      : null,
    el("small", { text: known ? `threshold ${(100 * data.threshold).toFixed(0)}%` : "any crack pixel (restorer run)" }),
  ]);
}

function renderResult(entry) {
  const { card, data, file } = entry;
  card.classList.remove("failed");
  card.dataset.mmPerPx = data.mm_per_px ? String(data.mm_per_px) : "";
  const border = data.border_artefacts
    ? ` · ${data.border_artefacts} border artefact${data.border_artefacts === 1 ? "" : "s"} ignored` : "";
  const options = (data.exposure ? " · exposure range" : "") + (data.join_faint ? " · faint stretches joined" : "");
  const meta = el("div", { class: "meta", text:
    `${data.width}×${data.height} px · ${data.method}${options} · ${data.crack_pixels} crack pixels · ${data.tiles} tiles` +
    border });
  card.querySelector(".card-head").replaceChildren(el("div", {}, [el("h2", { text: data.filename }), meta]),
    verdictBadge(data));

  if (entry.photoUrl === undefined) {
    entry.photoUrl = BROWSER_TYPES.includes(file.type) ? URL.createObjectURL(file) : null;
  }
  const photo = figure(data.original, "Photo", "fig-original", entry.photoUrl || data.original);
  const cam = data.cam_overlay
    ? figure(data.cam_overlay, `Class-activation map (${data.method})`, "fig-cam")
    : figure(data.probability_overlay, "Crack probability map (restoration error)", "fig-cam");
  const figures = [
    photo,
    figure(data.overlay, "Numbered cracks", "fig-overlay"),
    cam,
    figure(data.mask, "Crack mask", "fig-mask"),
  ];
  if (data.cam_overlay && data.probability_overlay) {
    figures.push(figure(data.probability_overlay, "Refined crack probability (the mask is cut from it)",
      "fig-probability"));
  }
  const stem = data.filename.replace(/\.[^.]+$/, "");
  if (entry.csvUrl) URL.revokeObjectURL(entry.csvUrl);
  entry.csvUrl = URL.createObjectURL(new Blob([data.csv], { type: "text/csv" }));
  const actions = el("div", { class: "actions" }, [
    el("a", { class: "download", href: entry.csvUrl, download: `${stem}_cracks.csv`, text: "Download measurements (CSV)" }),
  ]);
  const grid = el("div", { class: "figures" }, figures);
  card.querySelector(".card-body").replaceChildren(
    headlineBox(data.headline), scaleTools(entry), grid,
    measurementsTable(data.measurements, Boolean(data.mm_per_px)), actions,
  );
  setupDrawing(entry, photo);
}

function renderError(entry, message) {
  entry.card.classList.add("failed");
  entry.card.querySelector(".card-head").replaceChildren(el("h2", { text: entry.file.name }));
  entry.card.querySelector(".card-body").replaceChildren(el("div", { class: "error", role: "alert", text: message }));
}

function updateBatchHeadline(batch) {
  const done = batch.entries.filter((e) => e.data && !e.card.classList.contains("failed"));
  if (batch.entries.length < 2 || !done.length) { batch.head.replaceChildren(); batch.head.hidden = true; return; }
  const h = combineHeadlines(done.map((e) => e.data.headline));
  const mixed = done.some((e) => e.data.mm_per_px) && h.unit === "px" ? " (in px: not every photo has a scale)" : "";
  const failed = batch.entries.filter((e) => e.card.classList.contains("failed")).length;
  const note = failed ? ` · ${failed} not analysed` : "";
  batch.head.hidden = false;
  batch.head.replaceChildren(el("h2", { text: `All ${done.length} photos${mixed}${note}` }), headlineBox(h, { batch: true }));
}

async function analyse(entry) {
  const { card, file } = entry;
  card.querySelector(".card-head").append(
    el("span", { class: "muted busy" }, [el("span", { class: "spinner" }), document.createTextNode("  analysing…")]));
  const form = new FormData();
  form.append("file", file, file.name);
  if (entry.method) form.append("method", entry.method);
  if (entry.scale) form.append("mm_per_px", String(entry.scale));
  if (entry.exposure) form.append("exposure", "true");
  if (entry.joinFaint) form.append("join_faint", "true");
  try {
    const res = await fetch("/api/map", { method: "POST", body: form });
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) {
      const detail = data && data.detail ? data.detail : `server answered ${res.status}`;
      renderError(entry, typeof detail === "string" ? detail : JSON.stringify(detail));
    } else {
      entry.data = data;
      renderResult(entry);
    }
  } catch (err) {
    renderError(entry, `Request failed: ${err.message}`);
  }
  updateBatchHeadline(entry.batch);
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
    const batch = { node: el("div", { class: "batch" }), head: el("section", { class: "card batch-head", hidden: "" }),
      entries: [] };
    batch.node.append(batch.head);
    $("#results").prepend(batch.node);
    const method = $("#method").value;
    const exposure = !$("#exposure-option").hidden && $("#exposure").checked;
    const joinFaint = $("#join-faint").checked;
    for (const file of files) {
      const card = el("article", { class: "card result" }, [
        el("div", { class: "card-head" }, [el("h2", { text: file.name })]), el("div", { class: "card-body" }),
      ]);
      batch.node.append(card);
      batch.entries.push({ batch, card, file, method, exposure, joinFaint, scale: scale ? Number(scale) : null,
        points: [] });
    }
    for (const entry of batch.entries) await analyse(entry);
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
  setupLightbox();
  $("#upload-form").addEventListener("submit", onSubmit);
  loadInfo();
});
