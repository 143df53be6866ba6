// The gallery page: a grid of seeds, a class picker, truncation, latent walks (with GIFs),
// the served version and its evaluation, over TF Serving's REST API.

import { Api, ApiError, galleryConfig, versionFile, versionFileUrl } from "./api.js";
import { encodeGif } from "./gif.js";
import { chunks, parseSeeds, walkLatents } from "./walk.js";

const CHUNK = 16; // rows per predict call: under any sensible --max-batch-size
const POLL_MS = 3000; // how often the version list is refreshed
const GIF_MIN_SIDE = 256; // walk GIFs are scaled up by a whole factor to at least this
const MAX_SEED = 2 ** 31 - 1;
const $ = (id) => document.getElementById(id);

const state = {
  api: null,
  extras: false, // the gallery server knows this API's version folders
  reports: false,
  choice: { kind: "latest" },
  version: null, // the version the choice resolved to
  signatures: {},
  numClasses: null, // null: unknown (a number box), 0: unconditional
  classNames: [], // each class's training folder, where the model's generator.json names them
  available: [],
  offline: false, // the last version poll failed
  messageTimer: null,
  gridTicket: 0,
  walk: { frames: [], timer: null, index: 0, ticket: 0, playing: true },
};

// --- messages ---------------------------------------------------------------------------

function showMessage(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = false;
  clearTimeout(state.messageTimer);
  if (kind === "info") state.messageTimer = setTimeout(clearMessage, 10000);
}

function clearMessage() {
  $("message").hidden = true;
}

window.addEventListener("error", (event) => showMessage(`The page hit an error: ${event.message}`));
window.addEventListener("unhandledrejection", (event) =>
  showMessage(`The page hit an error: ${event.reason && event.reason.message ? event.reason.message : event.reason}`),
);

// --- the served version -----------------------------------------------------------------

function has(signature) {
  return signature in state.signatures;
}

function choiceText(choice) {
  if (choice.kind === "label") return `label “${choice.value}”`;
  return choice.kind === "latest" ? "latest" : `pinned`;
}

function renderServed() {
  const served = $("served");
  served.innerHTML = "";
  served.append("model ");
  const model = document.createElement("b");
  model.textContent = state.api.model;
  const version = document.createElement("b");
  version.id = "served-version";
  version.textContent = state.version;
  served.append(model, " · version ", version, ` (${choiceText(state.choice)})`);
  served.dataset.version = state.version;
}

function renderVersionOptions() {
  const select = $("version");
  const wanted = state.choice.kind === "version" ? String(state.choice.value) : "latest";
  const options = [[`latest${state.available.length ? ` (${state.available[0]})` : ""}`, "latest"]];
  for (const version of state.available) options.push([String(version), String(version)]);
  if (state.choice.kind === "label") options.push([choiceText(state.choice), "label"]);
  // Rebuilt only when the list changed: the poll must not close a dropdown the user has open.
  const current = [...select.options].map((option) => [option.text, option.value]);
  if (JSON.stringify(current) !== JSON.stringify(options)) {
    select.replaceChildren(...options.map(([text, value]) => new Option(text, value)));
  }
  select.value = state.choice.kind === "label" ? "label" : wanted;
}

// Fetches the version list; notices a new latest version or a pinned one that went away.
async function refreshVersions() {
  try {
    const { available } = await state.api.versions();
    state.available = available;
    renderVersionOptions();
    if (!available.length) {
      showMessage(`Model ${state.api.model} has no available version yet: waiting for one to be pushed.`, "info");
      return false;
    }
    const pinnedGone = state.choice.kind === "version" && !available.includes(state.choice.value);
    if (pinnedGone) {
      await backToLatest(`Version ${state.choice.value} is no longer served`);
    } else if (state.choice.kind === "latest" && state.version !== null && available[0] !== state.version) {
      const previous = state.version;
      await loadVersion();
      showMessage(`Version ${available[0]} is now the latest (was ${previous}).`, "info");
    } else if (state.version === null || state.offline) {
      await loadVersion();
    }
    state.offline = false;
    return true;
  } catch (error) {
    state.offline = true;
    showMessage(readable(error));
    return false;
  }
}

