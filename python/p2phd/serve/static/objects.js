// SPDX-License-Identifier: Apache-2.0
// The editor page's object panel: the selected object, its style strip (filled tile by tile),
// moving and deleting it. Loaded before editor.js, whose helpers ($, api, state, edit) it
// uses once the page runs.
"use strict";

function drawSelection() {
  const canvas = $("labels-overlay");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (!state.selected) return;
  const [top, bottom, left, right] = state.selected.box;
  context.strokeStyle = "#ff6d00";
  context.lineWidth = Math.max(1, canvas.width / 400);
  context.setLineDash([4, 3]);
  context.strokeRect(left + 0.5, top + 0.5, right - left - 1, bottom - top - 1);
}

async function select(instance, loadStyles) {
  let info;
  try {
    info = await (await api("GET", sessionPath(`/objects/${instance}`))).json();
  } catch (_) {
    deselect(); // gone (deleted, or undone)
    return;
  }
  const sameObject = state.selected && state.selected.instance === info.instance;
  state.selected = info;
  $("object-panel").hidden = false;
  $("object-title").textContent =
    `${info.instance}: ${info.name}, ${info.area} pixels` +
    // Styles are counted from 1 here and on the tiles; the API's clusters from 0.
    (info.photo_style
      ? ", style from a photo"
      : info.styles
        ? `, style ${info.style + 1} of ${info.styles}`
        : "");
  $("object-class").value = info.label;
  drawSelection();
  if (loadStyles || !sameObject) loadStrip(info); // not awaited: it shows its own progress
  markCurrentStyle();
}

// Drops the selection (the object is gone or has a new id, or the maps are new): the panel
// hides and a style strip on its way stops.
function deselect() {
  state.selected = null;
  stopStrip();
  $("object-panel").hidden = true;
  drawSelection();
}

function stopStrip() {
  state.strips++;
  $("strip-progress").textContent = "";
  body.dataset.stripState = "none";
}

// The strip asks for its tiles one at a time, in order: each is one Runtime call of one map,
// which on a CPU costs what one call of all the maps does (it renders them map by map), and
// the page can say how far it is and show each tile as it comes. A newer strip, or none
// (another object, or no object), stops it between two tiles and drops what is on its way.
async function loadStrip(info) {
  stopStrip();
  const generation = state.strips;
  const strip = $("style-strip");
  const progress = $("strip-progress");
  const count = info.styles;
  strip.innerHTML = "";
  strip.dataset.instance = info.instance;
  $("styles-box").hidden = count === 0;
  if (count === 0) return;
  body.dataset.stripState = "loading";
  const tiles = [];
  for (let index = 0; index < count; index++) {
    const tile = document.createElement("canvas");
    tile.className = "pending";
    tile.dataset.cluster = index;
    tile.title = `style ${index + 1}`;
    tiles.push(tile);
  }
  strip.append(...tiles);
  for (let index = 0; index < count; index++) {
    progress.textContent = `rendering style ${index + 1} of ${count}…`;
    let bitmap;
    try {
      const path = sessionPath(`/objects/${info.instance}/styles/${index}.png`);
      bitmap = await createImageBitmap(await (await api("GET", path)).blob());
    } catch (error) {
      if (generation !== state.strips) return; // stopped: its answer no longer matters
      progress.textContent = `style ${index + 1} of ${count} failed`;
      showMessage(error.message, true);
      body.dataset.stripState = "error";
      return;
    }
    if (generation !== state.strips) return;
    fillTile(tiles, index, bitmap, info.instance);
  }
  progress.textContent = "";
  body.dataset.stripState = "ready";
}

function fillTile(tiles, index, bitmap, instance) {
  if (index === 0) {
    for (const tile of tiles) {
      tile.width = bitmap.width; // the tiles still to come take the first one's size
      tile.height = bitmap.height;
    }
  }
  const tile = tiles[index];
  tile.getContext("2d").drawImage(bitmap, 0, 0);
  tile.classList.remove("pending");
  tile.addEventListener("click", () =>
    edit({ op: "style", instance, cluster: index }, performance.now()),
  );
}

function markCurrentStyle() {
  for (const tile of $("style-strip").children) {
    tile.classList.toggle("current", state.selected && Number(tile.dataset.cluster) === state.selected.style);
  }
}

// The moved (or copied) object has a new id: the selection goes.
function moveObject(instance, dx, dy, duplicate) {
  deselect();
  edit({ op: "move", instance, dx, dy, duplicate }, performance.now());
}

function deleteSelected() {
  if (!state.selected) return;
  const instance = state.selected.instance;
  deselect();
  edit({ op: "delete", instance }, performance.now());
}
