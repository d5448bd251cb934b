// SPDX-License-Identifier: Apache-2.0
// The p2phd editor page: no build step, no external files. The maps live on the server; every
// edit is one small request, then the page fetches the new render and label colours (one
// request, raw RGBA). The object panel is in objects.js.
// The page writes its state into <body data-*> (render-state, strip-state, version,
// latency-ms) so that tests can wait on it.
"use strict";

const $ = (id) => document.getElementById(id);
const body = document.body;
const state = {
  model: null,
  session: null,
  label: 26,
  selected: null, // ObjectInfo of the selected object
  refreshes: 0, // refresh generations: only the newest one may mark the page idle
  strips: 0, // style strip generations: only the newest one may fill tiles
};

async function api(method, path, payload) {
  const options = { method, headers: {} };
  if (payload instanceof FormData) {
    options.body = payload;
  } else if (payload !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(payload);
  }
  const response = await fetch(path, options);
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const parsed = await response.json();
      detail = typeof parsed.detail === "string" ? parsed.detail : JSON.stringify(parsed.detail);
    } catch (_) { /* not JSON: keep the status text */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

function sessionPath(suffix) {
  return `/api/sessions/${state.session.id}${suffix}`;
}

function showMessage(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
}

// ---- session state --------------------------------------------------------------------
async function startSession() {
  const saved = sessionStorage.getItem("p2phd-session");
  if (saved) {
    try {
      state.session = await (await api("GET", `/api/sessions/${saved}`)).json();
    } catch (_) {
      state.session = null; // evicted or from another server: start afresh
    }
  }
  if (!state.session) {
    state.session = await (await api("POST", "/api/sessions", { seed: 0 })).json();
  }
  await adopt(state.session, performance.now());
}

// Takes a session answer (after any change) and brings the page's controls up to date.
function adoptSession(session) {
  state.session = session;
  sessionStorage.setItem("p2phd-session", session.id);
  body.dataset.session = session.id;
  body.dataset.version = session.version;
  $("undo").disabled = session.undo === 0;
  $("redo").disabled = session.redo === 0;
  $("scene-seed").value = session.seed;
  const v = `?v=${session.version}`;
  $("download-render").href = sessionPath(`/render.png${v}`);
  $("download-labels").href = sessionPath(`/labels.png${v}`);
  $("download-instances").href = sessionPath(`/instances.png${v}`);
}

// adoptSession, then the new state's images.
async function adopt(session, startedAt) {
  adoptSession(session);
  await refresh(startedAt);
  if (state.selected) await select(state.selected.instance, false);
}

// A frame answer (GET .../frame, POST .../edits/frame): the render and the label colours of
// one state as raw RGBA bytes, nothing to decode, and one request where two PNGs took two.
async function readFrame(response) {
  const height = Number(response.headers.get("X-Height"));
  const width = Number(response.headers.get("X-Width"));
  const bytes = new Uint8ClampedArray(await response.arrayBuffer());
  const size = height * width * 4;
  return {
    render: new ImageData(bytes.subarray(0, size), width, height),
    colors: new ImageData(bytes.subarray(size, 2 * size), width, height),
    serverMs: response.headers.get("X-Render-Ms"),
    runtimeMs: response.headers.get("X-Runtime-Ms"),
  };
}

function drawImage(canvas, image) {
  if (canvas.width !== image.width || canvas.height !== image.height) {
    canvas.width = image.width;
    canvas.height = image.height;
  }
  canvas.getContext("2d").putImageData(image, 0, 0);
}

// Draws a frame; `startedAt` (performance.now() at the end of the edit) gives the latency shown.
function showFrame({ render, colors, serverMs, runtimeMs }, startedAt) {
  drawImage($("render"), render);
  drawImage($("labels"), colors);
  drawImage($("render-labels"), colors);
  const overlay = $("labels-overlay");
  overlay.width = colors.width;
  overlay.height = colors.height;
  drawSelection();
  const latency = performance.now() - startedAt;
  body.dataset.latencyMs = latency.toFixed(1);
  body.dataset.serverMs = serverMs;
  body.dataset.runtimeMs = runtimeMs;
  $("latency").textContent =
    `last edit → image on screen: ${latency.toFixed(0)} ms ` +
    `(server: ${Number(serverMs).toFixed(0)} ms, of which Runtime.render ` +
    `${Number(runtimeMs).toFixed(0)} ms)`;
}

// Runs `request` (resolving to a frame answer, or null) as the newest refresh generation:
// only the newest may draw and mark the page idle.
async function whileBusy(request) {
  const generation = ++state.refreshes;
  body.dataset.renderState = "busy";
  try {
    await request(() => generation === state.refreshes);
  } catch (error) {
    showMessage(error.message, true);
  } finally {
    if (generation === state.refreshes) body.dataset.renderState = "idle";
  }
}

// Fetches the frame of the current version and draws it.
async function refresh(startedAt) {
  await whileBusy(async (newest) => {
    const response = await api("GET", sessionPath(`/frame?v=${state.session.version}`));
    const frame = await readFrame(response);
    if (newest()) showFrame(frame, startedAt); // else a newer change is on its way
  });
}

// Runs one state-changing request and adopts its answer; errors go to the status line.
async function change(method, suffix, payload) {
  try {
    const response = await api(method, sessionPath(suffix), payload);
    const startedAt = performance.now();
    showMessage("");
    await adopt(await response.json(), startedAt);
  } catch (error) {
    showMessage(error.message, true);
  }
}

// One edit, answered with the new state's frame: one round trip from a stroke to pixels.
async function edit(payload, startedAt) {
  await whileBusy(async (newest) => {
    const response = await api("POST", sessionPath("/edits/frame"), payload);
    const session = JSON.parse(response.headers.get("X-Session"));
    const frame = await readFrame(response);
    showMessage("");
    if (!newest()) return;
    adoptSession(session);
    showFrame(frame, startedAt);
    if (state.selected) await select(state.selected.instance, false);
  });
}

// ---- palette and tools ------------------------------------------------------------------
function buildPalette(model) {
  const palette = $("palette");
  for (const select of [$("eraser-class"), $("object-class")]) select.innerHTML = "";
  palette.innerHTML = "";
  for (const cls of model.classes) {
    const item = document.createElement("li");
    item.dataset.label = cls.id;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = `rgb(${cls.color.join(",")})`;
    item.append(swatch, `${cls.id} ${cls.name}`);
    item.addEventListener("click", () => setLabel(cls.id));
    palette.append(item);
    for (const select of [$("eraser-class"), $("object-class")]) {
      select.add(new Option(`${cls.id} ${cls.name}`, cls.id));
    }
  }
  $("eraser-class").value = model.label_nc > 7 ? 7 : 0; // road for Cityscapes
  setLabel(model.label_nc > 26 ? 26 : 0);
}

function setLabel(label) {
  state.label = label;
  for (const item of $("palette").children) {
    item.classList.toggle("current", Number(item.dataset.label) === label);
  }
  $("current-class-name").textContent = state.model.classes[label].name;
}

function tool() {
  return document.querySelector('input[name="tool"]:checked').value;
}

function setTool(name) {
  document.querySelector(`input[name="tool"][value="${name}"]`).checked = true;
}

// Map coordinates (pixels of the label map) of a pointer event on the overlay canvas.
function mapPoint(event) {
  const canvas = $("labels-overlay");
  const rect = canvas.getBoundingClientRect();
  return [
    ((event.clientX - rect.left) * canvas.width) / rect.width,
    ((event.clientY - rect.top) * canvas.height) / rect.height,
  ];
}

function brushRadius() {
  return Number($("brush-size").value) / 2;
}

// ---- painting on the label canvas -------------------------------------------------------
let stroke = null; // {points, label} while painting
let drag = null; // {start, end, instance} while the button is down with the select tool

function previewStroke() {
  const context = $("labels-overlay").getContext("2d");
  const points = stroke.points;
  context.strokeStyle = context.fillStyle = `rgb(${state.model.classes[stroke.label].color.join(",")})`;
  context.lineWidth = brushRadius() * 2;
  context.lineCap = context.lineJoin = "round";
  context.beginPath();
  const [x0, y0] = points[Math.max(0, points.length - 2)];
  const [x1, y1] = points[points.length - 1];
  context.moveTo(x0, y0);
  context.lineTo(x1, y1);
  context.stroke();
}

function onPointerDown(event) {
  if (!state.session) return;
  const point = mapPoint(event);
  const current = tool();
  $("labels-overlay").setPointerCapture(event.pointerId);
  if (current === "brush" || current === "eraser") {
    const label = current === "eraser" ? Number($("eraser-class").value) : state.label;
    stroke = { points: [point], label };
    previewStroke();
  } else if (current === "fill") {
    const [x, y] = point.map(Math.floor);
    edit({ op: "fill", x, y, label: state.label }, performance.now());
  } else if (current === "pick") {
    objectAt(point).then((info) => info && setLabel(info.label));
  } else if (current === "select") {
    const pressed = { start: point, end: null, instance: null };
    drag = pressed;
    objectAt(point).then((info) => {
      if (!info) return;
      select(info.instance, true);
      pressed.instance = info.instance;
      if (pressed.end) finishDrag(pressed); // released before the server answered
    });
  }
}

function onPointerMove(event) {
  if (stroke) {
    stroke.points.push(mapPoint(event));
    previewStroke();
  }
}

function onPointerUp(event) {
  if (stroke) {
    const startedAt = performance.now();
    const payload = {
      op: "stroke",
      points: stroke.points.map(([x, y]) => [Number(x.toFixed(2)), Number(y.toFixed(2))]),
      radius: brushRadius(),
      label: stroke.label,
    };
    stroke = null;
    edit(payload, startedAt);
  } else if (drag) {
    drag.end = mapPoint(event);
    if (drag.instance !== null) finishDrag(drag);
    drag = null;
  }
}

// A drag with the select tool moves (or copies) the object by the distance dragged.
function finishDrag(pressed) {
  const dx = Math.round(pressed.end[0] - pressed.start[0]);
  const dy = Math.round(pressed.end[1] - pressed.start[1]);
  if (dx || dy) moveObject(pressed.instance, dx, dy, $("drag-copies").checked);
}

async function objectAt([x, y]) {
  try {
    const path = sessionPath(`/objects/at?x=${Math.floor(x)}&y=${Math.floor(y)}`);
    return await (await api("GET", path)).json();
  } catch (error) {
    showMessage(error.message, true);
    return null;
  }
}

// ---- wiring -------------------------------------------------------------------------------
function wire() {
  const overlay = $("labels-overlay");
  overlay.addEventListener("pointerdown", onPointerDown);
  overlay.addEventListener("pointermove", onPointerMove);
  overlay.addEventListener("pointerup", onPointerUp);
  $("brush-size").addEventListener("input", () => {
    $("brush-size-value").textContent = $("brush-size").value;
  });
  $("opacity").addEventListener("input", () => {
    $("render-labels").style.opacity = Number($("opacity").value) / 100;
  });
  $("undo").addEventListener("click", () => change("POST", "/undo"));
  $("redo").addEventListener("click", () => change("POST", "/redo"));
  $("reset").addEventListener("click", () => change("POST", "/reset"));
  $("new-scene").addEventListener("click", () => {
    deselect();
    change("POST", "/scene", { seed: Number($("scene-seed").value) });
  });
  $("upload").addEventListener("click", () => {
    const labels = $("upload-labels").files[0];
    if (!labels) {
      showMessage("choose a labelIds PNG first", true);
      return;
    }
    const form = new FormData();
    form.append("labels", labels);
    const instances = $("upload-instances").files[0];
    if (instances) form.append("instances", instances);
    deselect();
    change("PUT", "/maps", form);
  });
  $("photo-style-apply").addEventListener("click", async () => {
    const photo = $("photo-style-file").files[0];
    if (!state.selected || !photo) {
      showMessage("choose a photo first", true);
      return;
    }
    const instance = state.selected.instance;
    const form = new FormData();
    form.append("photo", photo);
    await change("PUT", `/objects/${instance}/photo-style`, form);
    await select(instance, false);
  });
  $("object-set-class").addEventListener("click", () => {
    if (!state.selected) return;
    const instance = state.selected.instance;
    deselect();
    edit({ op: "set_class", instance, label: Number($("object-class").value) }, performance.now());
  });
  $("object-delete").addEventListener("click", deleteSelected);
  for (const [id, duplicate] of [["object-move", false], ["object-duplicate", true]]) {
    $(id).addEventListener("click", () => {
      if (!state.selected) return;
      moveObject(state.selected.instance, Number($("move-dx").value), Number($("move-dy").value), duplicate);
    });
  }
  document.addEventListener("keydown", onKey);
}

function onKey(event) {
  const typing = event.target instanceof HTMLInputElement && event.target.type !== "radio";
  if (typing || event.target instanceof HTMLSelectElement) return;
  const key = event.key.toLowerCase();
  const command = event.ctrlKey || event.metaKey;
  if (command && key === "z") {
    event.preventDefault();
    change("POST", event.shiftKey ? "/redo" : "/undo");
  } else if (command && key === "y") {
    event.preventDefault();
    change("POST", "/redo");
  } else if (!command && { b: 1, e: 1, f: 1, i: 1, v: 1 }[key]) {
    setTool({ b: "brush", e: "eraser", f: "fill", i: "pick", v: "select" }[key]);
  } else if (key === "delete" || key === "backspace") {
    deleteSelected();
  } else if (key === "[" || key === "]") {
    const size = $("brush-size");
    size.value = Number(size.value) + (key === "]" ? 2 : -2);
    size.dispatchEvent(new Event("input"));
  }
}

async function main() {
  wire();
  try {
    state.model = await (await api("GET", "/api/model")).json();
    $("model-description").textContent = state.model.description;
    // Only a model with an encoder can take a style from a photo.
    $("photo-style-box").hidden = !state.model.photo_styles;
    buildPalette(state.model);
    await startSession();
  } catch (error) {
    showMessage(error.message, true);
    body.dataset.renderState = "error";
  }
}

main();