async function backToLatest(reason) {
  state.choice = { kind: "latest" };
  await loadVersion();
  showMessage(`${reason}: showing the latest version${state.version !== null ? ` (${state.version})` : ""} instead.`, "info");
}

// Resolves the choice to a version, reads its signatures and generator info, and redraws.
async function loadVersion() {
  let meta;
  try {
    meta = await state.api.metadata(state.choice);
  } catch (error) {
    if (state.choice.kind !== "latest" && (error.status === 404 || error.status === 400)) {
      const what = state.choice.kind === "label" ? `Label “${state.choice.value}”` : `Version ${state.choice.value}`;
      state.choice = { kind: "latest" };
      renderVersionOptions();
      await loadVersion();
      showMessage(`${what}: ${error.message}. Showing the latest version instead.`, "info");
      return;
    }
    showMessage(readable(error));
    return;
  }
  state.version = meta.version;
  state.signatures = meta.signatures;
  [state.numClasses, state.classNames] = has("with_labels") ? await classInfo() : [0, []];
  clearMessage();
  renderServed();
  renderVersionOptions();
  renderClassPicker();
  renderPsi();
  renderWalkAvailability();
  await Promise.all([renderGrid(), renderReport()]);
}

async function classInfo() {
  // [the class count (null: unknown), each class's name (the training folder; [] if not kept)]
  if (!state.extras) return [null, []];
  try {
    const info = await versionFile(state.api.model, state.version, "generator.json");
    const count = info && info.num_classes ? Number(info.num_classes) : null;
    const names = info && Array.isArray(info.class_names) ? info.class_names.map(String) : [];
    return [count, names];
  } catch {
    return [null, []];
  }
}

// --- controls ---------------------------------------------------------------------------

function renderClassPicker() {
  const conditional = state.numClasses !== 0;
  $("class-picker").hidden = !conditional;
  const select = $("class-select");
  const known = Number.isInteger(state.numClasses) && state.numClasses > 0;
  select.hidden = !known;
  $("class-number").hidden = known;
  if (known) {
    const previous = select.value;
    select.innerHTML = "";
    select.add(new Option("from the seed", ""));
    for (let c = 0; c < state.numClasses; c++) {
      const name = state.classNames[c] ? `: ${state.classNames[c]}` : "";
      select.add(new Option(`class ${c}${name}`, String(c)));
    }
    select.value = previous !== "" && Number(previous) < state.numClasses ? previous : "";
  }
}

function chosenClass() {
  if (state.numClasses === 0) return null;
  const text = state.numClasses ? $("class-select").value : $("class-number").value.trim();
  if (text === "") return null;
  const label = Number(text);
  if (!Number.isSafeInteger(label) || label < 0) throw new Error(`the class must be a whole number >= 0, not ${text}`);
  return label;
}

function renderPsi() {
  const truncates = has("truncated");
  $("psi").disabled = !truncates;
  const note = $("psi-note");
  note.hidden = truncates;
  note.textContent = truncates ? "" : `version ${state.version} has no truncated signature: ψ is 1 (re-export it for truncation)`;
  $("psi-value").textContent = Number(psi()).toFixed(2);
}

function psi() {
  return has("truncated") ? Number($("psi").value) : 1;
}

function seedsOfPage() {
  const start = Math.max(0, Math.floor(Number($("start").value) || 0));
  const size = Number($("page-size").value);
  return Array.from({ length: size }, (_, i) => start + i);
}

// The signature and rows for seeds, given the class and psi chosen.
function seedRequest(seeds) {
  const label = chosenClass();
  const truncates = has("truncated");
  if (label !== null) {
    const signature = truncates ? "truncated_with_labels" : "with_labels";
    return [signature, seeds.map((s) => (truncates ? { seeds: s, labels: label, psi: psi() } : { seeds: s, labels: label }))];
  }
  if (psi() === 1 && has("pngs")) return ["pngs", seeds.map((s) => ({ seeds: s }))]; // PNGs alone: a tenth of the bytes
  const signature = truncates ? "truncated" : "serving_default";
  return [signature, seeds.map((s) => (truncates ? { seeds: s, psi: psi() } : { seeds: s }))];
}

