// The live page: send an image (or a sound, for an audio model), draw every layer's
// activation maps, repeat for the webcam. What the page offers (sources, the file types
// its picker takes, whether row 0 is drawn at the bottom) comes from /api/live/layers.
"use strict";
const state = { shape: [3, 64, 64], layers: [], selected: null, view: "maps", busy: false,
                frames: 0, camTimes: [], mode: "photo", lastBlob: null,
                info: { kind: "image" } };
const $ = (id) => document.getElementById(id);
// the path the server serves this model at ("" alone, "/models/NAME" beside other models)
const BASE = document.documentElement.dataset.base || "";
const SOURCES = { photo: "bundled photo", webcam: "webcam", upload: "upload",
                  microphone: "microphone" };

async function init() {
  const info = await (await fetch(BASE + "/api/live/layers")).json();
  if (!info.layers.length) {  // nothing to probe live: the reason alone, no pickers
    for (const el of $("source").children) if (el.id !== "status") el.hidden = true;
    $("intro").hidden = true;
    $("status").textContent = info.message; return;
  }
  state.shape = info.shape; state.info = info;
  const view = $("input-view");
  view.width = state.shape[2]; view.height = state.shape[1];
  for (const name of info.photos) {
    const o = document.createElement("option"); o.value = o.textContent = name;
    $("photo").appendChild(o);
  }
  if (info.sources) {  // the sources this kind of input has
    $("mode").replaceChildren(...info.sources.map((s) => new Option(SOURCES[s] || s, s)));
    $("file").accept = info.accept;
  }
  if (info.kind === "audio") {
    const secs = info.record_seconds;
    $("record").textContent = "record " + secs + " s from the microphone";
    $("intro").textContent = "Each main layer's response to a sound: the model hears " +
      secs + " s at " + info.sample_rate / 1000 + " kHz as a spectrogram (time to the " +
      "right, low frequencies at the bottom, as in every map below; gray is zero, white " +
      "high, black low). A longer clip is cut to its loudest " + secs + " s. Upload any " +
      "sound the browser can play, or record one. Click a channel to see its atlas page.";
    $("photo").hidden = true; $("top").title = "the model's top classes for this sound";
  }
  $("mode").onchange = () => setMode($("mode").value);
  $("photo").onchange = () => showPhoto();
  $("file").onchange = () => showFile();
  $("record").onclick = () => record();
  for (const r of document.querySelectorAll("input[name=view]")) {
    r.onchange = () => { state.view = r.value; refreshProjection(); };
  }
  const wanted = new URLSearchParams(location.search).get("source");
  const modes = [...$("mode").options].map((o) => o.value);
  $("mode").value = modes.includes(wanted) ? wanted : modes[0];
  setMode($("mode").value);
}

function setMode(mode) {
  state.mode = mode;
  $("fps-box").hidden = mode !== "webcam";  // a rate only means something for the camera
  if (state.info.kind === "audio") {
    $("file").hidden = mode !== "upload"; $("record").hidden = mode !== "microphone";
  }
  if (mode === "webcam") startWebcam(); else if (mode === "upload") showFile();
  else if (mode === "photo") showPhoto();
}

async function startWebcam() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    const video = $("video"); video.srcObject = stream; video.hidden = false;
    await video.play();
    state.camTimes = []; $("fps").textContent = "-";
    loop();
  } catch (err) { $("status").textContent = "no webcam: " + err; }
}

function loop() {
  if (state.mode !== "webcam") return;
  const video = $("video"), view = $("input-view"), ctx = view.getContext("2d");
  const side = Math.min(video.videoWidth, video.videoHeight) || 1;
  ctx.drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side,
                side, 0, 0, view.width, view.height);
  view.toBlob(async (blob) => {
    try { await send(blob); } catch (err) { $("status").textContent = String(err); }
    finally { requestAnimationFrame(loop); }  // an error must not stop the camera
  }, "image/png");
}

async function showPhoto() {
  const url = BASE + "/api/photo/" + encodeURIComponent($("photo").value);
  const blob = await (await fetch(url)).blob();
  await drawBlob(blob);
}

async function showFile() {
  const f = $("file").files[0];
  if (f && state.info.kind === "audio") await sendSound(f);
  else if (f) await drawBlob(f);
}

async function drawBlob(blob) {
  let bitmap;
  try { bitmap = await createImageBitmap(blob); } catch (err) {
    // not an image this browser reads: the server says what it is (and the page clears)
    await send(blob, blob.type || "application/octet-stream");
    return;
  }
  const view = $("input-view"), ctx = view.getContext("2d");
  const side = Math.min(bitmap.width, bitmap.height);
  ctx.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side,
                0, 0, view.width, view.height);
  view.toBlob((b) => send(b), "image/png");
}

async function send(blob, type = "image/png") {  // true when the model took the input
  const res = await fetch(BASE + "/api/live", { method: "POST", body: blob,
                                         headers: { "Content-Type": type } });
  if (!res.ok) {
    const why = await errorText(res);
    clearResults();  // nothing of the input before stays beside the refused one
    $("status").textContent = why;
    return false;
  }
  $("status").textContent = "";
  const data = await res.json();
  state.lastBlob = blob; state.lastType = type;
  state.last = data.layers;
  if (data.input) showInput(data.input);
  draw(data.layers);
  $("top").textContent = (data.top || []).map((t) => t.name + " " + t.p.toFixed(2)).join(" · ");
  state.frames += 1;
  const f = $("frames"); f.textContent = state.frames; f.dataset.count = state.frames;
  if (state.mode === "webcam") {  // frames per second over the camera's last frames
    const times = state.camTimes; times.push(performance.now());
    if (times.length > 30) times.shift();
    if (times.length > 1) {
      $("fps").textContent = ((times.length - 1) * 1000 / (times.at(-1) - times[0])).toFixed(1);
    }
  }
  return true;
}