// Predicts in chunks on the resolved version; a version that went away leads back to latest.
async function predictRows(signature, rows) {
  const choice = { kind: "version", value: state.version };
  const parts = await Promise.all(chunks(rows, CHUNK).map((part) => state.api.predict(choice, signature, part)));
  return parts.flat();
}

async function handleRequestError(error) {
  if (error instanceof ApiError && error.status === 404 && /not found|Servable/i.test(error.message)) {
    if (state.choice.kind === "latest") {
      await loadVersion();
    } else {
      await backToLatest(`Version ${state.version} is no longer served`);
    }
    return;
  }
  showMessage(readable(error));
}

function readable(error) {
  const text = error && error.message ? error.message : String(error);
  const range = /labels must be < (\d+)/.exec(text);
  if (range) return `That class does not exist in version ${state.version}: labels must be < ${range[1]}.`;
  return text;
}

// --- the grid ---------------------------------------------------------------------------

// A prediction of the image signatures ({png_bytes: {b64}, ...}) or of pngs (its one output: {b64}).
function pngUrl(prediction) {
  return `data:image/png;base64,${(prediction.png_bytes || prediction).b64}`;
}

async function renderGrid() {
  const ticket = ++state.gridTicket;
  const seeds = seedsOfPage();
  const grid = $("grid");
  grid.setAttribute("aria-busy", "true");
  let predictions;
  try {
    const [signature, rows] = seedRequest(seeds);
    predictions = await predictRows(signature, rows);
  } catch (error) {
    if (ticket === state.gridTicket) {
      grid.removeAttribute("aria-busy");
      await handleRequestError(error);
    }
    return;
  }
  if (ticket !== state.gridTicket) return; // a newer request is on its way
  const label = chosenClass();
  const tiles = seeds.map((seed, i) => tile(seed, label, predictions[i]));
  grid.replaceChildren(...tiles);
  grid.removeAttribute("aria-busy");
  grid.dataset.loaded = String(Number(grid.dataset.loaded) + 1);
  grid.dataset.psi = String(psi());
  grid.dataset.version = String(state.version);
  if (!$("message").classList.contains("info")) clearMessage();
}

function tile(seed, label, prediction) {
  const figure = document.createElement("figure");
  figure.className = "tile-card";
  const frame = document.createElement("div");
  frame.className = "tile";
  const img = document.createElement("img");
  img.src = pngUrl(prediction);
  img.alt = `seed ${seed}`;
  img.dataset.seed = seed;
  frame.append(img);
  const caption = document.createElement("figcaption");
  const name = label === null ? `seed ${seed}` : `seed ${seed} · class ${label}`;
  const download = document.createElement("a");
  download.href = img.src;
  download.download = `${state.api.model}-v${state.version}-seed${seed}${label === null ? "" : `-class${label}`}-psi${psi()}.png`;
  download.textContent = "⤓";
  download.title = "download this PNG";
  download.className = "download";
  const add = document.createElement("button");
  add.type = "button";
  add.textContent = "+";
  add.title = "add this seed to the walk";
  add.className = "add-walk";
  add.addEventListener("click", () => {
    const field = $("walk-seeds");
    field.value = field.value.trim() ? `${field.value.trim()}, ${seed}` : String(seed);
  });
  const text = document.createElement("span");
  text.textContent = name;
  caption.append(text, add, download);
  figure.append(frame, caption);
  return figure;
}

// --- the walk ---------------------------------------------------------------------------

function renderWalkAvailability() {
  const can = has("seed_latents") && has("from_latents");
  $("walk-run").disabled = !can;
  const note = $("walk-note");
  note.hidden = can;
  note.textContent = can ? "" : `version ${state.version} has no seed_latents signature: walks need a newer export`;
}

async function runWalk(event) {
  event.preventDefault();
  const ticket = ++state.walk.ticket;
  const status = $("walk-status");
  try {
    const seeds = parseSeeds($("walk-seeds").value);
    const steps = Math.max(1, Math.min(120, Math.floor(Number($("walk-steps").value) || 1)));
    const label = chosenClass();
    const keyframes = await predictRows("seed_latents", seeds.map((s) => ({ seeds: s, psi: psi() })));
    const latents = walkLatents(keyframes.map((k) => (Array.isArray(k) ? k : k.latents)), steps, $("walk-loop").checked);
    const signature = label === null ? "from_latents" : "from_latents_with_labels";
    const frames = [];
    for (const part of chunks(latents, CHUNK)) {
      if (ticket !== state.walk.ticket) return;
      status.textContent = `asking for frames ${frames.length + 1}–${frames.length + part.length} of ${latents.length}…`;
      const rows = part.map((l) => (label === null ? { latents: l } : { latents: l, labels: label }));
      frames.push(...(await predictRows(signature, rows)));
    }
    if (ticket !== state.walk.ticket) return;
    state.walk.frames = frames.map((p) => ({ url: pngUrl(p), images: p.images }));
    state.walk.seeds = seeds;
    status.dataset.frames = String(frames.length);
    startAnimation();
  } catch (error) {
    status.textContent = "The walk stopped.";
    await handleRequestError(error);
  }
}

function fps() {
  return Math.max(1, Math.min(50, Number($("walk-fps").value) || 12));
}

function startAnimation() {
  const walk = state.walk;
  clearInterval(walk.timer);
  walk.index = 0;
  walk.playing = true;
  $("walk-frame").hidden = false;
  $("walk-play").disabled = false;
  $("walk-play").textContent = "pause";
  $("walk-gif").disabled = false;
  $("walk-download").hidden = true;
  showFrame();
  walk.timer = setInterval(showFrame, 1000 / fps());
}

function showFrame() {
  const walk = state.walk;
  if (!walk.frames.length) return;
  const frame = $("walk-frame");
  frame.src = walk.frames[walk.index].url;
  frame.dataset.index = String(walk.index);
  $("walk-status").textContent = `frame ${walk.index + 1} of ${walk.frames.length} · seeds ${walk.seeds.join(" → ")} · ${fps()} fps`;
  walk.index = (walk.index + 1) % walk.frames.length;
}

function togglePlay() {
  const walk = state.walk;
  walk.playing = !walk.playing;
  clearInterval(walk.timer);
  if (walk.playing) walk.timer = setInterval(showFrame, 1000 / fps());
  $("walk-play").textContent = walk.playing ? "pause" : "play";
}

// One frame's pixels as RGBA, scaled up by `scale`, over `background` unless transparent.
function frameRgba(images, scale, background) {
  const height = images.length;
  const width = images[0].length;
  const channels = images[0][0].length;
  const out = new Uint8ClampedArray(width * scale * height * scale * 4);
  const check = Math.max(4, 8 * Math.round(scale / 2));
  for (let y = 0; y < height * scale; y++) {
    for (let x = 0; x < width * scale; x++) {
      const px = images[Math.floor(y / scale)][Math.floor(x / scale)];
      let [r, g, b, a] = channels >= 3 ? [px[0], px[1], px[2], channels === 4 ? px[3] : 255] : [px[0], px[0], px[0], 255];
      if (background !== "transparent" && a < 255) {
        const under = background === "checkerboard"
          ? ((Math.floor(x / check) + Math.floor(y / check)) % 2 ? [204, 204, 204] : [255, 255, 255])
          : [1, 3, 5].map((i) => parseInt(background.slice(i, i + 2), 16));
        [r, g, b] = [r, g, b].map((v, i) => Math.round((v * a + under[i] * (255 - a)) / 255));
        a = 255;
      }
      const o = (y * width * scale + x) * 4;
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
      out[o + 3] = a;
    }
  }
  return { rgba: out, width: width * scale, height: height * scale, channels };
}