function clearResults() {  // an input refused: its file name stays, nothing else of before
  state.last = null; state.lastBlob = null;
  const view = $("input-view");
  view.getContext("2d").clearRect(0, 0, view.width, view.height);
  delete view.dataset.drawn;
  $("layers-live").replaceChildren();
  $("top").textContent = "";
  const proj = document.getElementById("projection");
  if (proj) { proj.hidden = true; proj.removeAttribute("src"); }
  if (typeof clearSound === "function") clearSound();
}

async function errorText(res) {
  try { return (await res.json()).detail; } catch (err) { return res.status + " " + res.statusText; }
}

function draw(layers) {
  // one canvas pixel per activation; CSS scales the canvas up (pixelated), which is far
  // cheaper than writing every enlarged pixel from JavaScript
  const box = $("layers-live");
  for (const layer of layers) {
    let canvas = document.getElementById("layer-" + layer.name);
    const cols = Math.ceil(Math.sqrt(layer.c)), rows = Math.ceil(layer.c / cols);
    const tw = layer.w + 1, th = layer.h + 1;
    const base = layer.h * layer.w === 1 ? 10 : Math.max(1, Math.floor(48 / Math.max(layer.h, layer.w)));
    const tile = Math.max(1, Math.min(base, Math.floor(900 / (cols * tw))));  // <= 900 px wide
    if (!canvas) {
      const div = document.createElement("div"); div.className = "live-layer";
      const title = document.createElement("h3");
      title.textContent = layer.name + " (" + layer.c + ")";
      div.appendChild(title);
      canvas = document.createElement("canvas"); canvas.id = "layer-" + layer.name;
      canvas.width = cols * tw; canvas.height = rows * th;
      canvas.style.width = canvas.width * tile + "px";
      canvas.style.height = canvas.height * tile + "px";
      canvas.dataset.layer = layer.name;
      canvas.onclick = (e) => pick(layer, e, cols, tw, th);
      div.appendChild(canvas); box.appendChild(div);
    }
    const ctx = canvas.getContext("2d");
    const bin = atob(layer.data);
    const img = ctx.createImageData(canvas.width, canvas.height);
    const px = img.data;
    px.fill(255);
    const plane = layer.h * layer.w;
    for (let c = 0; c < layer.c; c++) {
      const x0 = (c % cols) * tw, y0 = Math.floor(c / cols) * th;
      for (let y = 0; y < layer.h; y++) {
        const row = state.info.flip_rows ? layer.h - 1 - y : y;  // row 0 at the bottom
        let i = ((y0 + y) * canvas.width + x0) * 4, k = c * plane + row * layer.w;
        for (let x = 0; x < layer.w; x++, i += 4, k++) {
          const v = bin.charCodeAt(k);
          px[i] = px[i + 1] = px[i + 2] = v;
        }
      }
    }
    ctx.putImageData(img, 0, 0);
    const sel = state.selected;
    if (sel && sel.layer === layer.name) {
      ctx.strokeStyle = "#f0b000"; ctx.lineWidth = 1;
      ctx.strokeRect((sel.unit % cols) * tw + 0.5, Math.floor(sel.unit / cols) * th + 0.5,
                     tw - 1, th - 1);
    }
  }
}

async function pick(layer, event, cols, tw, th) {
  const r = event.target.getBoundingClientRect();
  const sx = event.target.width / r.width, sy = event.target.height / r.height;
  const col = Math.floor((event.clientX - r.left) * sx / tw);
  const row = Math.floor((event.clientY - r.top) * sy / th);
  const unit = row * cols + col;
  if (unit >= layer.c) return;
  state.selected = { layer: layer.name, unit: unit };
  if (state.last) draw(state.last);  // the outline shows at once, also for a still photo
  const res = await fetch(BASE + "/api/unit/" + encodeURIComponent(layer.name) + "/" + unit);
  const info = res.ok ? await res.json() : { url: "#" };
  $("panel").style.display = "block";
  $("panel-title").textContent = layer.name + ":" + unit;
  $("panel-link").href = info.url;
  const box = $("panel-images");
  box.replaceChildren();
  for (const [src, alt, cls] of [[info.featvis, "feature visualization", "square"],
                                 [info.top, "top dataset examples", "strip"]]) {
    if (!src) continue;
    const img = document.createElement("img"); img.src = src; img.alt = alt; img.className = cls;
    box.appendChild(img);
  }
  const proj = document.createElement("img");
  proj.id = "projection"; proj.alt = "projection"; proj.className = "square"; proj.hidden = true;
  box.appendChild(proj);
  $("panel").scrollIntoView({ block: "nearest" });
  refreshProjection();
}

async function refreshProjection() {
  const img = document.getElementById("projection");
  if (!img) return;
  if (state.view === "maps" || !state.selected || !state.lastBlob) { img.hidden = true; return; }
  const s = state.selected;
  const url = BASE + "/api/project/" + encodeURIComponent(s.layer) + "/" + s.unit;
  const res = await fetch(url + "?method=" + state.view,
                          { method: "POST", body: state.lastBlob,
                            headers: { "Content-Type": state.lastType } });
  if (!res.ok) { $("status").textContent = await errorText(res); return; }
  img.src = URL.createObjectURL(await res.blob()); img.hidden = false;
}

init();