function makeGif() {
  const walk = state.walk;
  if (!walk.frames.length) return;
  const first = walk.frames[0].images;
  const scale = Math.max(1, Math.ceil(GIF_MIN_SIDE / Math.max(first.length, first[0].length)));
  const background = $("gif-background").value;
  const frames = walk.frames.map((f) => frameRgba(f.images, scale, background));
  const { width, height, channels } = frames[0];
  const transparent = channels === 4 && background === "transparent";
  const bytes = encodeGif(frames, width, height, { delayCs: Math.max(2, Math.round(100 / fps())), transparent });
  const link = $("walk-download");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([bytes], { type: "image/gif" }));
  link.download = `${state.api.model}-v${state.version}-walk-${walk.seeds.join("-")}.gif`;
  link.textContent = `download GIF (${(bytes.length / 1024).toFixed(0)} KB)`;
  link.hidden = false;
  link.dataset.frames = String(frames.length);
}

// --- the evaluation report --------------------------------------------------------------

async function renderReport() {
  const box = $("report");
  $("report-version").textContent = state.version;
  if (!state.reports) {
    box.innerHTML = '<p class="note">Start the server with <code>--home DIR</code> (the artgan home that pushed it) to see each version\'s evaluation and lineage.</p>';
    return;
  }
  let summary;
  try {
    summary = await versionFile(state.api.model, state.version, "summary.json");
  } catch (error) {
    box.replaceChildren(paragraph(`The evaluation could not be read: ${error.message}`, "note"));
    return;
  }
  if (!summary) {
    box.replaceChildren(paragraph(`No evaluation of version ${state.version} in this artgan home.`, "note"));
    return;
  }
  box.replaceChildren(...summaryParts(summary));
}

function paragraph(text, className) {
  const p = document.createElement("p");
  p.textContent = text;
  if (className) p.className = className;
  return p;
}

function number(value) {
  return typeof value === "number" && !Number.isInteger(value) ? value.toPrecision(4) : String(value);
}

function table(headers, rows, className) {
  const t = document.createElement("table");
  if (className) t.className = className;
  const head = t.createTHead().insertRow();
  for (const h of headers) head.append(Object.assign(document.createElement("th"), { textContent: h }));
  const body = t.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const cell of row) {
      const td = tr.insertCell();
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell;
    }
  }
  return t;
}

function summaryParts(summary) {
  const parts = [];
  const facts = [];
  if (summary.pushed_at) facts.push(`pushed ${summary.pushed_at}`);
  if (summary.blessed !== undefined) facts.push(summary.blessed ? "blessed ✓" : "not blessed ✗");
  if (summary.feature_network) facts.push(`features: ${summary.feature_network}`);
  if (summary.model_artifact_id !== undefined) facts.push(`model artifact #${summary.model_artifact_id}`);
  if (facts.length) parts.push(paragraph(facts.join(" · "), "facts"));
  if (summary.has_report) {
    const link = document.createElement("a");
    link.href = versionFileUrl(state.api.model, state.version, "evaluation.html");
    link.target = "_blank";
    link.rel = "noopener";
    link.id = "report-link";
    link.textContent = "open the evaluation report ↗";
    const p = document.createElement("p");
    p.append(link);
    parts.push(p);
  }
  const metrics = Object.entries(summary.metrics || {});
  if (metrics.length) {
    parts.push(heading("Metrics"), table(["metric", "value"], metrics.map(([k, v]) => [k, number(v)]), "metrics"));
  }
  const gates = summary.gates || [];
  if (gates.length) {
    const rows = gates.map((g) => {
      const verdict = document.createElement("span");
      verdict.className = g.passed ? "pass" : "fail";
      verdict.textContent = g.passed ? "pass" : "fail";
      return [g.name, number(g.value), number(g.limit), verdict];
    });
    parts.push(heading("Gates"), table(["gate", "value", "limit", ""], rows, "gates"));
  }
  const training = Object.entries(summary.training || {});
  if (training.length) {
    parts.push(heading("Training"), table(["setting", "value"], training.map(([k, v]) => [k, number(v)]), "training"));
  }
  const lineage = summary.lineage || [];
  if (lineage.length) {
    const list = document.createElement("ol");
    list.className = "lineage";
    for (const item of lineage) {
      const li = document.createElement("li");
      const type = Object.assign(document.createElement("b"), { textContent: item.type || "artifact" });
      li.append(type, ` #${item.id ?? "?"}`);
      if (item.summary) li.append(` · ${item.summary}`);
      if (item.uri) li.append(Object.assign(document.createElement("div"), { className: "uri", textContent: item.uri }));
      list.append(li);
    }
    parts.push(heading("Lineage"), list);
  }
  if (!parts.length) parts.push(paragraph("The evaluation record is empty.", "note"));
  return parts;
}

function heading(text) {
  return Object.assign(document.createElement("h3"), { textContent: text });
}

// --- start ------------------------------------------------------------------------------

function wire() {
  const redraw = () => renderGrid();
  $("prev").addEventListener("click", () => {
    $("start").value = Math.max(0, Number($("start").value) - Number($("page-size").value));
    redraw();
  });
  $("next").addEventListener("click", () => {
    $("start").value = Math.min(MAX_SEED, Number($("start").value) + Number($("page-size").value));
    redraw();
  });
  $("random").addEventListener("click", () => {
    $("start").value = Math.floor(Math.random() * MAX_SEED);
    redraw();
  });
  for (const id of ["start", "page-size", "class-select", "class-number"]) $(id).addEventListener("change", redraw);
  $("psi").addEventListener("input", () => ($("psi-value").textContent = Number($("psi").value).toFixed(2)));
  $("psi").addEventListener("change", redraw);
  $("zoom").addEventListener("change", () => document.documentElement.style.setProperty("--tile", `${$("zoom").value}px`));
  $("version").addEventListener("change", () => {
    const value = $("version").value;
    if (value === "label") return;
    state.choice = value === "latest" ? { kind: "latest" } : { kind: "version", value: Number(value) };
    loadVersion();
  });
  $("label-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const label = $("label").value.trim();
    state.choice = label ? { kind: "label", value: label } : { kind: "latest" };
    loadVersion();
  });
  $("model").addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("model", $("model").value);
    location.href = url.href;
  });
  $("walk-form").addEventListener("submit", runWalk);
  $("walk-play").addEventListener("click", togglePlay);
  $("walk-fps").addEventListener("change", () => state.walk.playing && state.walk.frames.length && startAnimation());
  $("walk-gif").addEventListener("click", makeGif);
}

async function start() {
  const params = new URLSearchParams(location.search);
  const config = (await galleryConfig()) || { api: "", model: "", models: [], generator_info: false, reports: false };
  const api = params.get("api") ?? config.api;
  const model = params.get("model") || config.model || "artgan";
  // The gallery server's own files describe its API's models only.
  const sameApi = (api || "").replace(/\/+$/, "") === (config.api || "").replace(/\/+$/, "");
  state.api = new Api(api || "", model);
  state.extras = sameApi && config.generator_info;
  state.reports = sameApi && config.reports;
  if (sameApi && config.models && config.models.length > 1) {
    $("model-choice").hidden = false;
    for (const name of config.models) $("model").add(new Option(name, name));
    $("model").value = model;
  }
  if (params.get("version")) state.choice = { kind: "version", value: Number(params.get("version")) };
  if (params.get("label")) state.choice = { kind: "label", value: params.get("label") };
  if (params.get("seed")) $("start").value = params.get("seed");
  document.documentElement.style.setProperty("--tile", `${$("zoom").value}px`);
  wire();
  $("served").textContent = `model ${model} at ${state.api.where}`;
  clearMessage();
  await refreshVersions();
  setInterval(refreshVersions, POLL_MS);
}

start().catch((error) => showMessage(`The gallery could not start: ${readable(error)}`));
